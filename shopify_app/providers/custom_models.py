"""Custom model training (seed 001): one identity (or brand style) trained once, then used by
its trigger word in every prediction.

Flow for a catalog model with reference photos: create a model (`displayName`), upload each
training image as raw bytes (webp/png/jpeg, ≤ 10 MB) → `dataId`, start a training
(`trainingStrength` 0–10, `trainingSpeed` fast|high_quality) → `trainingId`; poll the training
(`status`, `triggerWord`); when it has succeeded, create a prediction whose `scaleConfigs` point
at the trained model (plus the configured brand-style model, if any) and whose prompt carries the
trigger word; poll the prediction (`status`, `outputImages`). With an identity already trained
(`GenerationOptions.identity`), generation goes straight to the prediction.

The seed prints fields, not paths; the paths below follow its resource names
(models / data / trainings / predictions) and live in one table.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from shopify_app.models.enums import ProviderTaskStatus
from shopify_app.providers.base import (
    Capability,
    ConfigurationError,
    ContentError,
    GenerationOptions,
    Identity,
    ModelSpec,
    OutputImage,
    PollResult,
    Submitted,
    TaskState,
    TechnicalError,
)
from shopify_app.providers.config import CustomModelsConfig
from shopify_app.providers.http import require
from shopify_app.providers.remote import RemoteProvider, clamp, output_from_string, require_bytes

PATHS = {
    "models": "/models",
    "data": "/models/{model_id}/data",
    "trainings": "/models/{model_id}/trainings",
    "training": "/models/{model_id}/trainings/{training_id}",
    "cancel_training": "/models/{model_id}/trainings/{training_id}/cancel",
    "predictions": "/predictions",
    "prediction": "/predictions/{prediction_id}",
}

STATUS = {
    "starting": ProviderTaskStatus.QUEUED,
    "queued": ProviderTaskStatus.QUEUED,
    "pending": ProviderTaskStatus.QUEUED,
    "processing": ProviderTaskStatus.RUNNING,
    "running": ProviderTaskStatus.RUNNING,
    "succeeded": ProviderTaskStatus.SUCCEEDED,
    "failed": ProviderTaskStatus.FAILED,
    "canceled": ProviderTaskStatus.CANCELED,
    "cancelled": ProviderTaskStatus.CANCELED,
}

TRAINING_FORMATS = {"image/webp", "image/png", "image/jpeg", "image/jpg"}
MAX_TRAINING_BYTES = 10 * 1024 * 1024


class CustomModelsProvider(RemoteProvider):
    type: ClassVar[str] = "custom_models"
    capabilities = frozenset({Capability.MODEL_GENERATION, Capability.IDENTITY_TRAINING, Capability.CANCEL})
    auth_header = ("x-api-key", "")
    config: CustomModelsConfig

    # ------------------------------------------------------------------ submit

    def submit_model_generation(self, spec: ModelSpec, options: GenerationOptions) -> Submitted:
        base_state = {"spec": _spec_state(spec), "options": _options_state(options)}
        if options.identity is not None:
            return self._start_prediction(options.identity, base_state)
        if options.reference_images:
            return self._start_training(spec, options, base_state)
        if self.config.model_id and self.config.training_id:
            # Only a brand style: generate without a per-model identity.
            return self._start_prediction(None, base_state)
        raise ConfigurationError(
            "custom_models needs reference photos to train an identity, a trained identity, "
            "or a trained style model in its config",
            code="nothing_to_generate_with",
            provider=self.type,
        )

    def _start_training(self, spec: ModelSpec, options: GenerationOptions, state: dict[str, Any]) -> Submitted:
        cfg = self.config
        images = options.reference_images
        if len(images) < cfg.min_training_images:
            raise ContentError(
                f"Training this catalog model needs at least {cfg.min_training_images} reference photos.",
                code="too_few_training_images",
                provider=self.type,
            )
        for image in images:
            data = require_bytes(self.type, image)
            if image.content_type not in TRAINING_FORMATS:
                raise ContentError("Reference photos must be WebP, PNG or JPEG.", code="bad_training_image", provider=self.type)
            if len(data) > MAX_TRAINING_BYTES:
                raise ContentError("Reference photos must be 10 MB or smaller.", code="bad_training_image", provider=self.type)
        name = spec.display_name or f"Catalog model {spec.gender.lower()} {spec.age_range}"
        model = self.client.request("POST", PATHS["models"], json_body={"displayName": name[:120]})
        model_id = str(require(model, "id", provider=self.type))
        data_ids = []
        for image in images:
            answer = self.client.request(
                "POST",
                PATHS["data"].format(model_id=model_id),
                raw=image.data,
                content_type=image.content_type,
                summary=f"<{len(image.data or b'')} bytes {image.content_type}>",
            )
            data_ids.append(str(require(answer, "dataId", provider=self.type)))
        training = self.client.request(
            "POST",
            PATHS["trainings"].format(model_id=model_id),
            json_body={"trainingStrength": cfg.training_strength, "trainingSpeed": cfg.training_speed},
        )
        training_id = str(require(training, "trainingId", provider=self.type))
        return self.submitted(
            model_id,
            {**state, "phase": "training", "model_id": model_id, "training_id": training_id, "data_ids": data_ids},
            cfg.training_poll_seconds,
        )

    def _prediction_body(self, identity: Identity | None, state: dict[str, Any]) -> dict[str, Any]:
        cfg = self.config
        spec = state.get("spec", {})
        opts = state.get("options", {})
        scale_configs: dict[str, Any] = {}
        triggers = []
        if identity is not None:
            scale_configs[str(len(scale_configs) + 1)] = {
                "scale": cfg.identity_scale,
                "modelId": identity.provider_model_id,
                "trainingId": identity.training_id,
            }
            if identity.trigger_word:
                triggers.append(identity.trigger_word)
        if cfg.model_id and cfg.training_id:
            scale_configs[str(len(scale_configs) + 1)] = {
                "scale": cfg.style_scale,
                "modelId": cfg.model_id,
                "trainingId": cfg.training_id,
            }
            if cfg.trigger_word:
                triggers.append(cfg.trigger_word)
        prompt = opts.get("prompt") or cfg.prompt_template.format(
            trigger=" ".join(triggers) or "a model", description=spec.get("description", "a fashion model")
        )
        # The prompt must carry every trigger word or the trained model stays inactive.
        missing = [t for t in triggers if t not in prompt]
        if missing:
            prompt = f"{prompt}, {' '.join(missing)}"
        width, height = _image_size(opts.get("width"), opts.get("height"))
        body: dict[str, Any] = {
            "scaleConfigs": scale_configs,
            "prompt": prompt,
            "image_size": {"width": width, "height": height},
            "num_images": clamp(int(opts.get("num_images") or 1), 1, 4),
            "output_format": cfg.output_format,
            "guidance_scale": cfg.guidance_scale,
            "num_inference_steps": cfg.num_inference_steps,
        }
        if opts.get("seed") is not None:
            body["seed"] = opts["seed"]
        return body

    def _start_prediction(self, identity: Identity | None, state: dict[str, Any]) -> Submitted:
        answer = self.client.request("POST", PATHS["predictions"], json_body=self._prediction_body(identity, state))
        prediction_id = str(require(answer, "predictionId", provider=self.type))
        new_state = {**state, "phase": "predicting", "prediction_id": prediction_id}
        if identity is not None:
            new_state["identity"] = identity.to_dict()
        return self.submitted(prediction_id, new_state, self.config.prediction_poll_seconds)

    # ------------------------------------------------------------------ poll

    def poll(self, task: TaskState) -> PollResult:
        if task.data.get("phase") == "training":
            return self._poll_training(task)
        return self._poll_prediction(task)

    def _status(self, answer: Any) -> ProviderTaskStatus:
        raw = str(require(answer, "status", provider=self.type)).lower()
        status = STATUS.get(raw)
        if status is None:
            raise TechnicalError(f"unknown status {raw!r}", code="malformed_response", provider=self.type)
        return status

    def _poll_training(self, task: TaskState) -> PollResult:
        data = task.data
        answer = self.client.request(
            "GET",
            PATHS["training"].format(model_id=data["model_id"], training_id=data["training_id"]),
            not_found=TechnicalError,
        )
        status = self._status(answer)
        summary = {"phase": "training", "status": answer.get("status")}
        if status in (ProviderTaskStatus.QUEUED, ProviderTaskStatus.RUNNING):
            return PollResult(
                status=ProviderTaskStatus.RUNNING,
                progress=10 if status is ProviderTaskStatus.QUEUED else 40,
                next_poll_in=self.config.training_poll_seconds,
                response_summary=summary,
            )
        if status is ProviderTaskStatus.FAILED:
            return PollResult(
                status=status,
                error=TechnicalError("training the custom model failed", code="training_failed", provider=self.type),
                response_summary=summary,
            )
        if status is ProviderTaskStatus.CANCELED:
            return PollResult(status=status, response_summary=summary)
        trigger = answer.get("triggerWord")
        if not trigger:
            raise TechnicalError("training succeeded without a trigger word", code="malformed_response", provider=self.type)
        identity = Identity(provider_model_id=data["model_id"], training_id=data["training_id"], trigger_word=str(trigger))
        # The identity is trained: render with it. (One non-idempotent call; its id is
        # persisted with this poll's state.)
        submitted = self._start_prediction(identity, {k: v for k, v in data.items() if k in ("spec", "options")})
        return PollResult(
            status=ProviderTaskStatus.RUNNING,
            progress=70,
            next_poll_in=submitted.next_poll_in,
            state={**data, **submitted.state, "trained_at": time.time()},
            identity=identity,
            response_summary={**summary, "prediction_id": submitted.upstream_id},
        )

    def _poll_prediction(self, task: TaskState) -> PollResult:
        prediction_id = task.data.get("prediction_id") or task.upstream_id
        answer = self.client.request(
            "GET", PATHS["prediction"].format(prediction_id=prediction_id), not_found=TechnicalError
        )
        status = self._status(answer)
        summary = {"phase": "predicting", "status": answer.get("status")}
        identity = Identity.from_dict(task.data.get("identity"))
        if status is ProviderTaskStatus.SUCCEEDED:
            images = answer.get("outputImages")
            if not isinstance(images, list) or not images:
                raise TechnicalError("prediction succeeded without outputImages", code="malformed_response", provider=self.type)
            return PollResult(
                status=status, progress=100, state={**task.data, "output_images": images},
                identity=identity, response_summary={**summary, "outputs": len(images)},
            )
        if status is ProviderTaskStatus.FAILED:
            return PollResult(
                status=status,
                error=TechnicalError("the prediction failed upstream", code="prediction_failed", provider=self.type),
                response_summary=summary,
            )
        if status is ProviderTaskStatus.CANCELED:
            return PollResult(status=status, response_summary=summary)
        return PollResult(
            status=ProviderTaskStatus.RUNNING, progress=85, next_poll_in=self.config.prediction_poll_seconds,
            identity=identity, response_summary=summary,
        )

    def fetch_outputs(self, task: TaskState) -> list[OutputImage]:
        images = task.data.get("output_images")
        if not images:
            result = self._poll_prediction(task)
            images = (result.state or {}).get("output_images")
        if not images:
            raise TechnicalError("no output images for this prediction", code="no_outputs", provider=self.type)
        return [output_from_string(self.type, image) for image in images]

    def cancel(self, task: TaskState) -> None:
        data = task.data
        if data.get("phase") == "training":
            self.client.request(
                "POST",
                PATHS["cancel_training"].format(model_id=data["model_id"], training_id=data["training_id"]),
                not_found=TechnicalError,
                expect_json=False,
            )


def _spec_state(spec: ModelSpec) -> dict[str, Any]:
    return {"description": spec.describe(), "display_name": spec.display_name}


def _options_state(options: GenerationOptions) -> dict[str, Any]:
    return {
        "width": options.width,
        "height": options.height,
        "num_images": options.num_images,
        "seed": options.seed,
        "prompt": options.prompt,
    }


def _image_size(width: int | None, height: int | None) -> tuple[int, int]:
    """Width and height within the seed's 512–1536, keeping the aspect ratio."""
    if not width or not height:
        return 1024, 1536
    scale = min(1.0, 1536 / max(width, height))
    w, h = width * scale, height * scale
    if min(w, h) < 512:
        up = 512 / min(w, h)
        w, h = min(1536, w * up), min(1536, h * up)
    return int(round(w)), int(round(h))
