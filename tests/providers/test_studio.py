from __future__ import annotations

import json
from dataclasses import replace

import pytest
import responses

from shopify_app.models.enums import ProviderTaskStatus
from shopify_app.providers.base import ErrorKind, ProviderError, TaskState
from shopify_app.settings import Settings
from tests.providers.conftest import KEYS, OPTIONS, SPEC, STUDIO_URL, fixture, garment, make, person

JOB = "01JDQ8W6X3M4N5P6Q7R8S9T0VA"


def test_model_generator_lifecycle(settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    post = mocked_responses.post(f"{STUDIO_URL}/v1/model-generator", status=202, json=fixture("studio", "accepted"))
    mocked_responses.get(f"{STUDIO_URL}/v1/jobs/{JOB}", json=fixture("studio", "job_in_progress"))
    mocked_responses.get(f"{STUDIO_URL}/v1/jobs/{JOB}", json=fixture("studio", "job_success"))
    provider = make("studio", settings, image_model="flux-pro", eval_enabled=True)

    submitted = provider.submit_model_generation(SPEC, replace(OPTIONS, idempotency_key="job1:primary:1"))
    assert submitted.upstream_id == JOB
    assert submitted.status is ProviderTaskStatus.QUEUED
    sent = post.calls[0].request
    assert sent.headers["Authorization"] == f"Bearer {KEYS['studio']}"
    assert sent.headers["Idempotency-Key"] == "job1:primary:1"
    body = json.loads(sent.body)
    assert body["gender"] == "FEMALE" and body["age_range"] == "25-34" and body["body_type"] == "athletic"
    assert body["image_model"] == "flux-pro" and body["eval_enabled"] is True and body["seed"] == 7

    task = TaskState(JOB, submitted.state)
    running = provider.poll(task)
    assert running.status is ProviderTaskStatus.RUNNING and running.progress == 40
    done = provider.poll(task)
    assert done.status is ProviderTaskStatus.SUCCEEDED
    task.data = done.state or {}
    [output] = provider.fetch_outputs(task)
    assert output.url.startswith(f"{STUDIO_URL}/v1/files/{JOB}/portrait-0.png?")
    # Signed query strings never reach what support sees.
    assert "signature" not in json.dumps(done.response_summary)


def test_remote_422_is_configuration(settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    mocked_responses.post(f"{STUDIO_URL}/v1/model-generator", status=422, json=fixture("studio", "validation_422"))
    with pytest.raises(ProviderError) as info:
        make("studio", settings).submit_model_generation(SPEC, OPTIONS)
    assert info.value.kind is ErrorKind.CONFIGURATION
    assert "body.gender" in info.value.message


@pytest.mark.parametrize(("name", "kind"), [("job_failure_content", ErrorKind.CONTENT), ("job_failure_technical", ErrorKind.TECHNICAL)])
def test_remote_failure_keeps_its_kind(name: str, kind: ErrorKind, settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    mocked_responses.get(f"{STUDIO_URL}/v1/jobs/{JOB}", json=fixture("studio", name))
    result = make("studio", settings).poll(TaskState(JOB))
    assert result.status is ProviderTaskStatus.FAILED
    assert result.error is not None and result.error.kind is kind


def test_try_on_is_not_offered(settings: Settings) -> None:
    with pytest.raises(ProviderError) as info:
        make("studio", settings).submit_try_on(person(), garment(), OPTIONS)
    assert info.value.code == "unsupported_operation"


def test_base_url_must_be_https() -> None:
    from pydantic import ValidationError

    from shopify_app.providers.config import validate_provider_config

    with pytest.raises(ValidationError):
        validate_provider_config("studio", {"base_url": "http://169.254.169.254"})
