"""Who is calling: a Bearer API key, or (on workflow POSTs) a Shopify Flow action signature.

Verification returns a `Caller` or raises `ApiError`: 401 for missing, unknown or disabled
credentials and bad signatures, 403 when the shop has uninstalled the app. The handler never
sees an unauthenticated request.
"""

from __future__ import annotations

from flask import current_app, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from shopify_app.api import flow, keys, ratelimit
from shopify_app.api.context import ApiCall, ApiError, Caller
from shopify_app.models import Shop
from shopify_app.queues import get_broker
from shopify_app.requestctx import bind_shop

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="catalog-studio"'}


def authenticate(session: Session, call: ApiCall, allow_flow: bool = False) -> Caller:
    authorization = request.headers.get("Authorization", "")
    if authorization:
        caller = _from_api_key(session, authorization)
    elif allow_flow and flow.is_flow_request(request.headers):
        caller, action = _from_flow(session)
        call.flow_action = action
    else:
        raise ApiError(
            401,
            "authentication required: send `Authorization: Bearer <API key>`"
            + (" or a Shopify Flow action signed with X-Shopify-Hmac-Sha256" if allow_flow else ""),
            headers=_CHALLENGE,
        )
    call.caller = caller
    call.auth_kind = caller.kind
    call.shop_id = caller.shop.id
    bind_shop(caller.shop.domain)
    if caller.shop.uninstalled_at is not None:
        raise ApiError(403, f"{caller.shop.domain} has uninstalled Catalog Studio")
    return caller


def _from_api_key(session: Session, authorization: str) -> Caller:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "the Authorization header must be `Bearer <API key>`", headers=_CHALLENGE)
    client = keys.find_client(session, token.strip())
    if client is None:
        raise ApiError(401, "invalid API key", headers=_CHALLENGE)
    if client.disabled_at is not None:
        raise ApiError(401, "this API key has been disabled", headers=_CHALLENGE)
    shop = session.get(Shop, client.shop_id)
    if shop is None:  # cascades make this unreachable; refuse rather than assume
        raise ApiError(401, "invalid API key", headers=_CHALLENGE)
    keys.touch(client, get_broker().redis)
    return Caller(shop=shop, client=client, kind="api_key")


def _from_flow(session: Session) -> tuple[Caller, flow.FlowAction]:
    settings = current_app.config["STUDIO_SETTINGS"]
    try:
        action = flow.verify(settings, request.method, request.headers, request.get_data(cache=True))
    except flow.FlowRefused as exc:
        raise ApiError(exc.status, exc.message, headers=_CHALLENGE if exc.status == 401 else {}) from None
    shop = session.scalar(select(Shop).where(Shop.domain == action.shop_domain))
    if shop is None:
        raise ApiError(401, f"{action.shop_domain} has not installed Catalog Studio", headers=_CHALLENGE)
    client = flow.flow_client(session, shop)
    if client.disabled_at is not None:
        raise ApiError(401, "Shopify Flow actions are disabled for this shop", headers=_CHALLENGE)
    keys.touch(client, get_broker().redis)
    return Caller(shop=shop, client=client, kind="flow"), action


def enforce_rate_limit(caller: Caller, request_id: str) -> None:
    decision = ratelimit.check(
        get_broker().redis, caller.client.id, caller.client.rate_limit_per_minute, request_id
    )
    if not decision.allowed:
        raise ApiError(
            429,
            f"rate limit of {decision.limit} requests per minute exceeded; "
            f"retry in {decision.retry_after_seconds} s",
            headers={"Retry-After": str(decision.retry_after_seconds),
                     "X-RateLimit-Limit": str(decision.limit), "X-RateLimit-Remaining": "0"},
        )
