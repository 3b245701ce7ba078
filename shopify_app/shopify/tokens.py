"""Offline access tokens: install by token exchange, and refresh before expiry.

Shops get *expiring* offline tokens (60 min, with a 90-day refresh token that rotates on every
use). Two rules shape this module:

- A refresh is committed in its own short transaction, not the caller's. Once Shopify has
  rotated the pair, the new pair must survive whatever the caller's unit of work does next (a
  rollback would otherwise lose it).
- Refreshes of one shop are serialised: on PostgreSQL by `SELECT … FOR UPDATE` on the shop row,
  elsewhere (SQLite) by a Redis lock. After taking the lock the row is read again: if another
  worker refreshed meanwhile, its token is used and Shopify is not called a second time, so two
  workers end with one valid pair.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
from flask import current_app
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from shopify_app import credits, db
from shopify_app.models import Shop, utcnow
from shopify_app.queues import get_broker
from shopify_app.settings import Settings
from shopify_app.shopify import sdk
from shopify_app.shopify.sdk import TokenGrant, TokenRequestError

log = logging.getLogger(__name__)

# Refresh this long before the access token expires, so a call never starts with a token that
# dies in flight.
REFRESH_MARGIN = dt.timedelta(minutes=5)
# A refresh waits at most this long for another worker's refresh of the same shop.
LOCK_WAIT_SECONDS = 30
_TOKEN_FIELDS = ("access_token", "access_token_expires_at", "refresh_token",
                 "refresh_token_expires_at", "scopes")


class ReauthorizationRequired(Exception):
    """The shop has no usable token and none can be obtained without the merchant (open the app)."""

    def __init__(self, shop_domain: str, reason: str):
        super().__init__(f"{shop_domain} must be re-authorised: {reason}")
        self.shop_domain = shop_domain
        self.reason = reason


def _settings() -> Settings:
    return current_app.config["STUDIO_SETTINGS"]


def http_client_for(shop_domain: str) -> httpx.Client:
    """The client token calls use (the dev shop is served in-process by the transport)."""
    from shopify_app.shopify.transport import httpx_client_for

    return httpx_client_for(shop_domain)


# Tests replace this to count and shape token-endpoint calls.
_client_factory: Callable[[str], httpx.Client] = http_client_for


# --------------------------------------------------------------------------- lookups


def shop_by_domain(session: Session, domain: str) -> Shop | None:
    return session.scalar(select(Shop).where(Shop.domain == domain))


def has_usable_token(shop: Shop, now: dt.datetime | None = None) -> bool:
    """A token we can use now or after a refresh (no merchant round trip needed)."""
    now = now or utcnow()
    if not shop.access_token or shop.uninstalled_at is not None:
        return False
    if shop.access_token_expires_at is None or shop.access_token_expires_at > now:
        return True
    return bool(shop.refresh_token) and (
        shop.refresh_token_expires_at is None or shop.refresh_token_expires_at > now
    )


# --------------------------------------------------------------------------- install


def install_from_session_token(session: Session, shop_domain: str, id_token: str,
                               claims: dict[str, object]) -> Shop:
    """Exchange a verified session token for an expiring offline token and record the install.

    Raises TokenRequestError when Shopify refuses (e.g. `invalid_subject_token` for a stale token,
    or the app is no longer installed)."""
    with _client_factory(shop_domain) as client:
        grant = sdk.exchange_id_token(_settings(), id_token, claims, client)
    if grant.shop != shop_domain:
        raise TokenRequestError("shop_mismatch", 401, "token exchange answered for another shop")
    return record_grant(session, grant)


def record_grant(session: Session, grant: TokenGrant) -> Shop:
    """Create or update the shop with a new token pair, in the caller's transaction.

    The first install creates the row and grants the starter credits; a re-install clears
    `uninstalled_at`. Two first requests at once: one insert wins, the other updates."""
    shop = session.scalar(select(Shop).where(Shop.domain == grant.shop).with_for_update())
    created = False
    if shop is None:
        try:
            with session.begin_nested():
                shop = Shop(domain=grant.shop, installed_at=utcnow())
                _apply_grant(shop, grant)
                session.add(shop)
            created = True
        except IntegrityError:
            # Another request installed the same shop a moment ago.
            shop = session.scalar(select(Shop).where(Shop.domain == grant.shop).with_for_update())
            if shop is None:
                raise
    if not created:
        if shop.uninstalled_at is not None:
            shop.uninstalled_at = None
            shop.installed_at = utcnow()
            log.info("shop re-installed: %s", shop.domain)
        _apply_grant(shop, grant)
    session.flush()
    if created:
        settings = _settings()
        if settings.starter_credits > 0:
            credits.grant(session, shop.id, settings.starter_credits, "starter credits")
        log.info("shop installed: %s", shop.domain)
    return shop


def _apply_grant(shop: Shop, grant: TokenGrant) -> None:
    shop.access_token = grant.access_token
    shop.access_token_expires_at = grant.expires_at
    shop.refresh_token = grant.refresh_token
    shop.refresh_token_expires_at = grant.refresh_token_expires_at
    shop.scopes = grant.scope


def clear_tokens(shop: Shop) -> None:
    """Forget the shop's tokens (uninstall); the next embedded visit exchanges again."""
    shop.access_token = None
    shop.access_token_expires_at = None
    shop.refresh_token = None
    shop.refresh_token_expires_at = None


# --------------------------------------------------------------------------- access tokens


def access_token_for(session: Session, shop: Shop) -> str:
    """A valid access token for `shop`, refreshed first when it expires within REFRESH_MARGIN."""
    if shop.uninstalled_at is not None:
        raise ReauthorizationRequired(shop.domain, "the app is uninstalled")
    if not shop.access_token:
        raise ReauthorizationRequired(shop.domain, "no access token")
    if shop.access_token_expires_at is None or shop.access_token_expires_at > utcnow() + REFRESH_MARGIN:
        return shop.access_token
    return _refresh(session, shop, rejected_token=None)


def force_refresh(session: Session, shop: Shop) -> str:
    """Refresh now because Shopify answered 401 to `shop.access_token` (one retry per call).

    If another worker already replaced that token, its replacement is returned instead."""
    return _refresh(session, shop, rejected_token=shop.access_token or "")


def _refresh(session: Session, shop: Shop, rejected_token: str | None) -> str:
    database = db.get_database()
    own = database.sessionmaker()
    try:
        with _shop_lock(own, shop.id):
            current = own.scalar(select(Shop).where(Shop.id == shop.id).with_for_update())
            if current is None:
                raise ReauthorizationRequired(shop.domain, "the shop was deleted")
            now = utcnow()
            if current.uninstalled_at is not None or not current.access_token:
                raise ReauthorizationRequired(shop.domain, "the app is uninstalled")
            # Re-read after the lock: another worker may have refreshed while we waited.
            if rejected_token is None:
                fresh = (current.access_token_expires_at is None
                         or current.access_token_expires_at > now + REFRESH_MARGIN)
            else:
                fresh = current.access_token != rejected_token
            if not fresh:
                if not current.refresh_token:
                    raise ReauthorizationRequired(shop.domain, "the token cannot be refreshed")
                if current.refresh_token_expires_at and current.refresh_token_expires_at <= now:
                    clear_tokens(current)
                    own.commit()
                    raise ReauthorizationRequired(shop.domain, "the refresh token has expired")
                try:
                    with _client_factory(current.domain) as client:
                        grant = sdk.refresh_access_token(
                            _settings(), current.domain, current.refresh_token,
                            current.refresh_token_expires_at, client,
                        )
                except TokenRequestError as exc:
                    if 400 <= exc.status < 500:
                        # Shopify refused the refresh token itself: only the merchant can fix it.
                        clear_tokens(current)
                        own.commit()
                        raise ReauthorizationRequired(shop.domain, exc.code) from exc
                    raise
                _apply_grant(current, grant)
                if not grant.scope:
                    current.scopes = shop.scopes
                log.info("access token refreshed for %s", current.domain)
            values = {name: getattr(current, name) for name in _TOKEN_FIELDS}
            # The new pair is written in one UPDATE and committed here, before anything else.
            own.commit()
    except BaseException:
        own.rollback()
        raise
    finally:
        own.close()
    # Show the committed pair to the caller's object without marking it dirty.
    for name, value in values.items():
        set_committed_value(shop, name, value)
    assert shop.access_token is not None
    return shop.access_token


@contextmanager
def _shop_lock(own: Session, shop_id: str) -> Iterator[None]:
    """PostgreSQL: the row lock taken by the SELECT … FOR UPDATE that follows, with a timeout so
    a caller holding the row itself fails clearly instead of waiting forever. Other databases
    (SQLite ignores FOR UPDATE): a Redis lock per shop around the read-refresh-write."""
    if own.get_bind().dialect.name == "postgresql":
        own.execute(text(f"SET LOCAL lock_timeout = '{LOCK_WAIT_SECONDS}s'"))
        yield
        return
    lock = get_broker().redis.lock(
        f"studio:token-refresh:{shop_id}", timeout=LOCK_WAIT_SECONDS * 2,
        blocking_timeout=LOCK_WAIT_SECONDS,
    )
    if not lock.acquire():
        raise TimeoutError(f"another worker is refreshing the token of shop {shop_id}")
    try:
        yield
    finally:
        try:
            lock.release()
        except Exception:  # expired meanwhile: nothing to release
            log.warning("token refresh lock for %s had expired", shop_id)


__all__ = [
    "REFRESH_MARGIN", "ReauthorizationRequired", "access_token_for", "clear_tokens",
    "force_refresh", "has_usable_token", "install_from_session_token", "record_grant",
    "shop_by_domain",
]
