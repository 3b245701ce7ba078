"""API keys: minted once, stored as a SHA-256, found by their prefix, compared in constant time.

A key reads `csk_<prefix>_<secret>`: the 12-hex-character prefix is stored in clear (unique, so
one indexed lookup finds the row) and the whole key only as its SHA-256. Keys are 256-bit random,
so a fast hash is the right tool (a slow password hash protects guessable secrets, not these).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.orm import Session

from shopify_app.models import ApiClient, Shop, utcnow

KEY_SCHEME = "csk"
_KEY = re.compile(r"^csk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
# Writing last_used_at on every call would make every read a write; once a minute is enough.
LAST_USED_RESOLUTION = dt.timedelta(seconds=60)
# Compared against when no row matches, so a miss costs what a hit costs.
TOUCH_GATE_PREFIX = "studio:apikey-used:"
_DUMMY_HASH = hashlib.sha256(b"no such key").hexdigest()


@dataclass(frozen=True)
class NewKey:
    client: ApiClient
    key: str  # shown once, never stored


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(
    session: Session, shop: Shop, name: str = "", rate_limit_per_minute: int | None = None
) -> NewKey:
    prefix = secrets.token_hex(6)
    key = f"{KEY_SCHEME}_{prefix}_{secrets.token_urlsafe(32)}"
    client = ApiClient(shop_id=shop.id, name=name[:120], key_prefix=prefix, key_hash=hash_key(key))
    if rate_limit_per_minute is not None:
        client.rate_limit_per_minute = rate_limit_per_minute
    session.add(client)
    session.flush()
    return NewKey(client=client, key=key)


def find_client(session: Session, key: str) -> ApiClient | None:
    """The client whose key this is, or None. Disabled clients are returned (the caller refuses)."""
    match = _KEY.match(key)
    client = None
    if match:
        client = session.scalar(select(ApiClient).where(ApiClient.key_prefix == match.group(1)))
    stored = client.key_hash if client is not None and client.key_hash else _DUMMY_HASH
    if not hmac.compare_digest(hash_key(key), stored) or client is None:
        return None
    return client


def touch(client: ApiClient, redis: Redis | None = None, now: dt.datetime | None = None) -> None:
    """Record use at most once per LAST_USED_RESOLUTION; the write rides the request's commit.

    The Redis gate lets one request per client and minute do the UPDATE: concurrent requests of
    one client would otherwise all update the same row and queue on its lock."""
    now = now or utcnow()
    if client.last_used_at is not None and now - client.last_used_at < LAST_USED_RESOLUTION:
        return
    if redis is not None:
        try:
            first = redis.set(f"{TOUCH_GATE_PREFIX}{client.id}", "1", nx=True,
                              ex=int(LAST_USED_RESOLUTION.total_seconds()))
        except RedisError:
            first = True
        if not first:
            return
    client.last_used_at = now
