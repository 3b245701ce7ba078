"""The review actions of the workflow engine, as the embedded UI calls them.

The engine (`shopify_app.workflows.review`, issue 5) owns what approving, regenerating,
publishing and undoing *mean* (which jobs they create, what a direct-publish shop does, what
can be undone). This module only looks those functions up by name, so the UI's endpoints depend
on one small surface, and answers 503 with a plain sentence while the engine is not installed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

ENGINE_MODULE = "shopify_app.workflows.review"


class EngineRefused(Exception):
    """The engine refused the action (its `ReviewError`): `status` and a sentence to show."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class EngineUnavailable(Exception):
    """The workflow engine does not provide `name` (not installed in this build)."""

    def __init__(self, name: str):
        super().__init__(f"{ENGINE_MODULE}.{name} is not available")
        self.name = name


def _module() -> Any:
    try:
        return importlib.import_module(ENGINE_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != ENGINE_MODULE:
            raise  # a broken engine is an error, not a missing one
        return None


def call(name: str, *args: Any, **kwargs: Any) -> Any:
    """`shopify_app.workflows.review.<name>(*args, **kwargs)`; its ReviewError becomes
    EngineRefused, a missing function EngineUnavailable."""
    module = _module()
    found: Callable[..., Any] | None = getattr(module, name, None) if module is not None else None
    if not callable(found):
        raise EngineUnavailable(name)
    refusal = getattr(module, "ReviewError", None)
    try:
        return found(*args, **kwargs)
    except Exception as exc:
        if isinstance(refusal, type) and isinstance(exc, refusal):
            raise EngineRefused(int(getattr(exc, "status", 409)), str(getattr(exc, "message", exc))) from exc
        raise
