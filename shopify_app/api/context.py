"""What one /v1 call knows about itself, kept on `g.api_call`, and the error it may raise.

Handlers raise `ApiError`; the blueprint renders it as JSON. The request log hook
(`requestlog.py`) reads `ApiCall` to write the call's row whatever the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import g

from shopify_app.models import ApiClient, RequestLog, Shop

if TYPE_CHECKING:
    from shopify_app.api.flow import FlowAction


@dataclass
class Caller:
    shop: Shop
    client: ApiClient
    kind: str  # "api_key" | "flow"


@dataclass
class ApiCall:
    caller: Caller | None = None
    auth_kind: str = "none"
    shop_id: str | None = None  # also set for unauthenticated signed-file downloads
    job_id: str | None = None
    body_sha256: str | None = None
    # Keep the response body on the log row (workflow submissions: what a replay answers).
    store_body: bool = False
    # The row inserted up front to claim an Idempotency-Key (completed after the response).
    claimed_row: RequestLog | None = None
    note: str | None = None
    flow_action: FlowAction | None = None


def current_call() -> ApiCall:
    call = g.get("api_call")
    if call is None:
        call = g.api_call = ApiCall()
    return call


@dataclass
class ApiError(Exception):
    """An error answer: `detail` is a sentence, or the list of a 422's validation errors."""

    status: int
    detail: str | list[dict[str, Any]]
    headers: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status}: {self.detail}"


def validation_error(loc: list[str | int], msg: str, type_: str = "value_error") -> ApiError:
    return ApiError(422, [{"loc": loc, "msg": msg, "type": type_}])
