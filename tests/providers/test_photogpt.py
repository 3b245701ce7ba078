"""Full lifecycle: create model from the spec → upload 12 modelInput images → train → poll every
5 minutes (scheduled, never slept) → ready → generate with the model → job → images."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest
import responses

from shopify_app.models.enums import ProviderTaskStatus
from shopify_app.providers.base import ErrorKind, GenerationOptions, Identity, ProviderError, TaskState
from shopify_app.providers.photogpt import age_from_range
from shopify_app.settings import Settings
from tests.providers.conftest import KEYS, OPTIONS, PHOTOGPT_URL as API, SPEC, fixture, make, person

MID = "mdl_5f2b9c1e"


def step(provider, task: TaskState):  # type: ignore[no-untyped-def]
    result = provider.poll(task)
    task.polls += 1
    if result.state is not None:
        task.data = result.state
    return result


def test_train_poll_ready_generate(settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    create = mocked_responses.post(f"{API}/models", json=fixture("photogpt", "create_model"))
    upload = mocked_responses.post(f"{API}/images/upload", json=fixture("photogpt", "upload"))
    train = mocked_responses.get(f"{API}/models/{MID}/train", json=fixture("photogpt", "train"))
    mocked_responses.get(f"{API}/models/{MID}", json=fixture("photogpt", "model_training"))
    mocked_responses.get(f"{API}/models/{MID}", json=fixture("photogpt", "model_training"))
    mocked_responses.get(f"{API}/models/{MID}", json=fixture("photogpt", "model_ready"))
    generate = mocked_responses.post(f"{API}/images/generation", json=fixture("photogpt", "generation"))
    mocked_responses.get(f"{API}/jobs/job_123", json=fixture("photogpt", "job_running"))
    mocked_responses.get(f"{API}/jobs/job_123", json=fixture("photogpt", "job_success"))
    provider = make("photogpt", settings, eye_color="brown")

    refs = tuple(person() for _ in range(12))
    started = time.monotonic()
    submitted = provider.submit_model_generation(SPEC, replace(OPTIONS, reference_images=refs))
    assert time.monotonic() - started < 2  # submit returns at once; training happens upstream
    assert submitted.upstream_id == MID
    assert submitted.next_poll_in == 300  # "about every 5 minutes"

    sent = create.calls[0].request
    assert sent.headers["Authorization"] == f"Bearer {KEYS['photogpt']}"
    assert sent.headers["API-Version"] == "1"
    assert json.loads(sent.body) == {"name": "Asha", "age": 29, "gender": "Female", "ethnicity": "south asian", "eyeColor": "brown"}
    assert upload.call_count == 12
    multipart = upload.calls[0].request.body
    assert b'name="file"; filename="input-0.png"' in multipart
    assert b'"type": "modelInput"' in multipart and MID.encode() in multipart
    assert train.call_count == 1

    task = TaskState(submitted.upstream_id, submitted.state)
    for _ in range(2):
        waiting = step(provider, task)
        assert waiting.status is ProviderTaskStatus.RUNNING
        assert waiting.next_poll_in == 300
    ready = step(provider, task)
    assert ready.status is ProviderTaskStatus.RUNNING  # now generating with the ready model
    assert ready.identity == Identity(provider_model_id=MID)
    gen_body = json.loads(generate.calls[0].request.body)
    assert gen_body["modelID"] == MID and gen_body["numImages"] == 1
    assert gen_body["width"] == 1024 and gen_body["height"] == 1536 and gen_body["seed"] == 7
    assert "south asian woman" in gen_body["prompt"]
    assert ready.next_poll_in == 10

    assert step(provider, task).status is ProviderTaskStatus.RUNNING
    done = step(provider, task)
    assert done.status is ProviderTaskStatus.SUCCEEDED
    [image] = provider.fetch_outputs(task)
    assert image.url == "https://cdn.photogptai.com/outputs/image_123.jpg"


def test_ready_model_generates_without_training(settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    generate = mocked_responses.post(f"{API}/images/generation", json=fixture("photogpt", "generation"))
    submitted = make("photogpt", settings).submit_model_generation(SPEC, replace(OPTIONS, identity=Identity(MID)))
    assert submitted.upstream_id == "job_123"
    assert json.loads(generate.calls[0].request.body)["modelID"] == MID


def test_too_few_photos_is_a_content_error_before_any_call(settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    with pytest.raises(ProviderError) as info:
        make("photogpt", settings).submit_model_generation(SPEC, GenerationOptions(reference_images=(person(),)))
    assert info.value.kind is ErrorKind.CONTENT
    assert len(mocked_responses.calls) == 0


@pytest.mark.parametrize(("status", "name", "kind"), [(400, "error_400_train", ErrorKind.CONTENT), (429, "error_429_train", ErrorKind.QUOTA)])
def test_training_refusals(status: int, name: str, kind: ErrorKind, settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    mocked_responses.post(f"{API}/models", json=fixture("photogpt", "create_model"))
    mocked_responses.post(f"{API}/images/upload", json=fixture("photogpt", "upload"))
    mocked_responses.get(f"{API}/models/{MID}/train", status=status, json=fixture("photogpt", name))
    with pytest.raises(ProviderError) as info:
        make("photogpt", settings, min_input_images=1).submit_model_generation(SPEC, GenerationOptions(reference_images=(person(),)))
    assert info.value.kind is kind


@pytest.mark.parametrize(("name", "kind"), [("job_failed", ErrorKind.TECHNICAL), ("job_failed_nsfw", ErrorKind.CONTENT)])
def test_failed_generation_job(name: str, kind: ErrorKind, settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    mocked_responses.get(f"{API}/jobs/job_123", json=fixture("photogpt", name))
    result = make("photogpt", settings).poll(TaskState("job_123", {"phase": "generating", "job_id": "job_123"}))
    assert result.status is ProviderTaskStatus.FAILED
    assert result.error is not None and result.error.kind is kind


def test_deleted_model_fails_the_task(settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    mocked_responses.get(f"{API}/models/{MID}", json=fixture("photogpt", "model_deleted"))
    result = make("photogpt", settings).poll(TaskState(MID, {"phase": "training", "model_id": MID, "training_started": time.time()}))
    assert result.status is ProviderTaskStatus.FAILED


def test_training_that_never_ends_times_out(settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    mocked_responses.get(f"{API}/models/{MID}", json=fixture("photogpt", "model_training"))
    data = {"phase": "training", "model_id": MID, "training_started": time.time() - 2 * 3600}
    result = make("photogpt", settings).poll(TaskState(MID, data))
    assert result.status is ProviderTaskStatus.FAILED
    assert result.error is not None and result.error.code == "training_timeout"


def test_nok_envelope_is_an_error(settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    mocked_responses.get(f"{API}/jobs/job_123", json=fixture("photogpt", "error_401"))
    with pytest.raises(ProviderError):
        make("photogpt", settings).poll(TaskState("job_123", {"phase": "generating", "job_id": "job_123"}))


def test_age_from_range() -> None:
    assert age_from_range("25-34") == 29
    assert age_from_range("30s") == 35
    assert age_from_range("42") == 42
    assert age_from_range("adult") == 30
