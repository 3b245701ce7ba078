"""Upstream request/response summaries as support may see them: secrets masked."""

from __future__ import annotations

import re
from typing import Any

from shopify_app.logs import MASK, redact

# Keys whose values are credentials whatever they look like.
_SECRET_KEY = re.compile(
    r"(?i)(authorization|api[-_]?key|secret|password|passwd|token|cookie|signature|hmac|"
    r"credential|private[-_]?key|x-[a-z-]*key)"
)
MAX_STRING = 2_000


def redact_value(value: Any, depth: int = 0) -> Any:
    if depth > 12:
        return "…"
    if isinstance(value, dict):
        return {
            str(k): (MASK if _SECRET_KEY.search(str(k)) and v not in (None, "") else redact_value(v, depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact_value(v, depth + 1) for v in value[:200]]
    if isinstance(value, str):
        text = redact(value)
        return text if len(text) <= MAX_STRING else text[:MAX_STRING] + "…"
    return value
