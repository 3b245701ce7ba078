from __future__ import annotations

import json

import pytest
import responses

from shopify_app.models.enums import ProviderTaskStatus
from shopify_app.providers.base import ErrorKind, GenerationOptions, ProviderError, TaskState
from shopify_app.settings import Settings
from tests.providers.conftest import FASHN_URL, KEYS, OPTIONS, SPEC, fixture, garment, make, person

FID = "123a87r9-4129-4bb3-be18-9c9fb5bd7fc1-u1"
STATUS = f"{FASHN_URL}/status/{FID}"


def test_try_on_lifecycle(settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    run = mocked_responses.post(f"{FASHN_URL}/run", json=fixture("fashn", "run"))
    for name in ("status_starting", "status_in_queue", "status_processing"):
        mocked_responses.get(STATUS, json=fixture("fashn", name))
    mocked_responses.get(STATUS, json=fixture("fashn", "status_completed"), headers={"x-fashn-credits-used": "1"})
    provider = make("fashn", settings, mode="quality")

    submitted = provider.submit_try_on(person(), garment(), OPTIONS)
    sent = run.calls[0].request
    assert sent.headers["Authorization"] == f"Bearer {KEYS['fashn']}"
    body = json.loads(sent.body)
    assert body["model_name"] == "tryon-v1.6"
    assert body["inputs"]["mode"] == "quality" and body["inputs"]["category"] == "auto"
    assert body["inputs"]["model_image"].startswith("data:image/png;base64,")

    task = TaskState(submitted.upstream_id, submitted.state)
    statuses = []
    for _ in range(4):
        result = provider.poll(task)
        statuses.append(result.status)
        task.data = result.state or task.data
        task.polls += 1
    assert statuses == [ProviderTaskStatus.QUEUED, ProviderTaskStatus.QUEUED, ProviderTaskStatus.RUNNING, ProviderTaskStatus.SUCCEEDED]
    assert result.response_summary["credits_used"] == "1"
    [output] = provider.fetch_outputs(task)
    assert output.url == f"https://cdn.fashn.ai/{FID}/output_0.png"


def test_model_create_with_face_reference(settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    run = mocked_responses.post(f"{FASHN_URL}/run", json=fixture("fashn", "run"))
    provider = make("fashn", settings, face_reference_mode="match_reference")
    provider.submit_model_generation(SPEC, GenerationOptions(reference_images=(person(),), aspect_ratio="2:3"))
    body = json.loads(run.calls[0].request.body)
    assert body["model_name"] == "model-create"
    assert body["inputs"]["aspect_ratio"] == "2:3"
    assert body["inputs"]["face_reference"].startswith("data:image/png")
    assert body["inputs"]["face_reference_mode"] == "match_reference"


@pytest.mark.parametrize(
    ("name", "kind", "words"),
    [
        ("status_failed_pose", ErrorKind.CONTENT, "pose"),
        ("status_failed_moderation", ErrorKind.CONTENT, "moderation"),
        ("status_failed_pipeline", ErrorKind.TECHNICAL, "pipeline"),
        ("status_time_out", ErrorKind.TECHNICAL, "timed out"),
    ],
)
def test_runtime_errors_are_classified(name: str, kind: ErrorKind, words: str, settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    mocked_responses.get(STATUS, json=fixture("fashn", name))
    result = make("fashn", settings).poll(TaskState(FID))
    assert result.status is ProviderTaskStatus.FAILED
    assert result.error is not None and result.error.kind is kind
    assert words in result.error.message.lower()


def test_out_of_credits_is_quota(settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    mocked_responses.post(f"{FASHN_URL}/run", status=429, json=fixture("fashn", "error_429_out_of_credits"))
    with pytest.raises(ProviderError) as info:
        make("fashn", settings).submit_try_on(person(), garment(), OPTIONS)
    assert info.value.kind is ErrorKind.QUOTA and info.value.code == "out_of_credits"


def test_bad_request_is_configuration(settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    mocked_responses.post(f"{FASHN_URL}/run", status=400, json=fixture("fashn", "error_400"))
    with pytest.raises(ProviderError) as info:
        make("fashn", settings).submit_try_on(person(), garment(), OPTIONS)
    assert info.value.kind is ErrorKind.CONFIGURATION
    assert "garment_image is required" in info.value.message


def test_canceled_upstream(settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    mocked_responses.get(STATUS, json=fixture("fashn", "status_canceled"))
    assert make("fashn", settings).poll(TaskState(FID)).status is ProviderTaskStatus.CANCELED
