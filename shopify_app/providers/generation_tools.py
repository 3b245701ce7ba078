"""A tool-based generation API (seed 003): try-on through the `fashion_swap` tool.

`GET /generation/tools` (cached, refreshed every `tools_cache_seconds`) says which tools exist;
`GET /generation/generationTypes?tool=` lists a tool's generation types; multipart
`POST /generation/generate_image_v2/` (`tool`, `clothes`, `person`) answers
`{preview_image, stock_image, history_item_id}`; `GET /user/generation-history/{id}` answers
`{status: pending | complete | error, preview_url, stock_url}`. Polls back off 2 s, 4 s, 8 s…
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

from shopify_app.models.enums import ProviderTaskStatus
from shopify_app.providers.base import (
    Capability,
    ConfigurationError,
    GenerationOptions,
    ImageInput,
    OutputImage,
    PollResult,
    Submitted,
    TaskState,
    TechnicalError,
)
from shopify_app.providers.config import GenerationToolsConfig
from shopify_app.providers.http import require
from shopify_app.providers.remote import RemoteProvider, require_bytes

STATUS = {
    "pending": ProviderTaskStatus.RUNNING,
    "complete": ProviderTaskStatus.SUCCEEDED,
    "error": ProviderTaskStatus.FAILED,
}


class ToolCache:
    """Tool lists per API root, refreshed when older than the configured age (per process:
    a stale list costs one extra GET, never a wrong answer for long)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, Any]] = {}

    def get(self, key: str, max_age: float, load: Callable[[], Any]) -> Any:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and self.clock() - entry[0] < max_age:
                return entry[1]
        value = load()
        with self._lock:
            self._entries[key] = (self.clock(), value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


tool_cache = ToolCache()


class GenerationToolsProvider(RemoteProvider):
    type: ClassVar[str] = "generation_tools"
    capabilities = frozenset({Capability.TRY_ON})
    config: GenerationToolsConfig

    def tools(self) -> list[dict[str, Any]]:
        def load() -> list[dict[str, Any]]:
            answer = self.client.request("GET", "/generation/tools")
            if not isinstance(answer, list):
                raise TechnicalError("the tool list is not a list", code="malformed_response", provider=self.type)
            return [t for t in answer if isinstance(t, dict) and t.get("tool")]

        return tool_cache.get(f"{self.client.base_url}|tools", self.config.tools_cache_seconds, load)  # type: ignore[no-any-return]

    def generation_types(self, tool: str) -> list[Any]:
        def load() -> list[Any]:
            answer = self.client.request("GET", "/generation/generationTypes", params={"tool": tool})
            items = answer.get("items") if isinstance(answer, dict) else answer
            if not isinstance(items, list):
                raise TechnicalError("the generation types are not a list", code="malformed_response", provider=self.type)
            return items

        key = f"{self.client.base_url}|types|{tool}"
        return tool_cache.get(key, self.config.tools_cache_seconds, load)  # type: ignore[no-any-return]

    def _generation_type_id(self, tool: str) -> str | None:
        wanted = self.config.generation_type
        if not wanted:
            return None
        for item in self.generation_types(tool):
            if isinstance(item, dict):
                names = {str(item.get(k)) for k in ("id", "name", "title", "generation_type", "slug") if item.get(k)}
                if wanted in names:
                    return str(item.get("id") or wanted)
            elif str(item) == wanted:
                return wanted
        raise ConfigurationError(
            f"generation type {wanted!r} is not offered for tool {tool!r}",
            code="unknown_generation_type",
            provider=self.type,
        )

    def submit_try_on(
        self, person_image: ImageInput, garment_image: ImageInput, options: GenerationOptions
    ) -> Submitted:
        tool = self.config.tool
        if tool not in {t["tool"] for t in self.tools()}:
            raise ConfigurationError(
                f"the provider does not offer the tool {tool!r}", code="unknown_tool", provider=self.type
            )
        form: dict[str, Any] = {"tool": tool}
        generation_type = self._generation_type_id(tool)
        if generation_type:
            form["generation_type"] = generation_type
        files = {
            "clothes": (f"clothes.{garment_image.extension}", require_bytes(self.type, garment_image), garment_image.content_type),
            "person": (f"person.{person_image.extension}", require_bytes(self.type, person_image), person_image.content_type),
        }
        answer = self.client.request(
            "POST",
            "/generation/generate_image_v2/",
            data=form,
            files=files,
            summary={**form, "clothes": f"<{len(files['clothes'][1])} bytes>", "person": f"<{len(files['person'][1])} bytes>"},
        )
        history_id = require(answer, "history_item_id", provider=self.type)
        return self.submitted(history_id, {"tool": tool}, self.config.poll_initial_seconds)

    def _backoff(self, polls: int) -> float:
        # 2 s, 4 s, 8 s… after the 1st, 2nd, 3rd poll, capped.
        return min(self.config.poll_initial_seconds * (2 ** (polls + 1)), self.config.poll_max_seconds)

    def poll(self, task: TaskState) -> PollResult:
        answer = self.client.request("GET", f"/user/generation-history/{task.upstream_id}", not_found=TechnicalError)
        raw = str(require(answer, "status", provider=self.type))
        status = STATUS.get(raw)
        if status is None:
            raise TechnicalError(f"unknown generation status {raw!r}", code="malformed_response", provider=self.type)
        summary = {"status": raw}
        if status is ProviderTaskStatus.SUCCEEDED:
            urls = {k: answer.get(k) for k in ("stock_url", "preview_url") if isinstance(answer.get(k), str)}
            if not urls:
                raise TechnicalError("generation complete without a result url", code="malformed_response", provider=self.type)
            return PollResult(status=status, progress=100, state={**task.data, **urls}, response_summary=summary)
        if status is ProviderTaskStatus.FAILED:
            reason = answer.get("error") or answer.get("message") or "the generation ended with an error"
            # The API does not say why; treat it as the upstream's pipeline failing (retry, fallback).
            return PollResult(
                status=status,
                error=TechnicalError(f"generation error: {str(reason)[:200]}", code="upstream_failed", provider=self.type),
                response_summary=summary,
            )
        return PollResult(status=status, next_poll_in=self._backoff(task.polls), response_summary=summary)

    def fetch_outputs(self, task: TaskState) -> list[OutputImage]:
        preferred = "stock_url" if self.config.output == "stock" else "preview_url"
        path = task.data.get(preferred) or task.data.get("stock_url") or task.data.get("preview_url")
        if not path:
            result = self.poll(task)
            data = result.state or {}
            path = data.get(preferred) or data.get("stock_url") or data.get("preview_url")
        if not path:
            raise TechnicalError("no result url for this generation", code="no_outputs", provider=self.type)
        # Result paths are relative to the API root ("/image/generation_result/stock.png").
        url = path if str(path).startswith("https://") else self.client.url(str(path))
        return [OutputImage(url=url)]
