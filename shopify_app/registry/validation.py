"""Seed 002's `HTTPValidationError`: `{"detail": [ValidationError]}`, each error with
`loc`, `msg`, `type`, `input` and `ctx`, as FastAPI renders pydantic errors."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import ValidationError


class RequestValidationFailed(Exception):
    """Answered with 422 and `{"detail": errors}`."""

    def __init__(self, errors: list[dict[str, Any]]):
        super().__init__(f"{len(errors)} validation error(s)")
        self.errors = errors


def error(loc: Sequence[str | int], msg: str, type_: str, input_: Any = None,
          ctx: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg, "type": type_, "input": jsonable(input_), "ctx": jsonable(ctx or {})}


def from_pydantic(exc: ValidationError, prefix: Iterable[str | int]) -> list[dict[str, Any]]:
    """Pydantic's errors re-rooted under `prefix` (e.g. ("body",) or ("query",))."""
    prefix = tuple(prefix)
    return [
        error((*prefix, *e["loc"]), e["msg"], e["type"], e.get("input"), e.get("ctx"))
        for e in exc.errors(include_url=False)
    ]


def jsonable(value: Any) -> Any:
    """Pydantic puts exception objects and the like in `ctx`; JSON gets their text."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return str(value)
