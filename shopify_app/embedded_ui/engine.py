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


class EngineUnavailable(Exception):
    """The workflow engine does not provide `name` (not installed in this build)."""

    def __init__(self, name: str):
        super().__init__(f"{ENGINE_MODULE}.{name} is not available")
        self.name = name


def function(name: str) -> Callable[..., Any]:
    try:
        module = importlib.import_module(ENGINE_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != ENGINE_MODULE:
            raise  # a broken engine is an error, not a missing one
        raise EngineUnavailable(name) from None
    found = getattr(module, name, None)
    if not callable(found):
        raise EngineUnavailable(name)
    return found  # type: ignore[no-any-return]
