"""Failed sign-in counters kept in Redis: per client IP, and per unknown e-mail address.

Per-account lockout lives on the StaffUser row (the database is the truth); these counters are
the cheap outer fence: an address that keeps failing is refused before any Argon2 work, and an
e-mail that matches no account locks exactly like a real one so lockout does not reveal which
accounts exist.
"""

from __future__ import annotations

import hashlib

from redis import Redis

WINDOW_SECONDS = 15 * 60
IP_MAX_FAILURES = 20


def _ip_key(ip: str) -> str:
    return f"studio:staff:signin:ip:{ip}"


def _email_key(email: str) -> str:
    digest = hashlib.sha256(email.encode()).hexdigest()[:32]
    return f"studio:staff:signin:email:{digest}"


def _bump(redis: Redis, key: str) -> int:
    pipe = redis.pipeline()
    pipe.incr(key)
    # The window starts at the first failure and is not extended by later ones.
    pipe.expire(key, WINDOW_SECONDS, nx=True)
    count, _ = pipe.execute()
    return int(count)


def _count(redis: Redis, key: str) -> int:
    return int(redis.get(key) or 0)


def ip_blocked(redis: Redis, ip: str) -> int:
    """Seconds until `ip` may try again, or 0."""
    if _count(redis, _ip_key(ip)) < IP_MAX_FAILURES:
        return 0
    return max(1, int(redis.ttl(_ip_key(ip))))


def record_ip_failure(redis: Redis, ip: str) -> int:
    return _bump(redis, _ip_key(ip))


def unknown_email_failures(redis: Redis, email: str) -> int:
    return _count(redis, _email_key(email))


def record_unknown_email_failure(redis: Redis, email: str) -> int:
    return _bump(redis, _email_key(email))


def unknown_email_retry_after(redis: Redis, email: str) -> int:
    return max(1, int(redis.ttl(_email_key(email))))
