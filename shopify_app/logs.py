"""Structured logs: one JSON object a line, carrying the request id, shop and job id.

Context travels in contextvars set by the request hooks and the job wrapper, so every line
written while handling a request or a job carries it without being passed around. A redaction
step runs on every record: Shopify tokens, bearer credentials, session tokens and the configured
secrets are masked before a line is written.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
import sys
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
shop_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("shop", default=None)
job_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)

MASK = "[REDACTED]"

# Shapes of credentials that may appear in messages, URLs or exception text.
_PATTERNS = [
    re.compile(r"\bshp(?:at|ca|pa|ss|ua|rt)_[A-Za-z0-9]{8,}"),  # Shopify access/refresh tokens
    re.compile(r"(?i)\b(bearer|key|token)\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),  # JWTs
    re.compile(
        r"(?i)((?:access_token|refresh_token|client_secret|id_token|password|api_key|"
        r"subject_token|authorization|hmac)[\"']?\s*[:=]\s*[\"']?)[^\"'&\s,}]+"
    ),
]


class Redactor:
    def __init__(self) -> None:
        self._literals: set[str] = set()

    def add_secrets(self, values: Iterable[str]) -> None:
        # Short strings would mask innocent text; every real secret here is long.
        self._literals.update(v for v in values if v and len(v) >= 8)

    def __call__(self, text: str) -> str:
        for literal in self._literals:
            if literal in text:
                text = text.replace(literal, MASK)
        for pattern in _PATTERNS:
            text = pattern.sub(_mask_match, text)
        return text


def _mask_match(match: re.Match[str]) -> str:
    if match.re.groups:
        prefix = match.group(1)
        if prefix.lower() in ("bearer", "key", "token"):
            return f"{prefix} {MASK}"
        return f"{prefix}{MASK}"
    return MASK


redact = Redactor()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, var in (("request_id", request_id_var), ("shop", shop_var), ("job_id", job_id_var)):
            value = var.get()
            if value:
                entry[key] = value
        extra = getattr(record, "data", None)
        if isinstance(extra, dict):
            entry.update(extra)
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        if record.exc_text:
            entry["exc"] = record.exc_text
        return redact(json.dumps(entry, default=str))


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        context = " ".join(
            f"{k}={v.get()}"
            for k, v in (("request_id", request_id_var), ("shop", shop_var), ("job", job_id_var))
            if v.get()
        )
        line = super().format(record)
        return redact(f"{line} {context}".rstrip())


_base_factory = logging.getLogRecordFactory()


def _redacting_record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """Redact when the record is made, so no handler (ours, gunicorn's, a test's) sees a secret."""
    record = _base_factory(*args, **kwargs)
    try:
        message = record.getMessage()
    except Exception:  # a bad format string must not lose the line
        message = f"{record.msg!r} {record.args!r}"
    record.msg = redact(message)
    record.args = None
    if record.exc_info and not record.exc_text:
        record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip())
    return record


def configure_logging(level: str, json_lines: bool, secrets: Iterable[str] = ()) -> None:
    redact.add_secrets(secrets)
    logging.setLogRecordFactory(_redacting_record_factory)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_studio", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._studio = True  # type: ignore[attr-defined]
    handler.setFormatter(
        JsonFormatter() if json_lines else TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(level)
    # Libraries that log request URLs (with query strings) stay at WARNING.
    for noisy in ("urllib3", "httpx", "httpcore", "werkzeug"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


@contextmanager
def log_context(**values: str | None) -> Iterator[None]:
    tokens = []
    for key, value in values.items():
        var = {"request_id": request_id_var, "shop": shop_var, "job_id": job_id_var}[key]
        tokens.append((var, var.set(value)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)
