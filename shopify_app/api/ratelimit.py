"""Per-client rate limit: a sliding one-minute window in Redis, checked and counted atomically.

The window is a sorted set of request timestamps per client. One Lua script drops entries older
than the window, counts what is left and either records this request or answers how long until
the oldest entry leaves the window (the `Retry-After`). Running it as a script makes
check-and-count one step, so concurrent requests on several web processes cannot all slip under
the limit. Time comes from the Redis server, so web processes with skewed clocks agree.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from redis import Redis
from redis.commands.core import Script
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

WINDOW_MS = 60_000
KEY_PREFIX = "studio:ratelimit:"

# KEYS[1] the client's window; ARGV[1] limit, ARGV[2] window ms, ARGV[3] a unique member.
# Returns {allowed (1/0), remaining, retry_after_ms}.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, limit - count - 1, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local retry = window
if oldest[2] then retry = tonumber(oldest[2]) + window - now end
if retry < 1 then retry = 1 end
return {0, 0, retry}
"""


_script: Script | None = None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after_seconds: int


def check(redis: Redis, client_id: str, limit: int, request_id: str) -> Decision:
    """Count this request against `client_id`'s window. Fails open if Redis is unreachable:
    the limit protects capacity, and refusing every API call during a Redis blip would be worse."""
    if limit <= 0:
        return Decision(False, limit, 0, 60)
    global _script
    if _script is None:
        _script = redis.register_script(_SCRIPT)  # EVALSHA, loading the script when missing
    try:
        allowed, remaining, retry_ms = _script(
            keys=[KEY_PREFIX + client_id], args=[limit, WINDOW_MS, request_id], client=redis
        )
    except RedisError:
        log.exception("rate limit check failed; letting the request through")
        return Decision(True, limit, limit, 0)
    retry_after = max(1, math.ceil(int(retry_ms) / 1000)) if not allowed else 0
    return Decision(bool(allowed), limit, int(remaining), retry_after)
