"""PhotoGPT models (seed 004; API root https://developer.photogptai.com/api, `API-Version: 1`).

Lifecycle: `POST /models` with the spec as metadata (`name`, `age`, `gender` Male|Female,
`ethnicity`, `eyeColor`) → `result.id`; upload 12–20 `modelInput` images
(`POST /images/upload`, multipart `file` + `data` JSON `{modelID, type}`); trigger training
(`GET /models/{id}/train`, which answers a success string, not a job); poll
`GET /models/{id}` about every 5 minutes until `result.status` is `ready` (statuses new, training,
ready, deleted; training takes 20–25 minutes); then `POST /images/generation` with the
`modelID` → `result.jobId`, polled at `GET /jobs/{id}` (`created queued running success failed`).

Nothing here waits: each poll returns `next_poll_in` (300 s while training) and the engine
schedules the next look, so no worker is held for the 20 minutes.
Errors come back as `{"status": "NOK", "err", "message", "result": null}`.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, ClassVar

from shopify_app.models.enums import ProviderTaskStatus
from shopify_app.providers.base import (
    Capability,
    ContentError,
    GenerationOptions,
    Identity,
    ModelSpec,
    OutputImage,
    PollResult,
    ProviderError,
    QuotaError,
    Submitted,
    TaskState,
    TechnicalError,
)
from shopify_app.providers.config import PhotoGPTConfig
from shopify_app.providers.http import require
from shopify_app.providers.remote import RemoteProvider, clamp, output_from_string, require_bytes

MODEL_STATUS = {
    "new": ProviderTaskStatus.QUEUED,
    "training": ProviderTaskStatus.RUNNING,
    "ready": ProviderTaskStatus.SUCCEEDED,
    "deleted": ProviderTaskStatus.FAILED,
    "failed": ProviderTaskStatus.FAILED,
}
JOB_STATUS = {
    "created": ProviderTaskStatus.QUEUED,
    "queued": ProviderTaskStatus.QUEUED,
    "running": ProviderTaskStatus.RUNNING,
    "success": ProviderTaskStatus.SUCCEEDED,
    "failed": ProviderTaskStatus.FAILED,
}
_CONTENT_WORDS = re.compile(r"(?i)\b(nsfw|moderation|policy|inappropriate|no face|face not)\b")


def _ok(body: Any, provider: str) -> Any:
    """`result` of an `{"status": "OK", "result": …}` envelope."""
    if isinstance(body, dict) and str(body.get("status", "OK")).upper() == "NOK":
        message = body.get("message") or body.get("err") or "request failed"
        raise TechnicalError(f"PhotoGPT: {str(message)[:200]}", code="upstream_nok", provider=provider)
    return require(body, "result", provider=provider)


def _train_error(status: int, body: Any, text: str) -> ProviderError | None:
    message = (body.get("message") or body.get("err")) if isinstance(body, dict) else None
    if status == 400:
        return ContentError(
            "PhotoGPT could not train on these photos (it needs 12 to 20 clear photos of one person).",
            code="training_refused",
        )
    if status == 429:
        return QuotaError(f"too many PhotoGPT trainings are running: {message or ''}".strip(), code="training_concurrency")
    return None


def age_from_range(age_range: str) -> int:
    """PhotoGPT wants a number: the middle of "25-34", or the number in "30s" / "30"."""
    numbers = [int(n) for n in re.findall(r"\d+", age_range or "")]
    if not numbers:
        return 30
    if len(numbers) >= 2:
        return (numbers[0] + numbers[1]) // 2
    return numbers[0] + (5 if age_range.strip().endswith("s") else 0)


class PhotoGPTProvider(RemoteProvider):
    type: ClassVar[str] = "photogpt"
    capabilities = frozenset({Capability.MODEL_GENERATION, Capability.IDENTITY_TRAINING})
    extra_headers: ClassVar[dict[str, str]] = {"API-Version": "1"}
    config: PhotoGPTConfig

    # ------------------------------------------------------------------ submit

    def submit_model_generation(self, spec: ModelSpec, options: GenerationOptions) -> Submitted:
        base_state = {"prompt": self._prompt(spec, options), "options": _options_state(options)}
        if options.identity is not None:
            return self._start_generation(options.identity.provider_model_id, base_state)
        return self._start_training(spec, options, base_state)

    def _prompt(self, spec: ModelSpec, options: GenerationOptions) -> str:
        return options.prompt or self.config.prompt_template.format(description=spec.describe())

    def _start_training(self, spec: ModelSpec, options: GenerationOptions, state: dict[str, Any]) -> Submitted:
        images = options.reference_images[:20]
        if len(images) < self.config.min_input_images:
            raise ContentError(
                f"Training this catalog model needs at least {self.config.min_input_images} photos of the person.",
                code="too_few_training_images",
                provider=self.type,
            )
        for image in images:
            require_bytes(self.type, image)
        payload: dict[str, Any] = {
            "name": (spec.display_name or f"Catalog model {spec.age_range}")[:100],
            "age": age_from_range(spec.age_range),
            "gender": "Female" if spec.gender.upper() == "FEMALE" else "Male",
            "ethnicity": spec.ethnicity,
        }
        eye_color = spec.metadata.get("eye_color") or spec.metadata.get("eyeColor") or self.config.eye_color
        if eye_color:
            payload["eyeColor"] = str(eye_color)
        model = _ok(self.client.request("POST", "/models", json_body=payload), self.type)
        model_id = str(require(model, "id", provider=self.type))
        uploaded = []
        for index, image in enumerate(images):
            assert image.data is not None
            meta = json.dumps({"modelID": model_id, "type": "modelInput"})
            files = {
                "file": (f"input-{index}.{image.extension}", image.data, image.content_type),
                "data": (None, meta, "application/json"),
            }
            answer = _ok(
                self.client.request(
                    "POST", "/images/upload", files=files,
                    summary={"file": f"<{len(image.data)} bytes>", "data": json.loads(meta)},
                ),
                self.type,
            )
            uploaded.append(str(answer.get("id")) if isinstance(answer, dict) else None)
        _ok(self.client.request("GET", f"/models/{model_id}/train", on_error=_train_error), self.type)
        return self.submitted(
            model_id,
            {**state, "phase": "training", "model_id": model_id, "image_ids": uploaded, "training_started": time.time()},
            self.config.poll_interval_seconds,
        )

    def _start_generation(self, model_id: str, state: dict[str, Any]) -> Submitted:
        opts = state.get("options", {})
        body: dict[str, Any] = {
            "modelID": model_id,
            "prompt": state.get("prompt"),
            "numImages": clamp(int(opts.get("num_images") or 1), 1, 4),
        }
        if opts.get("width") and opts.get("height"):
            body["width"], body["height"] = opts["width"], opts["height"]
        if opts.get("seed") is not None:
            body["seed"] = opts["seed"]
        result = _ok(self.client.request("POST", "/images/generation", json_body=body), self.type)
        job_id = str(require(result, "jobId", provider=self.type))
        new_state = {**state, "phase": "generating", "model_id": model_id, "job_id": job_id}
        return self.submitted(job_id, new_state, self.config.generation_poll_seconds)

    # ------------------------------------------------------------------ poll

    def poll(self, task: TaskState) -> PollResult:
        if task.data.get("phase") == "training":
            return self._poll_model(task)
        return self._poll_job(task)

    def _poll_model(self, task: TaskState) -> PollResult:
        model_id = task.data["model_id"]
        model = _ok(self.client.request("GET", f"/models/{model_id}", not_found=TechnicalError), self.type)
        raw = str(require(model, "status", provider=self.type)).lower()
        status = MODEL_STATUS.get(raw)
        if status is None:
            raise TechnicalError(f"unknown model status {raw!r}", code="malformed_response", provider=self.type)
        summary = {"phase": "training", "status": raw}
        if status is ProviderTaskStatus.FAILED:
            return PollResult(
                status=status,
                error=TechnicalError(f"the PhotoGPT model is {raw}", code=f"model_{raw}", provider=self.type),
                response_summary=summary,
            )
        if status is not ProviderTaskStatus.SUCCEEDED:
            started = float(task.data.get("training_started") or time.time())
            if time.time() - started > self.config.training_timeout_seconds:
                return PollResult(
                    status=ProviderTaskStatus.FAILED,
                    error=TechnicalError("PhotoGPT training took too long", code="training_timeout", provider=self.type),
                    response_summary=summary,
                )
            # About every 5 minutes, as PhotoGPT asks: the engine schedules it, no worker waits.
            return PollResult(
                status=ProviderTaskStatus.RUNNING,
                progress=15 if raw == "new" else 40,
                next_poll_in=self.config.poll_interval_seconds,
                response_summary=summary,
            )
        identity = Identity(provider_model_id=model_id)
        submitted = self._start_generation(model_id, task.data)
        return PollResult(
            status=ProviderTaskStatus.RUNNING,
            progress=75,
            next_poll_in=submitted.next_poll_in,
            state={**task.data, **submitted.state, "identity": identity.to_dict()},
            identity=identity,
            response_summary={**summary, "job_id": submitted.upstream_id},
        )

    def _poll_job(self, task: TaskState) -> PollResult:
        job_id = task.data.get("job_id") or task.upstream_id
        job = _ok(self.client.request("GET", f"/jobs/{job_id}", not_found=TechnicalError), self.type)
        raw = str(require(job, "status", provider=self.type)).lower()
        status = JOB_STATUS.get(raw)
        if status is None:
            raise TechnicalError(f"unknown job status {raw!r}", code="malformed_response", provider=self.type)
        summary = {"phase": "generating", "status": raw}
        identity = Identity.from_dict(task.data.get("identity"))
        if status is ProviderTaskStatus.SUCCEEDED:
            images = [i.get("url") if isinstance(i, dict) else i for i in job.get("images") or []]
            images = [i for i in images if isinstance(i, str) and i]
            if not images:
                raise TechnicalError("the job succeeded without images", code="malformed_response", provider=self.type)
            return PollResult(
                status=status, progress=100, state={**task.data, "images": images},
                identity=identity, response_summary={**summary, "outputs": len(images)},
            )
        if status is ProviderTaskStatus.FAILED:
            reason = str(job.get("error") or job.get("errorMessage") or "the generation failed")[:200]
            error: ProviderError
            if _CONTENT_WORDS.search(reason):
                error = ContentError(f"PhotoGPT refused this image: {reason}", code="content_refused", provider=self.type)
            else:
                error = TechnicalError(f"PhotoGPT generation failed: {reason}", code="generation_failed", provider=self.type)
            return PollResult(status=status, error=error, response_summary=summary)
        return PollResult(
            status=status, progress=85, next_poll_in=self.config.generation_poll_seconds,
            identity=identity, response_summary=summary,
        )

    def fetch_outputs(self, task: TaskState) -> list[OutputImage]:
        images = task.data.get("images")
        if not images:
            result = self._poll_job(task)
            images = (result.state or {}).get("images")
        if not images:
            raise TechnicalError("no images for this job", code="no_outputs", provider=self.type)
        return [output_from_string(self.type, url) for url in images]


def _options_state(options: GenerationOptions) -> dict[str, Any]:
    return {"width": options.width, "height": options.height, "num_images": options.num_images, "seed": options.seed}
