"""Full lifecycle: model → training images → training (strength, speed) → poll → trigger word →
prediction with scaleConfigs → outputs; then a second generation reusing the trained identity."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import responses

from shopify_app.models.enums import ProviderTaskStatus
from shopify_app.providers.base import ErrorKind, GenerationOptions, ImageInput, ProviderError, TaskState
from shopify_app.settings import Settings
from tests.providers.conftest import CUSTOM_MODELS_URL as API, KEYS, OPTIONS, SPEC, fixture, make, person


def step(provider, task: TaskState):  # type: ignore[no-untyped-def]
    result = provider.poll(task)
    task.polls += 1
    if result.state is not None:
        task.data = result.state
    return result


def test_training_then_prediction_lifecycle(settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    create = mocked_responses.post(f"{API}/models", json=fixture("custom_models", "create_model"))
    upload = mocked_responses.post(f"{API}/models/abc123/data", json=fixture("custom_models", "upload_data"))
    train = mocked_responses.post(f"{API}/models/abc123/trainings", json=fixture("custom_models", "start_training"))
    mocked_responses.get(f"{API}/models/abc123/trainings/def456", json=fixture("custom_models", "training_processing"))
    mocked_responses.get(f"{API}/models/abc123/trainings/def456", json=fixture("custom_models", "training_succeeded"))
    predict = mocked_responses.post(f"{API}/predictions", json=fixture("custom_models", "create_prediction"))
    mocked_responses.get(f"{API}/predictions/ghi789", json=fixture("custom_models", "prediction_processing"))
    mocked_responses.get(f"{API}/predictions/ghi789", json=fixture("custom_models", "prediction_succeeded"))
    provider = make("custom_models", settings, training_strength=8, training_speed="fast",
                    model_id="brand1", training_id="brandtrain1", trigger_word="BRANDSTYLE")

    refs = (person(), person(), ImageInput(data=b"\xff\xd8fakejpeg", content_type="image/jpeg"))
    submitted = provider.submit_model_generation(SPEC, replace(OPTIONS, reference_images=refs, num_images=2))
    assert submitted.upstream_id == "abc123"
    assert create.calls[0].request.headers["x-api-key"] == KEYS["custom_models"]
    assert json.loads(create.calls[0].request.body) == {"displayName": "Asha"}
    assert upload.call_count == 3
    assert upload.calls[2].request.headers["Content-Type"] == "image/jpeg"
    assert upload.calls[2].request.body == b"\xff\xd8fakejpeg"
    assert json.loads(train.calls[0].request.body) == {"trainingStrength": 8, "trainingSpeed": "fast"}

    task = TaskState(submitted.upstream_id, submitted.state)
    training = step(provider, task)
    assert training.status is ProviderTaskStatus.RUNNING and training.next_poll_in == 60.0
    trained = step(provider, task)
    assert trained.status is ProviderTaskStatus.RUNNING
    assert trained.identity is not None and trained.identity.trigger_word == "FJA90AB"
    assert trained.identity.provider_model_id == "abc123" and trained.identity.training_id == "def456"

    body = json.loads(predict.calls[0].request.body)
    assert body["scaleConfigs"] == {
        "1": {"scale": 0.8, "modelId": "abc123", "trainingId": "def456"},
        "2": {"scale": 0.6, "modelId": "brand1", "trainingId": "brandtrain1"},
    }
    assert "FJA90AB" in body["prompt"] and "BRANDSTYLE" in body["prompt"]
    assert body["image_size"] == {"width": 1024, "height": 1536}
    assert body["num_images"] == 2 and body["seed"] == 7
    assert body["output_format"] == "png" and body["guidance_scale"] == 7.5 and body["num_inference_steps"] == 28

    assert step(provider, task).status is ProviderTaskStatus.RUNNING
    done = step(provider, task)
    assert done.status is ProviderTaskStatus.SUCCEEDED
    outputs = provider.fetch_outputs(task)
    assert [o.url for o in outputs] == fixture("custom_models", "prediction_succeeded")["outputImages"]

    # The identity is reused: the next generation goes straight to a prediction.
    mocked_responses.post(f"{API}/predictions", json={"predictionId": "ghi790"})
    again = provider.submit_model_generation(SPEC, replace(OPTIONS, identity=trained.identity))
    assert again.upstream_id == "ghi790"
    assert create.call_count == 1 and train.call_count == 1


def test_training_failure_is_technical(settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    mocked_responses.get(f"{API}/models/abc123/trainings/def456", json=fixture("custom_models", "training_failed"))
    result = make("custom_models", settings).poll(TaskState("abc123", {"phase": "training", "model_id": "abc123", "training_id": "def456"}))
    assert result.status is ProviderTaskStatus.FAILED
    assert result.error is not None and result.error.kind is ErrorKind.TECHNICAL


def test_prediction_failure(settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    mocked_responses.get(f"{API}/predictions/ghi789", json=fixture("custom_models", "prediction_failed"))
    result = make("custom_models", settings).poll(TaskState("ghi789", {"phase": "predicting", "prediction_id": "ghi789"}))
    assert result.status is ProviderTaskStatus.FAILED


def test_bad_training_images_are_content_errors_before_any_call(settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    provider = make("custom_models", settings)
    gif = ImageInput(data=b"GIF89a", content_type="image/gif")
    with pytest.raises(ProviderError) as info:
        provider.submit_model_generation(SPEC, GenerationOptions(reference_images=(gif,)))
    assert info.value.kind is ErrorKind.CONTENT
    huge = ImageInput(data=b"\0" * (10 * 1024 * 1024 + 1), content_type="image/png")
    with pytest.raises(ProviderError):
        provider.submit_model_generation(SPEC, GenerationOptions(reference_images=(huge,)))
    assert len(mocked_responses.calls) == 0


def test_nothing_to_generate_with_is_configuration(settings: Settings) -> None:
    with pytest.raises(ProviderError) as info:
        make("custom_models", settings).submit_model_generation(SPEC, OPTIONS)
    assert info.value.kind is ErrorKind.CONFIGURATION


def test_cancel_training(settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    cancel = mocked_responses.post(f"{API}/models/abc123/trainings/def456/cancel", status=200, body="")
    make("custom_models", settings).cancel(TaskState("abc123", {"phase": "training", "model_id": "abc123", "training_id": "def456"}))
    assert cancel.call_count == 1
