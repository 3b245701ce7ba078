"""Group commit for webhook deliveries: the requests of one process record them in batches.

Each `POST /webhooks` request hands its verified delivery to the process's `DeliveryWriter`. The
writer has no thread of its own: the request that finds nobody writing becomes the *leader* and
writes, on its own thread, whatever deliveries are waiting (up to `max_batch`; it never waits for
more to arrive, so a lone delivery is written at once); requests that arrive meanwhile queue up
and wait. For the whole batch the leader

1. runs ONE `INSERT … ON CONFLICT (webhook_id) DO NOTHING RETURNING id, webhook_id` as its own
   transaction (autocommit: the commit happens in the same round trip; full durability —
   nothing here changes `synchronous_commit`);
2. wakes every request of the batch: the new row's id, or "duplicate" when the webhook id was
   already recorded (by an earlier delivery, another process, or an earlier copy in this batch);
3. sends ONE Redis command (a Lua script, atomic) enqueueing `process_delivery` for the rows
   that were new;
4. hands the leadership to the oldest queued request (which then writes the queue as the next
   batch), or lays it down when the queue is empty, and answers its own request.

While a leader waits on PostgreSQL's commit, more requests queue up, so batches grow with the
load and the cost of a commit and a Redis round trip is shared by all of them. A request that
writes its own batch costs no thread hand-off at all; a follower costs one wake-up (a dedicated
writer thread cost two per batch more, and at a few rows per batch those hand-offs were a
third of the endpoint's system CPU).

"Thread" above is a greenlet in production (gunicorn.conf.py runs gevent on PostgreSQL; the
locks are gevent's): the same protocol, with wake-ups that cost a greenlet switch. One thing
differs: a greenlet runs until it waits, so the requests that are ready would only queue up
after the leader sent its batch. Before taking a batch the leader therefore lets them run
(`shopify_app.cooperative.gather_ready`, bounded by `GATHER_SECONDS`); that about doubled the
rows per commit in `bench/webhooks.py`.

Failure rules (the database is the truth, Redis the transport):
- a request answers 200 only after its row is committed;
- a batch the database refuses fails every request in it with `DeliveryNotRecorded` (503, and
  Shopify retries); when the error is about the data rather than the connection, the rows are
  tried one by one first, so one bad row does not fail its neighbours;
- a batch writes its rows in webhook-id order, so batches of several processes holding copies
  of the same deliveries wait for one another instead of deadlocking; one chosen as a
  deadlock's or serialization failure's victim anyway is sent once more on the same connection;
- an enqueue whose Redis connection is lost is sent once more on a fresh one (the script skips
  jobs a lost attempt did write, so none is pushed twice); one that still fails is logged and
  left to the reconciler (`jobs.webhooks.requeue_stale_deliveries` re-enqueues `received` rows
  whose message is gone);
- a follower that waits longer than `timeout` answers 503: a delivery still queued is withdrawn;
  one whose batch is being written may still be committed, and Shopify's retry is then
  acknowledged as a duplicate. A leader's own round trips time out after `ROUND_TRIP_SECONDS`
  (PostgreSQL's statement_timeout, a Redis socket timeout), so a stalled database or Redis
  fails its batch with 503s instead of holding the leadership.

The writer keeps one PostgreSQL and one Redis connection between batches, used by one leader at
a time. The SQL is written for the DBAPI connection directly (PostgreSQL and SQLite ≥ 3.35,
which has RETURNING and ON CONFLICT): building the same multi-row statement through
SQLAlchemy's Core costs about six times more CPU per row, and this is the hottest path in the
app.
"""

from __future__ import annotations

import atexit
import collections
import dataclasses
import datetime as dt
import functools
import hashlib
import json
import logging
import os
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Sequence
from typing import Any

from flask import Flask
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue
from rq.job import Job, JobStatus
from rq.utils import get_call_string, utcformat
from rq.utils import now as rq_now
from sqlalchemy import Engine, event

from shopify_app import cooperative
from shopify_app.models import DeliveryOutcome, WebhookDelivery

log = logging.getLogger(__name__)

PROCESS_DELIVERY = "jobs.webhooks.process_delivery"
EXTENSION_KEY = "studio.webhook_writer"
# Up to this many deliveries per INSERT (7 parameters each, far below any driver's limit).
MAX_BATCH = 64
# Shopify gives up on a delivery after about 5 s and retries it; a follower never waits longer
# than this for its batch (it answers 503, and the retry finds the row if it was committed).
WAIT_SECONDS = 10.0
# Under gevent a leader waits at most this long for the ready requests to queue their deliveries
# (`shopify_app.cooperative.gather_ready`): they normally have within a few hundred microseconds.
GATHER_SECONDS = 0.005
# A leader's own round trips are bounded too: the INSERT by PostgreSQL's statement_timeout, the
# enqueue by a socket timeout, so a stalled database or Redis cannot hold a request (and
# the leadership with it) for longer.
ROUND_TRIP_SECONDS = 5.0
_COLUMNS = ("webhook_id", "topic", "shop_domain", "api_version", "triggered_at", "payload", "received_at")
_INSERTED = ("webhook_id, topic, shop_domain, shop_id, api_version, triggered_at, payload, outcome, "
             "attempts, received_at")


def rq_job_id(delivery_id: int) -> str:
    """The RQ job id of a delivery's processing (the reconciler looks it up by this id)."""
    return f"webhook-delivery-{delivery_id}"


@dataclasses.dataclass(frozen=True, slots=True)
class Delivery:
    """A verified delivery, ready to record. `payload` is the body's text exactly as received, or
    None. The writer stores it as JSON when it is JSON the database accepts, else NULL (the
    handler job then skips the delivery): PostgreSQL's own `CAST(… AS JSON)` decides (a row it
    refuses is written again with a NULL payload, see `_write`), SQLite's rows are checked here
    (`_json_or_none`), so a body is parsed once, not once in Python and again in the database."""

    webhook_id: str
    topic: str
    shop_domain: str
    api_version: str | None
    triggered_at: str | None
    payload: str | None
    received_at: dt.datetime


class DeliveryNotRecorded(RuntimeError):
    """The delivery is not known to be committed: answer 503 so that Shopify retries."""


class _Ticket:
    """One waiting request. A pre-acquired lock is the cheapest way to park a thread: it is
    released once to promote the ticket's thread to leader (while the ticket is still queued),
    and once when the ticket is resolved (a `concurrent.futures.Future` costs a Condition and
    more)."""

    __slots__ = ("_done", "delivery", "delivery_id", "error", "promoted", "resolved", "taken", "withdrawn")

    def __init__(self, delivery: Delivery):
        self.delivery = delivery
        self.delivery_id: int | None = None
        self.error: BaseException | None = None
        self.resolved = False  # set by the leader that wrote the ticket's batch
        self.taken = False  # in a batch being written (under the writer's lock)
        self.promoted = False  # asked to lead the next batch (under the writer's lock)
        self.withdrawn = False  # taken out of the queue unanswered (under the writer's lock)
        self._done = threading.Lock()
        self._done.acquire()

    def resolve(self, delivery_id: int | None = None, error: BaseException | None = None) -> None:
        if self.resolved:
            return
        self.resolved = True
        self.delivery_id = delivery_id
        self.error = error
        self._done.release()

    def result(self) -> int | None:
        if self.error is not None:
            # The database's message may quote the row (payload included): not in the answer.
            raise DeliveryNotRecorded(f"not recorded ({type(self.error).__name__})") from self.error
        return self.delivery_id


class DeliveryWriter:
    """Records deliveries for one process (see the module docstring). Thread-safe; belongs to
    the process that created it (a forked child makes its own, see `get_writer`)."""

    def __init__(self, engine: Engine, jobs: Queue, *, max_batch: int = MAX_BATCH, timeout: float = WAIT_SECONDS,
                 on_batch: Callable[[int], None] | None = None):
        self.engine = engine
        self.max_batch = max_batch
        self.timeout = timeout
        self.on_batch = on_batch  # observes batch sizes (tests, the benchmark's statistics)
        self.batches = 0
        self.batched_deliveries = 0
        self._pid = os.getpid()
        # Guards the queue and the leadership; never held while writing.
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # notified when no batch is being written
        self._pending: collections.deque[_Ticket] = collections.deque()
        self._leading = False
        self._closed = False
        self._statements = _Statements(engine)
        self._connection: Any = None  # the leaders' connection, see _execute
        self._jobs = _DeliveryJobs(jobs)

    # ---------------------------------------------------------------- request side

    def record(self, delivery: Delivery) -> int | None:
        """Record `delivery`, committed. Returns the new row's id, or None when this webhook id was
        already recorded. Raises `DeliveryNotRecorded`. The delivery's job is enqueued by the
        batch's leader right after the commit: when this returns, it is enqueued if this request
        led its batch, and about to be otherwise."""
        ticket = _Ticket(delivery)
        with self._lock:
            if self._closed or self._pid != os.getpid():
                raise DeliveryNotRecorded("the webhook writer is shut down")
            self._pending.append(ticket)
            lead = not self._leading
            self._leading = True
            ticket.promoted = lead  # holds the leadership (see _withdraw)
        try:
            if lead:
                self._lead(ticket)
            return self._wait(ticket)
        except BaseException:
            # Interrupted (a greenlet killed at shutdown, KeyboardInterrupt) while queued or
            # handed the leadership: leave neither the queue nor the leadership stranded.
            self._withdraw(ticket)
            raise

    def _wait(self, ticket: _Ticket) -> int | None:
        deadline = time.monotonic() + self.timeout
        while True:
            if ticket._done.acquire(timeout=max(0.0, deadline - time.monotonic())):
                if ticket.resolved:
                    return ticket.result()
                self._lead(ticket)  # promoted: the ticket heads the queue, so this batch resolves it
                continue
            with self._lock:
                promoted = ticket.promoted and not ticket.taken
                if not promoted and not ticket.taken:
                    self._pending.remove(ticket)  # gone before any leader took it
                    ticket.withdrawn = True
            if promoted:
                # Promoted just as the wait ran out (its lock released under the writer's lock,
                # so this never blocks): the queue behind it needs a leader all the same.
                ticket._done.acquire()
                self._lead(ticket)
                continue
            if ticket.taken and ticket._done.acquire(blocking=False):
                return ticket.result()  # its batch answered just as the wait ran out
            # Still queued (now withdrawn), or in a batch being written: its row may yet be
            # committed, and Shopify's retry is then acknowledged as a duplicate.
            raise DeliveryNotRecorded(f"no answer from the webhook writer within {self.timeout:g} s")

    def _lead(self, own: _Ticket) -> None:
        """Write one batch from the head of the queue on this request's thread (`own` is its
        ticket), then hand the leadership to the oldest waiting request, or lay it down.

        Whatever goes wrong, every request of the batch is answered and the leadership passed
        on; an exception that is not an `Exception` (KeyboardInterrupt, SystemExit, a killed
        greenlet) is raised again once that is done, with `own` out of the queue if it was
        still in it (its request is not waiting any more)."""
        batch: list[_Ticket] = []
        interrupted: BaseException | None = None
        try:
            # Under gevent the requests that are ready to run queue their deliveries first, so
            # this batch carries them (nothing else runs while this greenlet does).
            cooperative.gather_ready(GATHER_SECONDS)
            with self._lock:
                count = min(len(self._pending), self.max_batch)
                for _ in range(count):
                    ticket = self._pending.popleft()
                    ticket.taken = True
                    batch.append(ticket)
            if batch:
                self._write(batch)
        except BaseException as exc:  # noqa: BLE001 - never leave a request waiting on a failed batch
            log.error("webhook writer failed a batch of %d (%s)", len(batch), type(exc).__name__)
            for ticket in batch:
                ticket.resolve(error=exc)
            if not isinstance(exc, Exception):
                interrupted = exc
        finally:
            with self._lock:
                if interrupted is not None and not own.taken and not own.withdrawn:
                    self._pending.remove(own)
                    own.withdrawn = True
                self._hand_on_locked()
        if interrupted is not None:
            raise interrupted

    def _hand_on_locked(self) -> None:
        """Promote the oldest queued request to lead the next batch, or lay the leadership down
        (the writer's lock held)."""
        successor = self._pending[0] if self._pending else None
        if successor is not None:
            # Released under the lock: "promoted" always means "woken" (see _wait).
            successor.promoted = True
            successor._done.release()
        else:
            self._leading = False
            self._idle.notify_all()

    def _withdraw(self, ticket: _Ticket) -> None:
        """Take an interrupted request's ticket out of the queue; if it had been handed the
        leadership and never took it up, hand it on. Nothing for a ticket in a batch (its
        leader answers it) or already out."""
        with self._lock:
            if ticket.taken or ticket.withdrawn:
                return
            ticket.withdrawn = True
            self._pending.remove(ticket)
            if ticket.promoted:
                self._hand_on_locked()

    def close(self, timeout: float = 10.0) -> None:
        """Let the batches in hand and queued be written, then drop the connections. Later
        `record` calls raise."""
        if self._pid != os.getpid():
            # Inherited across a fork (an at-fork hook may call this): the connections belong to
            # the parent, and the lock may have been held by a thread that does not exist here.
            self._closed = True
            return
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if not self._idle.wait_for(lambda: not self._leading, timeout):
                log.warning("webhook writer did not finish within %s s", timeout)
                return
        self._drop_connection()
        self._jobs.disconnect()

    # ---------------------------------------------------------------- writing (on the leader's thread)

    def _write(self, batch: list[_Ticket]) -> None:
        self.batches += 1
        self.batched_deliveries += len(batch)
        if self.on_batch is not None:
            self.on_batch(len(batch))
        # One row per webhook id: a later copy in the same batch is a duplicate of the first.
        owners: dict[str, _Ticket] = {}
        for ticket in batch:
            owners.setdefault(ticket.delivery.webhook_id, ticket)
        # In webhook-id order: copies of one delivery reach several processes at once (Shopify
        # retries, a redelivery), and two batches inserting the same ids in opposite orders
        # would each hold one id's index entry while waiting for the other's — a deadlock that
        # PostgreSQL breaks only after `deadlock_timeout`. One order everywhere leaves a wait.
        rows = sorted((ticket.delivery for ticket in owners.values()), key=lambda row: row.webhook_id)

        failed: dict[str, BaseException] = {}
        try:
            new_ids = self._insert(rows)
        except Exception as exc:  # noqa: BLE001 - any database error: 503, never a false 200
            alone = len(rows) == 1
            if self._statements.is_connection_error(exc) or (alone and not self._payload_refused(rows[0], exc)):
                log.error("could not record %d webhook deliveries: %s", len(rows), _first_line(exc))
                for ticket in batch:
                    ticket.resolve(error=exc)
                return
            # The data, not the connection: find the row at fault instead of failing them all.
            new_ids = {}
            for row in rows:
                try:
                    new_ids.update(self._insert_one(row, exc if alone else None))
                except Exception as row_exc:  # noqa: BLE001 - as above, for one row
                    log.error("could not record webhook delivery %s: %s", row.webhook_id, _first_line(row_exc))
                    failed[row.webhook_id] = row_exc

        # The rows are committed: every request can answer now, the others before this thread
        # spends a Redis round trip on the batch's jobs.
        for ticket in batch:
            webhook_id = ticket.delivery.webhook_id
            if webhook_id in failed:
                ticket.resolve(error=failed[webhook_id])
            elif owners[webhook_id] is ticket:
                ticket.resolve(new_ids.get(webhook_id))
            else:
                ticket.resolve(None)
        # After the commit, never before: a job must not run ahead of its row.
        if new_ids:
            self._enqueue(sorted(new_ids.values()))

    def _insert_one(self, row: Delivery, error: Exception | None = None) -> dict[str, int]:
        """One row alone (its batch failed; `error`: how it already failed alone). A body the
        database refuses as JSON (not JSON, NaN, Infinity, a NUL…) is recorded with a
        NULL payload, as a non-JSON body is."""
        if error is None:
            try:
                return self._insert([row])
            except Exception as exc:  # noqa: BLE001 - re-raised unless it is the payload
                error = exc
        if not self._payload_refused(row, error):
            raise error
        return self._insert([dataclasses.replace(row, payload=None)])

    def _payload_refused(self, row: Delivery, exc: Exception) -> bool:
        # A data exception (SQLSTATE class 22) of a row that has a payload: the other columns
        # are plain text and a timestamp, so the JSON cast is what refused it.
        return row.payload is not None and self._statements.is_data_error(exc)

    def _insert(self, rows: Sequence[Delivery]) -> dict[str, int]:
        """INSERT the rows and commit; returns {webhook_id: id} for the rows that were new."""
        sql, convert = self._statements.insert(len(rows))
        params = convert(rows)
        try:
            return self._execute(sql, params)
        except Exception as exc:
            if self._statements.is_transient(exc):
                # Chosen as a deadlock's victim (a batch of another process that still takes its
                # ids in another order, e.g. a process running older code) or a serialization
                # failure: nothing was written, and the connection is fine; once more.
                log.warning("webhook writer retrying after %s", _first_line(exc))
                return self._execute(sql, params)
            if not self._statements.is_connection_error(exc):
                raise
            # A connection that went away while idle (database restarted, idle timeout): once
            # more on a fresh one. Safe: ON CONFLICT DO NOTHING makes the retry idempotent (a
            # row the lost attempt did commit comes back as a duplicate, not enqueued here; the
            # reconciler enqueues it).
            log.warning("webhook writer reconnecting after %s", _first_line(exc))
            return self._execute(sql, params)

    def _execute(self, sql: str, params: list[Any]) -> dict[str, int]:
        # The writer keeps one connection from the engine's pool while it runs: checking one
        # out per batch would cost a pre-ping round trip per batch.
        connection = self._connection
        if connection is None:
            connection = self._connection = self._connect()
        try:
            cursor = connection.cursor()
            try:
                # Autocommit: the statement is its own transaction, committed (durably, with
                # the server's synchronous_commit) before its result comes back — the INSERT and
                # its COMMIT in one round trip.
                cursor.execute(sql, params)
                returned = cursor.fetchall()
            finally:
                cursor.close()
        except BaseException as exc:
            broken = self._statements.is_connection_error(exc)
            if not broken:
                try:
                    connection.rollback()
                except Exception:  # noqa: BLE001 - a failed rollback: drop the connection
                    broken = True
            if broken:
                self._drop_connection()
            raise
        return {webhook_id: delivery_id for delivery_id, webhook_id in returned}

    def _connect(self) -> Any:
        connection = self.engine.raw_connection()
        driver = connection.driver_connection
        # Never returned to the pool in this mode: `_drop_connection` closes it.
        if self._statements.dialect_name == "postgresql":
            driver.autocommit = True
            # `$n` placeholders, sent as written: psycopg parses a `%s` query in Python on every
            # execute when it has more than 50 parameters (a batch of more than 7 rows).
            driver.cursor_factory = self._statements.dbapi.RawCursor
            driver.execute(f"SET statement_timeout = {int(ROUND_TRIP_SECONDS * 1000)}")
        else:
            driver.isolation_level = None  # sqlite3's autocommit
        return connection

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                # Closed outright, not returned: the pool may be a disposed one by now.
                connection.invalidate()
            except Exception:  # it is being thrown away anyway
                log.debug("closing the webhook writer's connection failed", exc_info=True)

    def _enqueue(self, delivery_ids: list[int]) -> None:
        try:
            self._jobs.enqueue(delivery_ids)
        except Exception:  # the row is committed; the reconciler re-enqueues it
            log.exception("could not enqueue %d webhook deliveries %s; the reconciler will retry",
                          len(delivery_ids), delivery_ids[:10])


# One EVALSHA per batch (see _DeliveryJobs). KEYS: the set of queues, the queue, then one job hash
# key per job. ARGV: the queue's key (the set's member), the timestamp, how many static
# field/value items follow, those items, then per job: its id, `data`, `description`. A job
# whose hash exists already is left alone (and not pushed again): sending a batch twice, after
# a connection lost before its answer came back, enqueues each job once.
_ENQUEUE_SCRIPT = """
local static = tonumber(ARGV[3])
local fields = {}
for i = 1, static do fields[i] = ARGV[3 + i] end
fields[static + 1] = 'data'
fields[static + 3] = 'description'
fields[static + 5] = 'created_at'
fields[static + 6] = ARGV[2]
fields[static + 7] = 'enqueued_at'
fields[static + 8] = ARGV[2]
local ids = {}
for j = 1, #KEYS - 2 do
  if redis.call('EXISTS', KEYS[2 + j]) == 0 then
    local at = 3 + static + (j - 1) * 3
    fields[static + 2] = ARGV[at + 2]
    fields[static + 4] = ARGV[at + 3]
    redis.call('HSET', KEYS[2 + j], unpack(fields))
    ids[#ids + 1] = ARGV[at + 1]
  end
end
redis.call('SADD', KEYS[1], ARGV[1])
if #ids > 0 then redis.call('RPUSH', KEYS[2], unpack(ids)) end
return #ids
"""
# Per-job fields of the hash; every other field is the same for every job.
_PER_JOB_FIELDS = ("data", "description", "created_at", "enqueued_at")


class _DeliveryJobs:
    """Enqueues `process_delivery(id)` jobs for a batch in ONE Redis command, atomic as a Lua
    script is: per job the hash RQ itself would write (`Queue.enqueue` → `Job.save`), then one
    RPUSH of all ids (and the queue's entry in RQ's set of queues).

    RQ builds a Job object per enqueue (serializer resolution, callbacks, dependency checks,
    three commands per job), which costs more than the INSERT it follows. Every job here is the
    same call with a different id, so the hash is RQ's own `Job.to_dict()` of one template job,
    built once, with the per-job fields (`data`, `description`, timestamps) filled in by RQ's own
    serializer and helpers. The fields every job shares are encoded once and sent once per
    batch; the script writes them into each job's hash (a MULTI pipeline of one HSET per job
    cost redis-py ~30 arguments to pack per job, the largest part of the writer's CPU).
    `tests/webhooks/test_writer.py` checks the result against what `Queue.enqueue` writes, so an
    RQ upgrade that changes the format fails a test, not production.
    """

    def __init__(self, queue: Queue):
        self.queue = queue
        template = Job.create(PROCESS_DELIVERY, args=(0,), connection=queue.connection, id="template",
                              origin=queue.name, status=JobStatus.QUEUED, timeout=queue._default_timeout,
                              serializer=queue.serializer)
        template.enqueued_at = rq_now()
        self._template = template.to_dict()
        self._serializer = queue.serializer
        encode = queue.connection.get_encoder().encode
        static: list[Any] = []
        for name, value in self._template.items():
            if name not in _PER_JOB_FIELDS:
                static += (encode(name), encode(value))
        self._static = static
        self._sha = hashlib.sha1(_ENQUEUE_SCRIPT.encode()).hexdigest()
        # The writer's own connection, kept between batches (as its PostgreSQL one):
        # checking one out of redis-py's pool and going through its command machinery cost
        # more CPU than the round trip itself.
        self._connection: Any = None
        self._client: Any = None

    def _per_job(self, delivery_id: int) -> tuple[bytes, str]:
        args = (delivery_id,)
        return (zlib.compress(self._serializer.dumps((PROCESS_DELIVERY, None, args, {}))),
                get_call_string(PROCESS_DELIVERY, args, {}, max_length=75))

    def enqueue(self, delivery_ids: Sequence[int]) -> None:
        """Enqueue the batch (the leader only). A connection error is tried once more on a
        fresh connection (the script skips jobs a lost first attempt did write); any other
        error is raised (the reconciler re-enqueues what is missing)."""
        queue = self.queue
        keys = [queue.redis_queues_keys, queue.key]
        argv: list[Any] = [queue.key, utcformat(rq_now()), len(self._static), *self._static]
        for delivery_id in delivery_ids:
            job_id = rq_job_id(delivery_id)
            keys.append(Job.key_for(job_id))
            argv += (job_id, *self._per_job(delivery_id))
        try:
            self._evalsha(keys, argv)
        except (RedisConnectionError, RedisTimeoutError):
            self.disconnect()
            self._evalsha(keys, argv)

    def _evalsha(self, keys: list[Any], argv: list[Any]) -> None:
        client = self.queue.connection
        if self._connection is None or self._client is not client:
            self.disconnect()
            # Its own connection, made as the client's pool makes them but with timeouts.
            pool = client.connection_pool
            self._connection = pool.connection_class(**{
                **pool.connection_kwargs, "socket_timeout": ROUND_TRIP_SECONDS,
                "socket_connect_timeout": ROUND_TRIP_SECONDS})
            self._client = client
        connection = self._connection
        try:
            connection.send_command("EVALSHA", self._sha, len(keys), *keys, *argv)
            try:
                connection.read_response()
            except NoScriptError:  # first use on this server: load it by running it
                connection.send_command("EVAL", _ENQUEUE_SCRIPT, len(keys), *keys, *argv)
                connection.read_response()
        except (RedisConnectionError, RedisTimeoutError):
            self.disconnect()
            raise

    def disconnect(self) -> None:
        connection, self._connection = self._connection, None
        self._client = None
        if connection is not None:
            try:
                connection.disconnect()
            except Exception:  # it is being thrown away anyway
                log.debug("closing the webhook writer's Redis connection failed", exc_info=True)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _json_or_none(text: str | None) -> str | None:
    """SQLite's check (it stores any text in a JSON column): the text when it is JSON, else None.
    NaN/Infinity, which Python accepts but JSON (and PostgreSQL) do not, count as not JSON."""
    if text is None:
        return None
    try:
        json.loads(text, parse_constant=_reject_constant)
    except ValueError:
        return None
    return text


def _first_line(exc: BaseException) -> str:
    # A database error's detail can quote the whole row, payload included: not for the logs.
    lines = str(exc).splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:300]


_ROLLED_BACK_FOR_ANOTHER = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure


class _Statements:
    """The multi-row INSERT for one engine's dialect, by batch size."""

    def __init__(self, engine: Engine):
        dialect = engine.dialect
        self.dialect_name = dialect.name
        if self.dialect_name not in ("postgresql", "sqlite"):
            raise RuntimeError(f"the webhook writer supports PostgreSQL and SQLite, not {self.dialect_name}")
        dbapi = self.dbapi = dialect.loaded_dbapi
        self._connection_errors = (dbapi.OperationalError, dbapi.InterfaceError)
        self._data_error = dbapi.DataError
        table = WebhookDelivery.__table__
        self.table = table.name
        # The column types' own bind conversion (e.g. UTCDateTime on SQLite), as the ORM would do.
        received_at = table.c.received_at.type.bind_processor(dialect)
        self._received_at: Callable[[Any], Any] = received_at or (lambda value: value)

    def is_connection_error(self, exc: BaseException) -> bool:
        return isinstance(exc, self._connection_errors) and not self.is_transient(exc)

    @staticmethod
    def is_transient(exc: BaseException) -> bool:
        """A transaction the server rolled back for another's sake (psycopg raises these as
        OperationalError, like a lost connection): a deadlock victim or a serialization failure."""
        return getattr(exc, "sqlstate", None) in _ROLLED_BACK_FOR_ANOTHER

    def is_data_error(self, exc: BaseException) -> bool:
        return isinstance(exc, self._data_error)

    def insert(self, count: int) -> tuple[str, Callable[[Sequence[Delivery]], list[Any]]]:
        if self.dialect_name == "postgresql":
            return self._postgresql_sql(count), self._postgresql_params
        return self._sqlite_sql(count), self._sqlite_params

    # PostgreSQL: a multi-row VALUES list of scalar parameters, one statement per batch size
    # (psycopg prepares each one after a few uses: at most MAX_BATCH statements per connection,
    # within its default `prepared_max`). The batch as seven arrays unnested into rows — one
    # statement for every size — cost the client about twice the CPU per row (psycopg dumps
    # arrays in Python) and the server about a third more.

    def _postgresql_params(self, rows: Sequence[Delivery]) -> list[Any]:
        params: list[Any] = [DeliveryOutcome.RECEIVED.value]
        for row in rows:
            params += (row.webhook_id, row.topic, row.shop_domain, row.api_version, row.triggered_at,
                       row.payload, row.received_at)
        return params

    @functools.lru_cache(maxsize=256)  # noqa: B019 - one instance per engine, bounded
    def _postgresql_sql(self, count: int) -> str:
        # For psycopg's RawCursor (see DeliveryWriter._connect): $1 is the outcome, then seven
        # parameters per row.
        width = len(_COLUMNS)
        values = ", ".join(
            "(" + ", ".join(f"${2 + row * width + i}" for i in range(width)) + "::timestamptz)"
            for row in range(count))
        return (
            f"INSERT INTO {self.table} ({_INSERTED}) "
            "SELECT v.webhook_id, v.topic, v.shop_domain, "
            "(SELECT s.id FROM shops AS s WHERE s.domain = v.shop_domain), "
            "v.api_version, v.triggered_at, CAST(v.payload AS JSON), $1, 0, v.received_at "
            f"FROM (VALUES {values}) AS v (webhook_id, topic, shop_domain, api_version, triggered_at, "
            "payload, received_at) "
            "ON CONFLICT (webhook_id) DO NOTHING RETURNING id, webhook_id"
        )

    # SQLite (development and tests): a multi-row VALUES list; SQLite names its columns
    # column1, column2, …

    def _sqlite_params(self, rows: Sequence[Delivery]) -> list[Any]:
        params: list[Any] = [DeliveryOutcome.RECEIVED.value]
        convert = self._received_at
        for row in rows:
            params += (row.webhook_id, row.topic, row.shop_domain, row.api_version, row.triggered_at,
                       _json_or_none(row.payload), convert(row.received_at))
        return params

    @functools.lru_cache(maxsize=256)  # noqa: B019 - one instance per engine, bounded
    def _sqlite_sql(self, count: int) -> str:
        values = ", ".join(["(" + ", ".join(["?"] * len(_COLUMNS)) + ")"] * count)
        c = {name: f"column{i}" for i, name in enumerate(_COLUMNS, start=1)}
        # The outcome is the statement's first parameter; the shop's id is looked up in the same
        # statement (no extra round trip), NULL when the shop is unknown. `WHERE true` lets
        # SQLite parse ON CONFLICT after INSERT … SELECT.
        return (
            f"INSERT INTO {self.table} ({_INSERTED}) "
            f"SELECT {c['webhook_id']}, {c['topic']}, {c['shop_domain']}, "
            f"(SELECT s.id FROM shops AS s WHERE s.domain = {c['shop_domain']}), "
            f"{c['api_version']}, {c['triggered_at']}, {c['payload']}, ?, 0, {c['received_at']} "
            f"FROM (VALUES {values}) WHERE true "
            "ON CONFLICT (webhook_id) DO NOTHING RETURNING id, webhook_id"
        )


# --------------------------------------------------------------------------- one per app and process

_live: weakref.WeakSet[DeliveryWriter] = weakref.WeakSet()
_create_lock = threading.Lock()


def get_writer(app: Flask) -> DeliveryWriter:
    """The app's writer in this process (a forked worker makes its own on first use)."""
    writer: DeliveryWriter | None = app.extensions.get(EXTENSION_KEY)
    if writer is not None and writer._pid == os.getpid() and not writer._closed:
        return writer
    with _create_lock:
        writer = app.extensions.get(EXTENSION_KEY)
        if writer is None or writer._pid != os.getpid() or writer._closed:
            from shopify_app.db import get_database
            from shopify_app.queues import get_broker

            engine = get_database(app).engine
            writer = DeliveryWriter(engine, get_broker(app).queue("webhooks"))
            # The engine going away (tests, shutdown) stops its writer first.
            event.listen(engine, "engine_disposed", _close_on_dispose(writer))
            app.extensions[EXTENSION_KEY] = writer
            _live.add(writer)
    return writer


def _close_on_dispose(writer: DeliveryWriter) -> Callable[[Engine], None]:
    ref = weakref.ref(writer)

    def close(_engine: Engine) -> None:
        target = ref()
        if target is not None:
            target.close()

    return close


def shutdown_all(timeout: float = 10.0) -> None:
    """Stop every writer of this process after it has written what is queued (gunicorn's
    `worker_exit` hook calls this; it also runs at interpreter exit)."""
    for writer in list(_live):
        writer.close(timeout)


atexit.register(shutdown_all)
