"""A remote Catalog Studio, through its own `/v1` API (seed 000).

`POST {base_url}/v1/model-generator` with the ModelGeneratorRequest fields answers 202
`WorkflowAcceptedResponse` (`request_id`, `job_id`, `status`, `credits_cost`); 422 carries an
`HTTPValidationError`. The job is read with `GET {base_url}/v1/jobs/{job_id}` (`status` in
`NOT_STARTED | IN_PROGRESS | SUCCESS | FAILURE`, `progress`, `outputs`, `error_code`,
`error_message`). An `Idempotency-Key` makes a resubmission after a crash safe: the remote
studio answers with the same job and charges once.
"""

from __future__ import annotations

from typing import Any, ClassVar

from shopify_app.models.enums import ProviderTaskStatus
from shopify_app.providers.base import (
    Capability,
    ConfigurationError,
    ContentError,
    GenerationOptions,
    ModelSpec,
    OutputImage,
    PollResult,
    ProviderError,
    Submitted,
    TaskState,
    TechnicalError,
)
from shopify_app.providers.config import StudioConfig
from shopify_app.providers.http import UpstreamClient, require
from shopify_app.providers.remote import RemoteProvider, output_from_string

STATUS = {
    "NOT_STARTED": ProviderTaskStatus.QUEUED,
    "IN_PROGRESS": ProviderTaskStatus.RUNNING,
    "SUCCESS": ProviderTaskStatus.SUCCEEDED,
    "FAILURE": ProviderTaskStatus.FAILED,
}


def _validation_error(status: int, body: Any, text: str) -> ProviderError | None:
    if status == 422 and isinstance(body, dict) and isinstance(body.get("detail"), list):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg')}"
            for d in body["detail"]
            if isinstance(d, dict)
        )
        return ConfigurationError(f"the remote studio refused the spec: {problems[:300]}", code="validation_error")
    return None


class StudioProvider(RemoteProvider):
    type: ClassVar[str] = "studio"
    capabilities = frozenset({Capability.MODEL_GENERATION})
    config: StudioConfig

    def base_url(self) -> str:
        # The remote studio's address is part of the registry entry; only its key is a secret.
        return self.config.base_url

    def submit_model_generation(self, spec: ModelSpec, options: GenerationOptions) -> Submitted:
        cfg = self.config
        body: dict[str, Any] = {
            "image_model": spec.image_model or cfg.image_model,
            "eval_enabled": cfg.eval_enabled,
            "resolution": spec.resolution or cfg.resolution,
            "aspect_ratio": options.aspect_ratio or spec.aspect_ratio or cfg.aspect_ratio,
            "seed": options.seed if options.seed is not None else spec.seed,
            "on_technical_failure": cfg.on_technical_failure,
            "display_name": spec.display_name,
            "gender": spec.gender,
            "ethnicity": spec.ethnicity,
            "body_type": spec.body_type,
            "age_range": spec.age_range,
            "metadata": {**(cfg.additional_properties or {}), **spec.metadata},
            "pilot_brand": spec.pilot_brand or cfg.pilot_brand,
        }
        body = {k: v for k, v in body.items() if v is not None}
        client = self.client
        if options.idempotency_key:
            client = self._with_headers({"Idempotency-Key": options.idempotency_key})
        answer = client.request("POST", "/v1/model-generator", json_body=body, on_error=_validation_error)
        job_id = require(answer, "job_id", provider=self.type)
        state = {"request_id": answer.get("request_id"), "credits_cost": answer.get("credits_cost")}
        submitted = self.submitted(job_id, state, cfg.poll_interval_seconds)
        submitted.status = STATUS.get(str(answer.get("status")), ProviderTaskStatus.QUEUED)
        submitted.response_summary = {"request_id": answer.get("request_id"), "status": answer.get("status")}
        return submitted

    def _with_headers(self, extra: dict[str, str]) -> UpstreamClient:
        base = self.client
        clone = UpstreamClient(
            provider=base.provider,
            base_url=base.base_url,
            headers={**base.headers, **extra},
            timeout=base.timeout,
            session=base.session,
            exchanges=base.exchanges,
        )
        return clone

    def poll(self, task: TaskState) -> PollResult:
        answer = self.client.request("GET", f"/v1/jobs/{task.upstream_id}", not_found=TechnicalError)
        raw = str(require(answer, "status", provider=self.type))
        status = STATUS.get(raw)
        if status is None:
            raise TechnicalError(f"unknown job status {raw!r}", code="malformed_response", provider=self.type)
        progress = answer.get("progress") if isinstance(answer.get("progress"), int) else None
        summary = {"status": raw, "stage": answer.get("stage"), "progress": progress}
        if status is ProviderTaskStatus.SUCCEEDED:
            urls = self._output_urls(answer.get("outputs"))
            return PollResult(status=status, progress=100, state={**task.data, "outputs": urls}, response_summary=summary)
        if status is ProviderTaskStatus.FAILED:
            return PollResult(status=status, error=self._job_error(answer), response_summary=summary)
        return PollResult(status=status, progress=progress, next_poll_in=self.config.poll_interval_seconds, response_summary=summary)

    def _job_error(self, answer: dict[str, Any]) -> ProviderError:
        code = str(answer.get("error_code") or "remote_failure")
        message = str(answer.get("error_message") or "the remote studio job failed")[:300]
        # The remote studio classifies like we do; its content errors are already merchant-readable.
        if code.startswith("content"):
            return ContentError(message, code=code, provider=self.type)
        if code.startswith("configuration"):
            return ConfigurationError(f"remote studio: {message}", code=code, provider=self.type)
        return TechnicalError(f"remote studio: {message}", code=code, provider=self.type)

    def _output_urls(self, outputs: Any) -> list[str]:
        items: Any = outputs
        if isinstance(outputs, dict):
            items = outputs.get("images") or outputs.get("portraits") or outputs.get("assets") or []
        urls = []
        for item in items if isinstance(items, list) else []:
            url = item.get("url") if isinstance(item, dict) else item
            if isinstance(url, str) and url:
                # The studio serves outputs itself ("/v1/…" signed links).
                urls.append(self.client.url(url) if url.startswith("/") else url)
        if not urls:
            raise TechnicalError("the remote job succeeded without output images", code="malformed_response", provider=self.type)
        return urls

    def fetch_outputs(self, task: TaskState) -> list[OutputImage]:
        urls = task.data.get("outputs")
        if not urls:
            result = self.poll(task)
            urls = (result.state or {}).get("outputs")
        if not urls:
            raise TechnicalError("no outputs for this job", code="no_outputs", provider=self.type)
        return [output_from_string(self.type, u) for u in urls]
