from __future__ import annotations

import json

import responses

from shopify_app.models.enums import ProviderTaskStatus
from shopify_app.providers.base import ErrorKind, ImageInput, ProviderError, TaskState
from shopify_app.settings import Settings
from tests.providers.conftest import FAL_URL, KEYS, OPTIONS, SPEC, fixture, garment, make, person

APP = f"{FAL_URL}/fal-ai/fashn/tryon/v1.6"
REQ = f"{FAL_URL}/fal-ai/fashn/requests/764cabcf-b745-4b3e-ae38-1200304cf45b"


def test_try_on_lifecycle(settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    submit = mocked_responses.post(APP, json=fixture("fal_standard", "submit"))
    mocked_responses.get(f"{REQ}/status", json=fixture("fal_standard", "status_in_queue"))
    mocked_responses.get(f"{REQ}/status", json=fixture("fal_standard", "status_in_progress"))
    mocked_responses.get(f"{REQ}/status", json=fixture("fal_standard", "status_completed"))
    mocked_responses.get(REQ, json=fixture("fal_standard", "result"))
    provider = make("fal_standard", settings, additional_static_params={"mode": "quality"})

    person_url = ImageInput(url="https://cdn.shop.test/model.jpg", content_type="image/jpeg")
    submitted = provider.submit_try_on(person_url, garment(), OPTIONS)
    assert submitted.upstream_id == "764cabcf-b745-4b3e-ae38-1200304cf45b"
    sent = submit.calls[0].request
    assert sent.headers["Authorization"] == f"Key {KEYS['fal_standard']}"
    body = json.loads(sent.body)
    assert body["model_image"] == "https://cdn.shop.test/model.jpg"
    assert body["garment_image"].startswith("data:image/png;base64,")
    assert body["mode"] == "quality" and body["seed"] == 7
    # The summary support sees holds no image bytes.
    assert "base64" not in json.dumps(submitted.request_summary)

    task = TaskState(submitted.upstream_id, submitted.state)
    first = provider.poll(task)
    assert first.status is ProviderTaskStatus.QUEUED and first.next_poll_in == 2.0
    assert provider.poll(task).status is ProviderTaskStatus.RUNNING
    assert provider.poll(task).status is ProviderTaskStatus.SUCCEEDED
    [image] = provider.fetch_outputs(task)
    assert image.url.endswith("output_0.png") and (image.width, image.height) == (864, 1296)


def test_model_generation_sends_a_prompt(settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    submit = mocked_responses.post(f"{FAL_URL}/fal-ai/flux/dev", json=fixture("fal_standard", "submit"))
    provider = make("fal_standard", settings, fal_app_id="fal-ai/flux/dev")
    provider.submit_model_generation(SPEC, OPTIONS)
    body = json.loads(submit.calls[0].request.body)
    assert "south asian woman" in body["prompt"]
    assert body["image_size"] == {"width": 1024, "height": 1536}


def test_content_policy_violation_is_a_content_error(settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    mocked_responses.post(APP, status=422, json=fixture("fal_standard", "error_422_content_policy"))
    provider = make("fal_standard", settings)
    try:
        provider.submit_try_on(person(), garment(), OPTIONS)
    except ProviderError as exc:
        assert exc.kind is ErrorKind.CONTENT
        assert "content policy" in exc.message
    else:
        raise AssertionError("expected a content error")


def test_failed_request_is_a_technical_failure(settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    mocked_responses.get(f"{REQ}/status", json=fixture("fal_standard", "status_failed"))
    provider = make("fal_standard", settings)
    result = provider.poll(TaskState("764cabcf-b745-4b3e-ae38-1200304cf45b", {"status_url": f"{REQ}/status"}))
    assert result.status is ProviderTaskStatus.FAILED
    assert result.error is not None and result.error.kind is ErrorKind.TECHNICAL


def test_foreign_status_url_is_never_called_with_our_key(settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    answer = fixture("fal_standard", "submit")
    answer["status_url"] = "https://evil.example/steal"
    mocked_responses.post(APP, json=answer)
    provider = make("fal_standard", settings)
    submitted = provider.submit_try_on(person(), garment(), OPTIONS)
    assert "status_url" not in submitted.state
    mocked_responses.get(f"{REQ}/status", json=fixture("fal_standard", "status_in_progress"))
    assert provider.poll(TaskState(submitted.upstream_id, submitted.state)).status is ProviderTaskStatus.RUNNING


def test_cancel_tolerates_already_completed(settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    cancel = mocked_responses.put(f"{REQ}/cancel", status=400, json=fixture("fal_standard", "cancel_already_completed"))
    provider = make("fal_standard", settings)
    provider.cancel(TaskState("764cabcf-b745-4b3e-ae38-1200304cf45b", {"cancel_url": f"{REQ}/cancel"}))
    assert cancel.call_count == 1


def test_result_without_images_is_technical(settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    mocked_responses.get(REQ, json={"images": []})
    provider = make("fal_standard", settings)
    try:
        provider.fetch_outputs(TaskState("764cabcf-b745-4b3e-ae38-1200304cf45b", {"response_url": REQ}))
    except ProviderError as exc:
        assert exc.code == "malformed_response"
    else:
        raise AssertionError("expected an error")
