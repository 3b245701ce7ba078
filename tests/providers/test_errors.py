"""Every remote adapter classifies upstream failures the same way: 401/403 and an unknown
resource are configuration errors, 429 is quota (with Retry-After), 5xx, timeouts and bodies
that are not JSON are technical. Only idempotent calls are retried."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest
import requests
import responses

from shopify_app.models.enums import ProviderTaskStatus
from shopify_app.providers.base import ErrorKind, Identity, ProviderError, TaskState
from shopify_app.settings import Settings
from tests.providers.conftest import (
    CUSTOM_MODELS_URL,
    FAL_URL,
    FASHN_URL,
    GENERATION_TOOLS_URL,
    KEYS,
    OPTIONS,
    PHOTOGPT_URL,
    SPEC,
    STUDIO_URL,
    fixture,
    garment,
    make,
    person,
)


@dataclass
class Case:
    provider: str
    method: str
    url: str
    call: Callable[[object], object]
    setup: Callable[[responses.RequestsMock], None] = lambda rsps: None


def _tools(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{GENERATION_TOOLS_URL}/generation/tools", json=fixture("generation_tools", "tools"))


IDENTITY = Identity(provider_model_id="abc123", training_id="def456", trigger_word="FJA90AB")
SUBMITS = [
    Case("studio", "POST", f"{STUDIO_URL}/v1/model-generator", lambda p: p.submit_model_generation(SPEC, OPTIONS)),
    Case(
        "custom_models", "POST", f"{CUSTOM_MODELS_URL}/predictions",
        lambda p: p.submit_model_generation(SPEC, replace(OPTIONS, identity=IDENTITY)),
    ),
    Case(
        "generation_tools", "POST", f"{GENERATION_TOOLS_URL}/generation/generate_image_v2/",
        lambda p: p.submit_try_on(person(), garment(), OPTIONS), _tools,
    ),
    Case(
        "photogpt", "POST", f"{PHOTOGPT_URL}/images/generation",
        lambda p: p.submit_model_generation(SPEC, replace(OPTIONS, identity=Identity("mdl_5f2b9c1e"))),
    ),
    Case("fal_standard", "POST", f"{FAL_URL}/fal-ai/fashn/tryon/v1.6", lambda p: p.submit_try_on(person(), garment(), OPTIONS)),
    Case("fashn", "POST", f"{FASHN_URL}/run", lambda p: p.submit_try_on(person(), garment(), OPTIONS)),
]
POLLS = [
    Case("studio", "GET", f"{STUDIO_URL}/v1/jobs/J1", lambda p: p.poll(TaskState("J1"))),
    Case(
        "custom_models", "GET", f"{CUSTOM_MODELS_URL}/predictions/P1",
        lambda p: p.poll(TaskState("P1", {"phase": "predicting", "prediction_id": "P1"})),
    ),
    Case("generation_tools", "GET", f"{GENERATION_TOOLS_URL}/user/generation-history/H1", lambda p: p.poll(TaskState("H1"))),
    Case("photogpt", "GET", f"{PHOTOGPT_URL}/jobs/G1", lambda p: p.poll(TaskState("G1", {"phase": "generating", "job_id": "G1"}))),
    Case("fal_standard", "GET", f"{FAL_URL}/fal-ai/fashn/requests/R1/status", lambda p: p.poll(TaskState("R1"))),
    Case("fashn", "GET", f"{FASHN_URL}/status/F1", lambda p: p.poll(TaskState("F1"))),
]
ids = [c.provider for c in SUBMITS]


def _raise(case: Case, settings: Settings, rsps: responses.RequestsMock) -> ProviderError:
    provider = make(case.provider, settings)
    with pytest.raises(ProviderError) as info:
        case.call(provider)
    return info.value


@pytest.mark.parametrize("case", SUBMITS, ids=ids)
def test_401_is_a_configuration_error_without_the_key(case: Case, settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    case.setup(mocked_responses)
    mocked_responses.add(case.method, case.url, status=401, json={"error": "UnauthorizedAccess", "message": "Unauthorized: Invalid token"})
    error = _raise(case, settings, mocked_responses)
    assert error.kind is ErrorKind.CONFIGURATION
    assert error.status_code == 401
    assert KEYS[case.provider] not in error.message
    assert f"PROVIDER_{case.provider.upper()}_KEY" in error.message


@pytest.mark.parametrize("case", SUBMITS, ids=ids)
def test_404_on_submit_is_a_configuration_error(case: Case, settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    case.setup(mocked_responses)
    mocked_responses.add(case.method, case.url, status=404, json={"error": "NotFound", "message": "no such model"})
    error = _raise(case, settings, mocked_responses)
    assert error.kind is ErrorKind.CONFIGURATION
    assert error.status_code == 404


@pytest.mark.parametrize("case", SUBMITS, ids=ids)
def test_429_is_quota_with_retry_after(case: Case, settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    case.setup(mocked_responses)
    mocked_responses.add(
        case.method, case.url, status=429, headers={"Retry-After": "17"},
        json={"error": "RateLimitExceeded", "message": "Too many requests"},
    )
    error = _raise(case, settings, mocked_responses)
    assert error.kind is ErrorKind.QUOTA
    assert error.retry_after == 17
    assert error.retryable


@pytest.mark.parametrize("case", SUBMITS, ids=ids)
@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_on_submit_is_technical_and_not_retried(case: Case, status: int, settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    case.setup(mocked_responses)
    upstream = mocked_responses.add(case.method, case.url, status=status, body="<html>Bad gateway</html>")
    error = _raise(case, settings, mocked_responses)
    assert error.kind is ErrorKind.TECHNICAL
    assert error.code == f"http_{status}"
    assert upstream.call_count == 1  # a POST is never repeated by the client


@pytest.mark.parametrize("case", SUBMITS, ids=ids)
def test_timeout_is_technical(case: Case, settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    case.setup(mocked_responses)
    mocked_responses.add(case.method, case.url, body=requests.exceptions.ReadTimeout("read timed out"))
    error = _raise(case, settings, mocked_responses)
    assert error.kind is ErrorKind.TECHNICAL
    assert error.code == "timeout"


@pytest.mark.parametrize("case", SUBMITS, ids=ids)
def test_malformed_json_is_technical(case: Case, settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    case.setup(mocked_responses)
    mocked_responses.add(case.method, case.url, status=200, body="{not json", content_type="application/json")
    error = _raise(case, settings, mocked_responses)
    assert error.kind is ErrorKind.TECHNICAL
    assert error.code == "malformed_response"


@pytest.mark.parametrize("case", SUBMITS, ids=ids)
def test_json_without_the_id_is_technical(case: Case, settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    case.setup(mocked_responses)
    mocked_responses.add(case.method, case.url, status=200, json={"unexpected": True})
    error = _raise(case, settings, mocked_responses)
    assert error.kind is ErrorKind.TECHNICAL
    assert error.code == "malformed_response"


@pytest.mark.parametrize("case", SUBMITS, ids=ids)
def test_every_call_sends_the_key_with_a_timeout(case: Case, settings: Settings, mocked_responses: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[object] = []
    original = requests.Session.request

    def spy(self: requests.Session, method: str, url: str, **kwargs: object) -> requests.Response:
        seen.append(kwargs.get("timeout"))
        return original(self, method, url, **kwargs)

    monkeypatch.setattr(requests.Session, "request", spy)
    case.setup(mocked_responses)
    mocked_responses.add(case.method, case.url, status=500, json={})
    _raise(case, settings, mocked_responses)
    assert seen and all(t == 5.0 for t in seen)
    sent = mocked_responses.calls[-1].request
    assert KEYS[case.provider] in " ".join(sent.headers.values())


@pytest.mark.parametrize("case", POLLS, ids=[c.provider for c in POLLS])
def test_poll_retries_a_transient_5xx_once(case: Case, settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    mocked_responses.add(case.method, case.url, status=503, body="unavailable")
    mocked_responses.add(case.method, case.url, status=503, body="unavailable")
    provider = make(case.provider, settings)
    with pytest.raises(ProviderError) as info:
        case.call(provider)
    assert info.value.kind is ErrorKind.TECHNICAL
    assert len(mocked_responses.calls) == 2  # the GET was tried twice, then given up


@pytest.mark.parametrize("case", POLLS, ids=[c.provider for c in POLLS])
def test_poll_404_is_technical(case: Case, settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    mocked_responses.add(case.method, case.url, status=404, json={"error": "NotFound", "message": "gone"})
    provider = make(case.provider, settings)
    with pytest.raises(ProviderError) as info:
        case.call(provider)
    assert info.value.kind is ErrorKind.TECHNICAL


@pytest.mark.parametrize("case", POLLS, ids=[c.provider for c in POLLS])
def test_poll_unknown_status_is_technical(case: Case, settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    body = {"status": "exploded"}
    if case.provider == "photogpt":
        body = {"result": {"jobId": "G1", "status": "exploded"}, "status": "OK"}
    mocked_responses.add(case.method, case.url, json=body)
    provider = make(case.provider, settings)
    with pytest.raises(ProviderError) as info:
        case.call(provider)
    assert info.value.code == "malformed_response"


def test_missing_key_is_a_configuration_error(settings: Settings) -> None:
    bare = settings.replace(provider_credentials={})
    for case in SUBMITS:
        provider = make(case.provider, bare)
        with pytest.raises(ProviderError) as info:
            case.call(provider)
        assert info.value.kind is ErrorKind.CONFIGURATION, case.provider


def test_statuses_map_to_the_internal_vocabulary() -> None:
    from shopify_app.providers import custom_models, fal_standard, fashn, generation_tools, photogpt, studio

    for table in (studio.STATUS, custom_models.STATUS, generation_tools.STATUS, photogpt.MODEL_STATUS,
                  photogpt.JOB_STATUS, fal_standard.STATUS, fashn.STATUS):
        assert set(table.values()) <= set(ProviderTaskStatus)
    assert set(fashn.STATUS) == {"starting", "in_queue", "processing", "completed", "failed", "canceled", "time_out"}
    assert set(generation_tools.STATUS) == {"pending", "complete", "error"}
    assert set(studio.STATUS) == {"NOT_STARTED", "IN_PROGRESS", "SUCCESS", "FAILURE"}
