from __future__ import annotations

import pytest
import responses

from shopify_app.models.enums import ProviderTaskStatus
from shopify_app.providers import generation_tools
from shopify_app.providers.base import ErrorKind, ImageInput, ProviderError, TaskState
from shopify_app.settings import Settings
from tests.providers.conftest import GENERATION_TOOLS_URL, KEYS, OPTIONS, fixture, garment, make, person

TOOLS = f"{GENERATION_TOOLS_URL}/generation/tools"
GENERATE = f"{GENERATION_TOOLS_URL}/generation/generate_image_v2/"
HISTORY = f"{GENERATION_TOOLS_URL}/user/generation-history/gfd41688fhgf"


def test_fashion_swap_lifecycle_with_backoff(settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    mocked_responses.get(TOOLS, json=fixture("generation_tools", "tools"))
    generate = mocked_responses.post(GENERATE, json=fixture("generation_tools", "generate"))
    for _ in range(3):
        mocked_responses.get(HISTORY, json=fixture("generation_tools", "history_pending"))
    mocked_responses.get(HISTORY, json=fixture("generation_tools", "history_complete"))
    provider = make("generation_tools", settings)

    submitted = provider.submit_try_on(person(), garment(), OPTIONS)
    assert submitted.upstream_id == "gfd41688fhgf"
    assert submitted.next_poll_in == 2.0
    sent = generate.calls[0].request
    assert sent.headers["Authorization"] == f"Bearer {KEYS['generation_tools']}"
    assert sent.headers["Content-Type"].startswith("multipart/form-data")
    body = sent.body
    assert b'name="tool"\r\n\r\nfashion_swap' in body
    assert b'name="clothes"; filename="clothes.png"' in body
    assert b'name="person"; filename="person.png"' in body

    task = TaskState(submitted.upstream_id, submitted.state)
    delays = []
    while True:
        result = provider.poll(task)
        task.polls += 1
        if result.status is ProviderTaskStatus.SUCCEEDED:
            task.data = result.state or task.data
            break
        assert result.status is ProviderTaskStatus.RUNNING
        delays.append(result.next_poll_in)
    # submit → 2 s, then 4 s, 8 s, 16 s: backoff as the seed advises.
    assert delays == [4.0, 8.0, 16.0]
    [output] = provider.fetch_outputs(task)
    assert output.url == f"{GENERATION_TOOLS_URL}/image/generation_result/stock.png"


def test_tool_list_is_cached_then_refreshed(settings: Settings, mocked_responses: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(generation_tools.tool_cache, "clock", lambda: now[0])
    tools = mocked_responses.get(TOOLS, json=fixture("generation_tools", "tools"))
    mocked_responses.post(GENERATE, json=fixture("generation_tools", "generate"))
    provider = make("generation_tools", settings, tools_cache_seconds=60)
    provider.submit_try_on(person(), garment(), OPTIONS)
    provider.submit_try_on(person(), garment(), OPTIONS)
    assert tools.call_count == 1
    now[0] += 61
    provider.submit_try_on(person(), garment(), OPTIONS)
    assert tools.call_count == 2


def test_unknown_tool_is_configuration(settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    mocked_responses.get(TOOLS, json=fixture("generation_tools", "tools"))
    with pytest.raises(ProviderError) as info:
        make("generation_tools", settings, tool="virtual_tryon_9000").submit_try_on(person(), garment(), OPTIONS)
    assert info.value.kind is ErrorKind.CONFIGURATION and info.value.code == "unknown_tool"


def test_generation_type_is_looked_up_for_the_tool(settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    mocked_responses.get(TOOLS, json=fixture("generation_tools", "tools"))
    types = mocked_responses.get(
        f"{GENERATION_TOOLS_URL}/generation/generationTypes",
        json=[{"id": "3fbc2c6e-45a1-47f9-bc22-cc3b93e5b243", "name": "full_body"}],
    )
    generate = mocked_responses.post(GENERATE, json=fixture("generation_tools", "generate"))
    make("generation_tools", settings, generation_type="full_body").submit_try_on(person(), garment(), OPTIONS)
    assert types.calls[0].request.url.endswith("?tool=fashion_swap")
    assert b"3fbc2c6e-45a1-47f9-bc22-cc3b93e5b243" in generate.calls[0].request.body


def test_error_status_is_a_technical_failure(settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    mocked_responses.get(HISTORY, json=fixture("generation_tools", "history_error"))
    result = make("generation_tools", settings).poll(TaskState("gfd41688fhgf"))
    assert result.status is ProviderTaskStatus.FAILED
    assert result.error is not None and result.error.kind is ErrorKind.TECHNICAL


def test_url_images_are_refused_before_any_upload(settings: Settings, mocked_responses: responses.RequestsMock) -> None:
    mocked_responses.get(TOOLS, json=fixture("generation_tools", "tools"))
    with pytest.raises(ProviderError) as info:
        make("generation_tools", settings).submit_try_on(ImageInput(url="https://cdn.test/p.jpg"), garment(), OPTIONS)
    assert info.value.kind is ErrorKind.CONFIGURATION
