"""The `local` provider: the built-in Pillow preview renderer (`local_render`), the embedded
default, so a fresh install works with no AI service configured.

It speaks the same protocol as the remote adapters. The render itself takes a few tens of
milliseconds, so `submit_*` renders at once and keeps the results in image storage under
`_local/<task id>/` (shared by every worker, like any upstream's output store); `poll` then
reports the task done. Outside null-latency mode it reports RUNNING for
`PREVIEW_LATENCY_SECONDS` first, so the UI's progress path is exercised as with a real
provider; `null_latency: true` in the provider config (benchmarks, tests) makes the first poll
succeed immediately. Leftover `_local/` files are safe to sweep after a day.

A portrait's figure is remembered as an `Identity` (`local:<gender>:<body type>:<seed>`), so a
later try-on for the same catalog model dresses exactly that figure; with no such identity the
garment is fitted onto the person photo it is given.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

from ulid import ULID

from shopify_app.images.errors import ImageIntakeError
from shopify_app.images.storage import InvalidKey, Storage, get_storage
from shopify_app.models.enums import ProviderTaskStatus
from shopify_app.providers import local_render
from shopify_app.providers.base import (
    Capability,
    ContentError,
    GenerationOptions,
    Identity,
    ImageInput,
    ModelSpec,
    Operation,
    OutputImage,
    PollResult,
    Submitted,
    TaskState,
    TechnicalError,
)
from shopify_app.providers.config import LocalConfig
from shopify_app.settings import Settings

PREVIEW_LATENCY_SECONDS = 1.5
MAX_IMAGES = 4
IDENTITY_PREFIX = "local:"


class LocalProvider:
    type = "local"
    capabilities = frozenset({Capability.MODEL_GENERATION, Capability.TRY_ON, Capability.CANCEL})

    def __init__(
        self,
        config: LocalConfig | None,
        settings: Settings,
        http: Any = None,
        *,
        storage: Storage | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config or LocalConfig()
        self.settings = settings
        self.storage = storage or get_storage(settings)
        self.clock = clock

    # ------------------------------------------------------------------------- submit

    def submit_model_generation(self, spec: ModelSpec, options: GenerationOptions) -> Submitted:
        size = local_render.output_size(
            options.width, options.height, options.aspect_ratio or spec.aspect_ratio, spec.resolution
        )
        seed = _seed(options.seed if options.seed is not None else spec.seed, spec)
        figure = local_render.PortraitSpec(spec.gender, spec.body_type, spec.ethnicity, spec.age_range)
        images = [local_render.render_portrait(size, figure, seed + i) for i in range(_count(options))]
        identity = Identity(provider_model_id=f"{IDENTITY_PREFIX}{spec.gender.upper()}:{figure.body_type}:{seed}")
        return self._submitted(Operation.MODEL_GENERATION, images, options, size, seed, identity)

    def submit_try_on(self, person_image: ImageInput, garment_image: ImageInput, options: GenerationOptions) -> Submitted:
        size = local_render.output_size(options.width, options.height, options.aspect_ratio)
        figure = _figure_from(options.identity)
        # A known figure keeps its own seed (its pose) for the first image; each further image is
        # the next seed: another shot of the same figure, not a duplicate of the first.
        seed = figure[1] if figure else _seed(options.seed if options.seed is not None else 0, None)
        garment = self._bytes(garment_image, "garment")
        person = None if figure else self._bytes(person_image, "model")
        try:
            lifted = local_render.lift_garment(garment)  # once, for every image
            images = [
                local_render.try_on(size, lifted, seed + i, options.category,
                                    figure[0] if figure else None, person)
                for i in range(_count(options))
            ]
        except local_render.GarmentError as exc:
            raise ContentError(str(exc), code="bad_garment_image", provider=self.type) from None
        return self._submitted(Operation.TRY_ON, images, options, size, seed, None)

    def _submitted(
        self,
        operation: Operation,
        images: list[Any],
        options: GenerationOptions,
        size: tuple[int, int],
        seed: int,
        identity: Identity | None,
    ) -> Submitted:
        upstream_id = f"local-{str(ULID()).lower()}"
        outputs = []
        for i, image in enumerate(images):
            data, content_type = local_render.encode(image, options.output_format)
            key = f"_local/{upstream_id}/{i}.{'jpg' if content_type == 'image/jpeg' else 'png'}"
            self.storage.put(key, data, content_type)
            outputs.append({"key": key, "content_type": content_type, "width": size[0], "height": size[1]})
        latency = 0.0 if self.config.null_latency else PREVIEW_LATENCY_SECONDS
        state: dict[str, Any] = {
            "operation": str(operation),
            "outputs": outputs,
            "ready_at": self.clock() + latency,
            "seed": seed,
        }
        if identity is not None:
            state["identity"] = identity.to_dict()
        summary = {"renderer": "local preview", "width": size[0], "height": size[1], "seed": seed,
                   "num_images": len(outputs)}
        return Submitted(upstream_id=upstream_id, state=state, status=ProviderTaskStatus.RUNNING,
                         next_poll_in=latency, request_summary=summary)

    def _bytes(self, image: ImageInput, what: str) -> bytes:
        if image.data is not None:
            return image.data
        from shopify_app.images.fetch import fetch_image

        try:
            return fetch_image(str(image.url), self.settings).content
        except ImageIntakeError as exc:
            raise TechnicalError(f"could not download the {what} image: {exc.message}", code=exc.code,
                                 provider=self.type) from None

    # ------------------------------------------------------------------------- poll / outputs

    def poll(self, task: TaskState) -> PollResult:
        state = task.data or {}
        if state.get("canceled"):
            return PollResult(status=ProviderTaskStatus.CANCELED)
        remaining = float(state.get("ready_at", 0)) - self.clock()
        if remaining > 0 and not self.config.null_latency:
            return PollResult(status=ProviderTaskStatus.RUNNING, progress=60, next_poll_in=remaining)
        return PollResult(status=ProviderTaskStatus.SUCCEEDED, progress=100,
                          identity=Identity.from_dict(state.get("identity")))

    def fetch_outputs(self, task: TaskState) -> list[OutputImage]:
        outputs = []
        for item in (task.data or {}).get("outputs", []):
            try:
                data = self.storage.read(str(item["key"]))
            except (OSError, InvalidKey, KeyError):
                raise TechnicalError("the preview render is no longer available", code="output_missing",
                                     provider=self.type) from None
            outputs.append(OutputImage(data=data, content_type=item.get("content_type"),
                                       width=item.get("width"), height=item.get("height")))
        if not outputs:
            raise TechnicalError("the preview task has no outputs", code="no_outputs", provider=self.type)
        return outputs

    def cancel(self, task: TaskState) -> None:
        if task.upstream_id.startswith("local-"):
            self.storage.delete_prefix(f"_local/{task.upstream_id}/")


def _count(options: GenerationOptions) -> int:
    return max(1, min(MAX_IMAGES, int(options.num_images or 1)))


def _seed(seed: int | None, spec: ModelSpec | None) -> int:
    """The requested seed, else one derived from the spec: the same spec renders the same."""
    if seed is not None or spec is None:
        return int(seed or 0) & 0x7FFFFFFF
    text = json.dumps([spec.gender, spec.body_type, spec.ethnicity, spec.age_range, spec.display_name])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") & 0x7FFFFFFF


def _figure_from(identity: Identity | None) -> tuple[local_render.PortraitSpec, int] | None:
    """The preview figure a local portrait was rendered with, from its identity."""
    if identity is None or not identity.provider_model_id.startswith(IDENTITY_PREFIX):
        return None
    try:
        gender, rest = identity.provider_model_id[len(IDENTITY_PREFIX):].split(":", 1)
        body_type, seed = rest.rsplit(":", 1)
        return local_render.PortraitSpec(gender=gender, body_type=body_type), int(seed)
    except ValueError:
        return None
