"""FASHN API: `POST /v1/run {model_name, inputs}` → `{id, error}`; `GET /v1/status/{id}` →
`starting | in_queue | processing | completed | failed | canceled | time_out`
(reference/generation-providers.md).

`tryon-v1.6` dresses a person; `model-create` renders a catalog model from a prompt, with an
optional `face_reference` that keeps one identity across a catalog without training.
Errors before a job starts carry no id and are safe to retry with the same payload; errors
during a job come back on the status as `{name, message}`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from shopify_app.models.enums import ProviderTaskStatus
from shopify_app.providers.base import (
    Capability,
    ConfigurationError,
    ContentError,
    GenerationOptions,
    ImageInput,
    ModelSpec,
    OutputImage,
    PollResult,
    ProviderError,
    QuotaError,
    Submitted,
    TaskState,
    TechnicalError,
)
from shopify_app.providers.config import FashnConfig
from shopify_app.providers.http import require
from shopify_app.providers.remote import RemoteProvider, clamp, image_reference, output_from_string

STATUS = {
    "starting": ProviderTaskStatus.QUEUED,
    "in_queue": ProviderTaskStatus.QUEUED,
    "processing": ProviderTaskStatus.RUNNING,
    "completed": ProviderTaskStatus.SUCCEEDED,
    "failed": ProviderTaskStatus.FAILED,
    "canceled": ProviderTaskStatus.CANCELED,
    "time_out": ProviderTaskStatus.FAILED,
}

# Runtime error names → (kind, what we tell the merchant or support).
RUNTIME_ERRORS: dict[str, tuple[type[ProviderError], str]] = {
    "ImageLoadError": (
        ContentError,
        "One of the images could not be opened. Use a JPEG or PNG product photo that is publicly reachable.",
    ),
    "ContentModerationError": (
        ContentError,
        "The provider's content moderation refused this garment or model image.",
    ),
    "PoseError": (
        ContentError,
        "No person's pose could be found in the model photo; use a clear, full-body model image.",
    ),
    "InputValidationError": (
        ContentError,
        "The provider could not use these images; check the garment photo shows one clear garment.",
    ),
    "PipelineError": (TechnicalError, "FASHN's pipeline failed (not charged)."),
    "ThirdPartyError": (TechnicalError, "A service FASHN depends on failed."),
    "InternalServerError": (TechnicalError, "FASHN had an internal error."),
}


def _api_error(status: int, body: Any, text: str) -> ProviderError | None:
    """API-level errors: `{"error": "OutOfCredits", "message": …}`."""
    name = body.get("error") if isinstance(body, dict) else None
    message = str(body.get("message") or name) if isinstance(body, dict) else text[:200]
    if name == "OutOfCredits":
        return QuotaError(f"FASHN account is out of credits: {message}", code="out_of_credits")
    if name == "ConcurrencyLimitExceeded":
        return QuotaError(f"FASHN concurrency limit reached: {message}", code="concurrency_limit", retry_after=10)
    if status == 400:
        return ConfigurationError(f"FASHN refused the request: {message}", code="bad_request")
    return None


class FashnProvider(RemoteProvider):
    type: ClassVar[str] = "fashn"
    capabilities = frozenset({Capability.MODEL_GENERATION, Capability.TRY_ON})
    config: FashnConfig

    def _run(self, model_name: str, inputs: dict[str, Any], options: GenerationOptions) -> Submitted:
        inputs = {**(self.config.additional_properties or {}), **inputs}
        params = {"webhook_url": options.webhook_url} if options.webhook_url else None
        answer = self.client.request(
            "POST",
            "/run",
            json_body={"model_name": model_name, "inputs": inputs},
            params=params,
            on_error=_api_error,
        )
        if isinstance(answer, dict) and answer.get("error") and not answer.get("id"):
            raise TechnicalError(f"FASHN did not start the job: {str(answer['error'])[:200]}", provider=self.type)
        prediction_id = require(answer, "id", provider=self.type)
        return self.submitted(prediction_id, {"model_name": model_name}, self.config.poll_interval_seconds)

    def submit_try_on(
        self, person_image: ImageInput, garment_image: ImageInput, options: GenerationOptions
    ) -> Submitted:
        cfg = self.config
        inputs: dict[str, Any] = {
            "model_image": image_reference(person_image),
            "garment_image": image_reference(garment_image),
            "category": options.category if options.category != "auto" else cfg.category,
            "mode": cfg.mode,
            "garment_photo_type": cfg.garment_photo_type,
            "moderation_level": cfg.moderation_level,
            "segmentation_free": cfg.segmentation_free,
            "output_format": cfg.output_format,
            "num_samples": clamp(options.num_images, 1, 4),
        }
        if options.seed is not None:
            inputs["seed"] = options.seed
        return self._run(cfg.model_name, inputs, options)

    def submit_model_generation(self, spec: ModelSpec, options: GenerationOptions) -> Submitted:
        cfg = self.config
        prompt = options.prompt or (
            f"Full-body e-commerce catalog photo of {spec.describe()}, wearing plain neutral "
            "basics, standing, studio lighting, plain light grey background"
        )
        inputs: dict[str, Any] = {
            "prompt": prompt,
            "aspect_ratio": options.aspect_ratio or spec.aspect_ratio or "2:3",
            "num_images": clamp(options.num_images, 1, 4),
            "output_format": cfg.output_format,
        }
        seed = options.seed if options.seed is not None else spec.seed
        if seed is not None:
            inputs["seed"] = seed
        if options.reference_images:
            inputs["face_reference"] = image_reference(options.reference_images[0])
            if cfg.face_reference_mode:
                inputs["face_reference_mode"] = cfg.face_reference_mode
        return self._run(cfg.model_create_name, inputs, options)

    def poll(self, task: TaskState) -> PollResult:
        answer = self.client.request("GET", f"/status/{task.upstream_id}", not_found=TechnicalError)
        raw = str(require(answer, "status", provider=self.type))
        status = STATUS.get(raw)
        if status is None:
            raise TechnicalError(f"FASHN returned an unknown status {raw!r}", code="malformed_response", provider=self.type)
        summary: dict[str, Any] = {"status": raw}
        credits = self.client.last_headers.get("x-fashn-credits-used") if self.client.last_headers else None
        if credits is not None:
            summary["credits_used"] = credits
        if status is ProviderTaskStatus.SUCCEEDED:
            output = answer.get("output")
            if not isinstance(output, list) or not output:
                raise TechnicalError("FASHN completed without output", code="malformed_response", provider=self.type)
            return PollResult(
                status=status,
                progress=100,
                state={**task.data, "output": output},
                response_summary={**summary, "outputs": len(output)},
            )
        if status is ProviderTaskStatus.FAILED:
            return PollResult(status=status, error=self._runtime_error(raw, answer.get("error")), response_summary=summary)
        if status is ProviderTaskStatus.CANCELED:
            return PollResult(status=status, response_summary=summary)
        return PollResult(status=status, next_poll_in=self.config.poll_interval_seconds, response_summary=summary)

    def _runtime_error(self, raw: str, error: Any) -> ProviderError:
        if raw == "time_out":
            return TechnicalError("FASHN timed out on this job", code="upstream_timeout", provider=self.type)
        name = str(error.get("name") or "") if isinstance(error, dict) else ""
        message = str(error.get("message") or "") if isinstance(error, dict) else str(error or "")
        cls, text = RUNTIME_ERRORS.get(name, (TechnicalError, "FASHN failed on this job."))
        if cls is TechnicalError and message:
            text = f"{text} ({message[:200]})"
        return cls(text, code=name or "upstream_failed", provider=self.type)

    def fetch_outputs(self, task: TaskState) -> list[OutputImage]:
        output = task.data.get("output")
        if not output:
            # Not seen by a poll yet (e.g. a crash in between): read the status again.
            result = self.poll(task)
            output = (result.state or {}).get("output") if result.status is ProviderTaskStatus.SUCCEEDED else None
        if not output:
            raise TechnicalError("FASHN has no outputs for this job", code="no_outputs", provider=self.type)
        return [output_from_string(self.type, item) for item in output]
