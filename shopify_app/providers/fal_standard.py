"""fal.ai queue API for a configured `fal_app_id` (reference/generation-providers.md).

Submit `POST {queue}/{fal_app_id}` → `request_id` + `status_url`/`response_url`/`cancel_url`;
status `IN_QUEUE | IN_PROGRESS | COMPLETED` (some clients also see `FAILED`, `CANCELED`);
result `GET response_url` → the app's output JSON (`images: [{url, width, height, content_type}]`).
The URLs fal hands back are used only when they point at the configured queue host, because
our key travels with them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from shopify_app.models.enums import ProviderTaskStatus
from shopify_app.providers.base import (
    Capability,
    ContentError,
    GenerationOptions,
    ImageInput,
    ModelSpec,
    OutputImage,
    PollResult,
    ProviderError,
    Submitted,
    TaskState,
    TechnicalError,
)
from shopify_app.providers.config import FalStandardConfig
from shopify_app.providers.http import require
from shopify_app.providers.remote import RemoteProvider, image_reference

STATUS = {
    "IN_QUEUE": ProviderTaskStatus.QUEUED,
    "IN_PROGRESS": ProviderTaskStatus.RUNNING,
    "COMPLETED": ProviderTaskStatus.SUCCEEDED,
    "FAILED": ProviderTaskStatus.FAILED,
    "CANCELED": ProviderTaskStatus.CANCELED,
    "CANCELLED": ProviderTaskStatus.CANCELED,
}

# fal error `type`s that are about the input, not about fal (docs.fal.ai/errors).
CONTENT_ERROR_TYPES = {
    "content_policy_violation": "The image was refused by the provider's content policy.",
    "image_too_large": "An input image is too large for this generation model.",
    "image_too_small": "An input image is too small for this generation model.",
    "image_load_error": "One of the images could not be opened. Try another product photo.",
    "file_download_error": "One of the images could not be downloaded by the provider.",
    "face_detection_error": "No face or person could be found in the model image.",
    "unsupported_image_format": "One of the images is in a format the provider does not accept.",
}


def _fal_error(status: int, body: Any, text: str) -> ProviderError | None:
    """fal's `{"detail": [{loc, msg, type}]}` errors: input problems are content errors."""
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        kind = str(detail[0].get("type") or "")
        if kind in CONTENT_ERROR_TYPES:
            return ContentError(CONTENT_ERROR_TYPES[kind], code=kind)
    return None


class FalStandardProvider(RemoteProvider):
    type: ClassVar[str] = "fal_standard"
    capabilities = frozenset({Capability.MODEL_GENERATION, Capability.TRY_ON, Capability.CANCEL})
    auth_header = ("Authorization", "Key ")
    config: FalStandardConfig

    # ------------------------------------------------------------------ submit

    def _submit(self, payload: dict[str, Any], options: GenerationOptions) -> Submitted:
        cfg = self.config
        body = {**(cfg.additional_static_params or {}), **(cfg.additional_properties or {}), **payload}
        if options.seed is not None:
            body.setdefault("seed", options.seed)
        params = {"fal_webhook": options.webhook_url} if options.webhook_url else None
        answer = self.client.request(
            "POST", f"/{cfg.fal_app_id}", json_body=body, params=params, on_error=_fal_error
        )
        request_id = require(answer, "request_id", provider=self.type)
        state = {
            key: answer[key]
            for key in ("status_url", "response_url", "cancel_url")
            if isinstance(answer.get(key), str) and self.client.same_origin(answer[key])
        }
        return self.submitted(request_id, state, cfg.poll_interval_seconds)

    def submit_try_on(
        self, person_image: ImageInput, garment_image: ImageInput, options: GenerationOptions
    ) -> Submitted:
        payload: dict[str, Any] = {
            self.config.person_image_field: image_reference(person_image),
            self.config.garment_image_field: image_reference(garment_image),
        }
        if options.num_images > 1:
            payload["num_samples"] = options.num_images
        return self._submit(payload, options)

    def submit_model_generation(self, spec: ModelSpec, options: GenerationOptions) -> Submitted:
        prompt = options.prompt or (
            f"Professional e-commerce catalog photo of {spec.describe()}, full body, "
            "neutral studio lighting, plain light grey background"
        )
        payload: dict[str, Any] = {self.config.prompt_field: prompt, "num_images": options.num_images}
        if options.width and options.height:
            payload["image_size"] = {"width": options.width, "height": options.height}
        return self._submit(payload, options)

    # ------------------------------------------------------------------ poll / outputs

    def _requests_url(self, task: TaskState, suffix: str = "") -> str:
        # Status and result live under owner/app only, without the app's sub-path.
        owner_app = "/".join(self.config.fal_app_id.split("/")[:2])
        return f"/{owner_app}/requests/{task.upstream_id}{suffix}"

    def poll(self, task: TaskState) -> PollResult:
        url = task.data.get("status_url") or self._requests_url(task, "/status")
        answer = self.client.request("GET", url, not_found=TechnicalError)
        raw = str(require(answer, "status", provider=self.type)).upper()
        status = STATUS.get(raw)
        if status is None:
            raise TechnicalError(f"fal returned an unknown status {raw!r}", code="malformed_response", provider=self.type)
        summary = {"status": raw, "queue_position": answer.get("queue_position")}
        error_text = answer.get("error")
        if status is ProviderTaskStatus.SUCCEEDED and error_text:
            status = ProviderTaskStatus.FAILED
        if status is ProviderTaskStatus.FAILED:
            error_type = str(answer.get("error_type") or "")
            error: ProviderError
            if error_type in CONTENT_ERROR_TYPES:
                error = ContentError(CONTENT_ERROR_TYPES[error_type], code=error_type, provider=self.type)
            else:
                error = TechnicalError(
                    f"fal reported the request failed: {str(error_text or raw)[:200]}",
                    code=error_type or "upstream_failed",
                    provider=self.type,
                )
            return PollResult(status=status, error=error, response_summary=summary)
        progress = 0 if status is ProviderTaskStatus.QUEUED else None
        return PollResult(
            status=status,
            progress=progress,
            next_poll_in=None if status is ProviderTaskStatus.SUCCEEDED else self.config.poll_interval_seconds,
            response_summary=summary,
        )

    def fetch_outputs(self, task: TaskState) -> list[OutputImage]:
        url = task.data.get("response_url") or self._requests_url(task)
        answer = self.client.request("GET", url, on_error=_fal_error, not_found=TechnicalError)
        images = answer.get("images")
        if images is None and isinstance(answer.get("image"), dict):
            images = [answer["image"]]
        if not isinstance(images, list) or not images:
            raise TechnicalError("fal returned no images", code="malformed_response", provider=self.type)
        outputs = []
        for image in images:
            if not isinstance(image, dict) or not isinstance(image.get("url"), str):
                raise TechnicalError("fal returned an image without a url", code="malformed_response", provider=self.type)
            outputs.append(
                OutputImage(
                    url=image["url"],
                    content_type=image.get("content_type"),
                    width=image.get("width"),
                    height=image.get("height"),
                )
            )
        return outputs

    def cancel(self, task: TaskState) -> None:
        url = task.data.get("cancel_url") or self._requests_url(task, "/cancel")
        try:
            self.client.request("PUT", url, not_found=TechnicalError)
        except ProviderError as exc:
            # 400 ALREADY_COMPLETED / 404 NOT_FOUND: nothing left to stop.
            if exc.status_code in (400, 404):
                return
            raise
