"""A throttle-aware Admin GraphQL client, one per shop.

- Pinned API version (`settings.shopify_api_version`), token sent as `X-Shopify-Access-Token`.
- Shopify's GraphQL rate limit is a leaky bucket per app and store. Many workers share one
  shop's bucket, so before each call the client reserves the points it expects to spend from a
  mirror of that bucket in Redis (`CostBudget`, a Lua script keyed by shop) and waits when the
  mirror says the points aren't there; every response's `extensions.cost.throttleStatus` corrects
  the mirror. That keeps a fleet of workers from stampeding a shop into THROTTLED answers.
- THROTTLED (HTTP 200, `errors[].extensions.code`) waits `(requested - available) / restoreRate`
  and retries; 429 waits `Retry-After`; 5xx and connection errors back off exponentially.
- A request Shopify may have executed before failing (5xx, read timeout) is retried only when the
  caller says the operation is idempotent; otherwise `AdminAmbiguousError` tells the caller to
  reconcile first (media publishing does).
- A client waits at most `max_wait` seconds in all, over every call it makes (a client lives for
  one job step or one web request); a wait that would go past it raises `AdminRetryLater(delay)`
  instead of holding the worker: the RQ step reschedules itself with `enqueue_in`. Job steps get
  `STEP_MAX_WAIT`, none: steps never sleep in a worker for Shopify (a worker asleep there renders
  nothing while it waits).
- 401: one token refresh (`on_unauthorized`), then `AdminAuthError`.
- `userErrors` / `mediaUserErrors` in a mutation payload raise `AdminUserError`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import requests
from redis import Redis

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from shopify_app.models import Shop
    from shopify_app.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_QUERY_COST = 50
DEFAULT_MUTATION_COST = 10
# Until a shop's first answer tells us its bucket, assume the smallest one documented.
DEFAULT_BUCKET_MAX = 1000.0
DEFAULT_RESTORE_RATE = 50.0
# How long an Admin client built for a job step may wait in all (the shop's bucket, Retry-After,
# backoff) before it hands the wait back to the scheduler: not at all. Half a second per step
# looked harmless, but a shoot publishing at a Standard shop's pace runs its push steps again and
# again, and those half seconds added up to a third of the workers' time asleep.
STEP_MAX_WAIT = 0.0


# ----------------------------------------------------------------------------- errors

class AdminError(Exception):
    """Base class of Admin API failures."""


class AdminHTTPError(AdminError):
    """A non-retryable HTTP answer (400, 402 shop frozen, 403, 404, 423 locked...)."""

    def __init__(self, status: int, body: str):
        super().__init__(f"Shopify Admin API answered HTTP {status}: {body[:200]}")
        self.status = status
        self.body = body


class AdminAuthError(AdminHTTPError):
    """401 even after one token refresh."""


class AdminTransientError(AdminError):
    """Retries exhausted on 429/5xx/THROTTLED/connection errors; safe to try again later."""


class AdminAmbiguousError(AdminTransientError):
    """A non-idempotent operation failed in a way that does not say whether Shopify applied it
    (5xx, read timeout). Reconcile with Shopify's state before trying again."""


class AdminRetryLater(AdminTransientError):
    """The next attempt should wait `delay` seconds, longer than this call may block a worker.

    Never raised once a non-idempotent operation may have reached Shopify (that is
    `AdminAmbiguousError`): for a mutation it means Shopify did not apply it. `throttled`: the
    wait is the shop's rate limit (its cost bucket, THROTTLED, 429), which always clears, not a
    backoff after errors; a caller counting failed attempts need not count it."""

    def __init__(self, delay: float, reason: str, throttled: bool = False):
        super().__init__(f"retry in {delay:.1f}s: {reason}")
        self.delay = delay
        self.reason = reason
        self.throttled = throttled


class AdminGraphQLError(AdminError):
    """Top-level GraphQL `errors` other than THROTTLED (validation, MAX_COST_EXCEEDED, access)."""

    def __init__(self, errors: list[dict[str, Any]]):
        messages = "; ".join(str(e.get("message")) for e in errors)
        super().__init__(f"Shopify GraphQL errors: {messages}")
        self.errors = errors

    @property
    def codes(self) -> set[str]:
        return {str((e.get("extensions") or {}).get("code")) for e in errors_list(self.errors)}


class AdminUserError(AdminError):
    """A mutation answered with `userErrors` (or `mediaUserErrors`)."""

    def __init__(self, mutation: str, errors: list[dict[str, Any]]):
        messages = "; ".join(f"{'.'.join(e.get('field') or []) or '-'}: {e.get('message')}" for e in errors)
        super().__init__(f"{mutation} failed: {messages}")
        self.mutation = mutation
        self.errors = errors

    @property
    def codes(self) -> set[str]:
        return {str(e.get("code")) for e in self.errors if e.get("code")}


def errors_list(errors: Any) -> list[dict[str, Any]]:
    if isinstance(errors, list):
        return [e for e in errors if isinstance(e, dict)]
    return [{"message": str(errors)}]


# ----------------------------------------------------------------------------- shared budget

# KEYS[1]: the shop's bucket hash. ARGV: cost, default max, default rate, ttl seconds.
# Refill by elapsed time (Redis' clock, shared by all machines), then take `cost` points if they
# are there; otherwise take nothing and return how long until they will be.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local b = redis.call('HMGET', KEYS[1], 'available', 'ts', 'max', 'rate')
local max = tonumber(b[3]) or tonumber(ARGV[2])
local rate = tonumber(b[4]) or tonumber(ARGV[3])
local available = tonumber(b[1]) or max
local ts = tonumber(b[2]) or now
available = math.min(max, available + math.max(0, now - ts) * rate)
local cost = math.min(tonumber(ARGV[1]), max)
local wait = 0
if available >= cost then
  available = available - cost
else
  wait = (cost - available) / rate
end
redis.call('HSET', KEYS[1], 'available', tostring(available), 'ts', tostring(now), 'max', tostring(max), 'rate', tostring(rate))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return tostring(wait)
"""

# ARGV: reported currentlyAvailable, maximumAvailable, restoreRate, points to give back, ttl.
# Shopify's figure is the truth for its bucket, but other workers' reservations may not be in it
# yet, so the mirror keeps whichever is lower.
_SYNC = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local b = redis.call('HMGET', KEYS[1], 'available', 'ts', 'max', 'rate')
local max = tonumber(ARGV[2])
local rate = tonumber(ARGV[3])
local available = tonumber(b[1]) or max
local ts = tonumber(b[2]) or now
local old_rate = tonumber(b[4]) or rate
available = math.min(max, available + math.max(0, now - ts) * old_rate + tonumber(ARGV[4]))
available = math.min(available, tonumber(ARGV[1]))
redis.call('HSET', KEYS[1], 'available', tostring(available), 'ts', tostring(now), 'max', tostring(max), 'rate', tostring(rate))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
return tostring(available)
"""


class CostBudget:
    """A mirror of one shop's GraphQL cost bucket, shared by every worker through Redis."""

    TTL_SECONDS = 3600

    def __init__(self, redis: Redis, shop_domain: str):
        self.redis = redis
        self.key = f"studio:shopify:bucket:{shop_domain}"
        self._reserve = redis.register_script(_RESERVE)
        self._sync = redis.register_script(_SYNC)

    def reserve(self, cost: int) -> float:
        """Take `cost` points; 0.0 when taken, else the seconds to wait before asking again."""
        return float(self._reserve(keys=[self.key], args=[cost, DEFAULT_BUCKET_MAX, DEFAULT_RESTORE_RATE,
                                                          self.TTL_SECONDS]))

    def sync(self, throttle_status: Mapping[str, Any], refund: float = 0.0) -> float:
        return float(self._sync(keys=[self.key], args=[
            float(throttle_status["currentlyAvailable"]), float(throttle_status["maximumAvailable"]),
            float(throttle_status["restoreRate"]), max(0.0, refund), self.TTL_SECONDS]))

    def state(self) -> dict[str, float]:
        raw = self.redis.hgetall(self.key)
        return {k.decode(): float(v) for k, v in raw.items()}


# ----------------------------------------------------------------------------- the client

@dataclasses.dataclass
class CallStats:
    """What this client did: HTTP requests sent, retries, waits (for benchmarks and logs)."""

    requests: int = 0
    operations: int = 0
    retries: int = 0
    throttled: int = 0
    waited_seconds: float = 0.0
    cost: int = 0


class AdminClient:
    """Admin GraphQL for one shop. Build one per job step with `admin_client_for`."""

    def __init__(
        self,
        shop_domain: str,
        token: Callable[[], str],
        *,
        api_version: str,
        http: requests.Session,
        budget: CostBudget | None = None,
        on_unauthorized: Callable[[], str] | None = None,
        max_retries: int = 4,
        max_wait: float = 10.0,
        backoff_base: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        counter: Callable[[], None] | None = None,
    ):
        self.shop_domain = shop_domain
        self.endpoint = f"https://{shop_domain}/admin/api/{api_version}/graphql.json"
        self._token = token
        self.http = http
        self.budget = budget
        self.on_unauthorized = on_unauthorized
        self.max_retries = max_retries
        self.max_wait = max_wait
        self.backoff_base = backoff_base
        self.sleep = sleep
        self.counter = counter
        self.stats = CallStats()
        self._costs: dict[str, int] = {}

    # ------------------------------------------------------------------ public

    def query(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Run a query (always safe to retry); returns `data`."""
        return self._execute(query, variables, idempotent=True)

    def mutate(self, query: str, variables: Mapping[str, Any] | None = None, *, payload: str,
               idempotent: bool = False) -> dict[str, Any]:
        """Run a mutation; returns `data[payload]`, raising `AdminUserError` on user errors.

        `idempotent=False` (the default) means a 5xx or timeout raises `AdminAmbiguousError`
        rather than sending the mutation again."""
        data = self._execute(query, variables, idempotent=idempotent)
        result = data.get(payload)
        if not isinstance(result, dict):
            raise AdminGraphQLError([{"message": f"{payload} returned no payload"}])
        errors = list(result.get("userErrors") or []) + list(result.get("mediaUserErrors") or [])
        if errors:
            # Deprecated `userErrors` often mirror `mediaUserErrors`: report each message once.
            unique = list({(tuple(e.get("field") or []), e.get("message")): e for e in errors}.values())
            raise AdminUserError(payload, unique)
        return result

    # ------------------------------------------------------------------ internals

    def _estimate(self, query: str) -> int:
        key = hashlib.sha1(query.encode()).hexdigest()  # noqa: S324 - a cache key
        if key in self._costs:
            return self._costs[key]
        return DEFAULT_MUTATION_COST if query.lstrip().startswith("mutation") else DEFAULT_QUERY_COST

    def _remember_cost(self, query: str, cost: int) -> None:
        self._costs[hashlib.sha1(query.encode()).hexdigest()] = cost  # noqa: S324

    def _wait(self, seconds: float, reason: str, throttled: bool = False) -> None:
        """Sleep `seconds`, unless that would take this client's waits past `max_wait` in all
        (over every call it makes): then the caller gets `AdminRetryLater` and runs again later."""
        if self.stats.waited_seconds + seconds > self.max_wait:
            raise AdminRetryLater(max(seconds, 0.5), reason, throttled)
        if seconds > 0:
            self.sleep(seconds)
            self.stats.waited_seconds += seconds

    def _backoff(self, attempt: int) -> float:
        return self.backoff_base * (2 ** (attempt - 1)) * (1 + random.random() / 4)  # noqa: S311 - jitter

    def _execute(self, query: str, variables: Mapping[str, Any] | None, *, idempotent: bool) -> dict[str, Any]:
        body = {"query": query, "variables": dict(variables or {})}
        attempts = 0
        refreshed = False
        token = self._token()
        self.stats.operations += 1
        while True:
            if self.budget is not None:
                delay = self.budget.reserve(self._estimate(query))
                if delay > 0:
                    self._wait(delay, "the shop's cost budget is spent", throttled=True)
                    continue
            self.stats.requests += 1
            if self.counter is not None:
                self.counter()
            try:
                response = self.http.post(self.endpoint, json=body, headers={
                    "X-Shopify-Access-Token": token, "Content-Type": "application/json",
                    "Accept": "application/json"})
            except (requests.ConnectionError, requests.Timeout) as exc:
                sent = not isinstance(exc, (requests.ConnectTimeout,))
                if sent and not idempotent:
                    raise AdminAmbiguousError(f"{type(exc).__name__} on a non-idempotent operation") from exc
                attempts += 1
                if attempts > self.max_retries:
                    raise AdminTransientError(f"connection failed {attempts} times: {exc}") from exc
                self._wait(self._backoff(attempts), "connection errors")
                self.stats.retries += 1
                continue

            status = response.status_code
            if status == 401:
                if refreshed or self.on_unauthorized is None:
                    raise AdminAuthError(status, response.text)
                log.info("Admin API answered 401 for %s; refreshing the token once", self.shop_domain)
                token = self.on_unauthorized()
                refreshed = True
                continue
            if status == 429:
                attempts += 1
                if attempts > self.max_retries:
                    raise AdminTransientError(f"HTTP 429 {attempts} times")
                retry_after = _retry_after(response.headers.get("Retry-After")) or self._backoff(attempts)
                self._wait(retry_after, "HTTP 429 Too Many Requests", throttled=True)
                self.stats.retries += 1
                continue
            if status >= 500:
                if not idempotent:
                    raise AdminAmbiguousError(f"HTTP {status} on a non-idempotent operation")
                attempts += 1
                if attempts > self.max_retries:
                    raise AdminTransientError(f"HTTP {status} {attempts} times")
                self._wait(self._backoff(attempts), f"HTTP {status}")
                self.stats.retries += 1
                continue
            if status != 200:
                raise AdminHTTPError(status, response.text)
            try:
                payload = response.json()
            except ValueError:
                raise AdminHTTPError(status, "the body is not JSON: " + response.text[:200]) from None

            cost = ((payload.get("extensions") or {}).get("cost") or {})
            throttle_status = cost.get("throttleStatus")
            requested = cost.get("requestedQueryCost")
            # What was reserved for this call, read before the real cost replaces the estimate:
            # the refund below gives back the difference between the two.
            estimate = self._estimate(query)
            if isinstance(requested, int):
                self._remember_cost(query, requested)
            errors = payload.get("errors")
            throttled = errors is not None and any(
                (e.get("extensions") or {}).get("code") == "THROTTLED" for e in errors_list(errors))
            if throttle_status and self.budget is not None:
                actual = cost.get("actualQueryCost")
                refund = estimate if throttled else max(0, estimate - int(actual or estimate))
                self.budget.sync(throttle_status, refund=refund)
            if throttled:
                self.stats.throttled += 1
                attempts += 1
                if attempts > self.max_retries + 2:
                    raise AdminTransientError(f"THROTTLED {attempts} times")
                self.stats.retries += 1
                # THROTTLED means Shopify did not run the operation: retrying is always safe.
                if throttle_status and self.budget is not None:
                    # The budget now mirrors Shopify's bucket: its reservation waits for exactly
                    # the points this query needs (and accounts for the other workers).
                    continue
                needed = int(requested or self._estimate(query))
                if throttle_status:
                    available = float(throttle_status["currentlyAvailable"])
                    rate = float(throttle_status["restoreRate"]) or DEFAULT_RESTORE_RATE
                    delay = max(0.05, (needed - available) / rate)
                else:
                    delay = self._backoff(attempts)
                self._wait(delay, "THROTTLED", throttled=True)
                continue
            if errors:
                raise AdminGraphQLError(errors_list(errors))
            self.stats.cost += int(cost.get("actualQueryCost") or 0)
            data = payload.get("data")
            if not isinstance(data, dict):
                raise AdminGraphQLError([{"message": "the response has no data"}])
            return data


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


# ----------------------------------------------------------------------------- construction

CALLS_KEY = "studio:shopify:calls:{shop}"


def call_count(redis: Redis, shop_domain: str) -> int:
    """Admin API HTTP requests sent for `shop_domain` by every process (benchmarks read this)."""
    value = redis.get(CALLS_KEY.format(shop=shop_domain))
    return int(value or 0)


def admin_client_for(session: Session, shop: Shop, *, settings: Settings | None = None,
                     redis: Redis | None = None, **options: Any) -> AdminClient:
    """The Admin client for `shop`: its token (refreshed once on 401), the pinned API version,
    the transport for its domain (the dev shop in-process in dev/test), and the shared budget.
    Built for a job step unless told otherwise: it waits at most `STEP_MAX_WAIT` in all (none)."""
    from flask import current_app

    from shopify_app.queues import get_broker
    from shopify_app.shopify import tokens  # the auth engineer's module, imported when used
    from shopify_app.shopify.transport import requests_session_for

    settings = settings or current_app.config["STUDIO_SETTINGS"]
    redis = redis or get_broker().redis
    calls_key = CALLS_KEY.format(shop=shop.domain)

    def count() -> None:
        redis.incr(calls_key)

    options.setdefault("max_wait", STEP_MAX_WAIT)

    return AdminClient(
        shop.domain,
        lambda: tokens.access_token_for(session, shop),
        api_version=settings.shopify_api_version,
        http=requests_session_for(shop.domain, settings),
        budget=CostBudget(redis, shop.domain),
        on_unauthorized=lambda: tokens.force_refresh(session, shop),
        counter=count,
        **options,
    )
