"""The group-commit writer: batches, duplicates within and across batches, failures, shutdown.

The first request's thread, leading, is held inside its batch (an `on_batch` observer that waits)
while more deliveries queue up, so the next batch's contents are known exactly."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import func, select

from shopify_app import db
from shopify_app.models import WebhookDelivery, utcnow
from shopify_app.queues import get_broker
from shopify_app.webhooks.writer import (
    PROCESS_DELIVERY,
    Delivery,
    DeliveryNotRecorded,
    DeliveryWriter,
    _DeliveryJobs,
    get_writer,
    rq_job_id,
)
from tests.support.shopify import TEST_SHOP, fixture_bytes, webhook_headers
from tests.webhooks.conftest import queued_webhook_jobs

BODY = fixture_bytes("webhooks", "products_create").decode()


def delivery(webhook_id: str, payload: str | None = BODY) -> Delivery:
    return Delivery(webhook_id=webhook_id, topic="products/create", shop_domain=TEST_SHOP,
                    api_version="2026-10", triggered_at="2026-01-01T00:00:00.000Z", payload=payload,
                    received_at=utcnow())


class Recorder:
    """Records deliveries from threads; collects each one's result (an id, None, or the error)."""

    def __init__(self, writer: DeliveryWriter):
        self.writer = writer
        self.results: dict[int, object] = {}
        self.threads: list[threading.Thread] = []

    def start(self, index: int, item: Delivery) -> None:
        def run() -> None:
            try:
                self.results[index] = self.writer.record(item)
            except DeliveryNotRecorded as exc:
                self.results[index] = exc

        thread = threading.Thread(target=run)
        thread.start()
        self.threads.append(thread)

    def join(self) -> dict[int, object]:
        for thread in self.threads:
            thread.join(30)
        return self.results


@pytest.fixture
def writer(app) -> Iterator[DeliveryWriter]:
    yield get_writer(app)


@pytest.fixture
def held(writer: DeliveryWriter) -> Iterator[Callable[[int], None]]:
    """Hold the first batch's leader inside its batch; `release(n)` lets it go once n more
    deliveries are queued behind it. Records every batch size in `writer.sizes`."""
    gate = threading.Event()
    sizes: list[int] = []

    def on_batch(size: int) -> None:
        sizes.append(size)
        if len(sizes) == 1:
            gate.wait(30)

    writer.on_batch = on_batch
    writer.sizes = sizes  # type: ignore[attr-defined]
    first = Recorder(writer)
    first.start(-1, delivery("blocker"))
    deadline = time.monotonic() + 10
    while not sizes and time.monotonic() < deadline:
        time.sleep(0.005)

    def release(queued: int) -> None:
        deadline = time.monotonic() + 10
        while len(writer._pending) < queued and time.monotonic() < deadline:
            time.sleep(0.005)
        assert len(writer._pending) == queued
        gate.set()
        first.join()

    yield release
    gate.set()


def _rows(session) -> dict[str, int]:
    session.rollback()  # a fresh snapshot: the writer committed on its own connection
    return dict(session.execute(select(WebhookDelivery.webhook_id, WebhookDelivery.id)).all())


def _queued_ids(app) -> list[int]:
    return sorted(job.args[0] for job in queued_webhook_jobs(app))


def test_waiting_deliveries_are_written_in_one_batch(app, session, writer, held) -> None:
    recorder = Recorder(writer)
    for i in range(5):
        recorder.start(i, delivery(f"batched-{i}"))
    held(5)
    results = recorder.join()
    assert writer.sizes == [1, 5]  # type: ignore[attr-defined]
    rows = _rows(session)
    assert {results[i] for i in range(5)} == {rows[f"batched-{i}"] for i in range(5)}
    assert _queued_ids(app) == sorted(rows.values())
    # Each job is the ordinary RQ job the worker runs, under the id the reconciler looks for.
    jobs = {job.id: job for job in queued_webhook_jobs(app)}
    job = jobs[rq_job_id(rows["batched-0"])]
    assert job.func_name == "jobs.webhooks.process_delivery"
    assert job.args == (rows["batched-0"],)
    assert job.origin == "webhooks"


def test_duplicates_in_one_batch_make_one_row_and_one_job(app, session, writer, held) -> None:
    recorder = Recorder(writer)
    for i in range(3):
        recorder.start(i, delivery("same-id"))
    recorder.start(3, delivery("other-id"))
    held(4)
    results = recorder.join()
    assert writer.sizes == [1, 4]  # type: ignore[attr-defined]
    rows = _rows(session)
    copies = [results[i] for i in range(3)]
    assert sorted(copies, key=lambda r: r is None) == [rows["same-id"], None, None]
    assert results[3] == rows["other-id"]
    assert _queued_ids(app) == sorted(rows.values())  # blocker, same-id, other-id: once each


def test_duplicates_across_batches_are_acknowledged_without_a_second_job(app, session, writer) -> None:
    first = writer.record(delivery("again"))
    assert isinstance(first, int)
    assert writer.record(delivery("again")) is None
    assert _rows(session) == {"again": first}
    assert _queued_ids(app) == [first]


def test_a_database_error_fails_the_whole_batch_and_enqueues_nothing(app, session, writer, held,
                                                                     monkeypatch) -> None:
    dbapi = db.get_database(app).engine.dialect.loaded_dbapi
    real = writer._execute
    calls: list[int] = []

    def broken(sql: str, params: list) -> dict:
        if "lost-0" not in repr(params):
            return real(sql, params)  # the blocker's batch
        calls.append(len(params))
        raise dbapi.OperationalError("server closed the connection unexpectedly")

    recorder = Recorder(writer)
    for i in range(3):
        recorder.start(i, delivery(f"lost-{i}"))
    monkeypatch.setattr(writer, "_execute", broken)
    held(3)
    results = recorder.join()
    assert all(isinstance(results[i], DeliveryNotRecorded) for i in range(3))
    assert len(calls) == 2  # the batch, and once more on a fresh connection
    assert set(_rows(session)) == {"blocker"}
    assert len(_queued_ids(app)) == 1  # the blocker's only


def test_a_row_the_database_refuses_fails_alone(app, session, writer, held, monkeypatch) -> None:
    dbapi = db.get_database(app).engine.dialect.loaded_dbapi
    real = writer._execute

    def refuse_poison(sql: str, params: list) -> dict:
        if "'poison'" in repr(params):
            raise dbapi.IntegrityError("value refused")
        return real(sql, params)

    recorder = Recorder(writer)
    recorder.start(0, delivery("poison"))
    recorder.start(1, delivery("fine"))
    monkeypatch.setattr(writer, "_execute", refuse_poison)
    held(2)
    results = recorder.join()
    assert isinstance(results[0], DeliveryNotRecorded)
    rows = _rows(session)
    assert results[1] == rows["fine"] and "poison" not in rows
    assert _queued_ids(app) == sorted(rows.values())


@pytest.mark.parametrize("payload", ['{"price": NaN}', "[1,", "{'title': 'single quotes'}", '{"a": 1} 2', '\ufeff{}',
                                     "nul\x00"])
def test_a_payload_that_is_not_json_in_a_batch_is_recorded_null_beside_its_neighbours(
        app, session, writer, held, payload: str) -> None:
    """PostgreSQL (on SQLite, the writer) decides what is JSON; a refused payload is
    recorded as NULL — never a 503 for a delivery the app signed — and its batch neighbours keep
    theirs; every new row gets its one job."""
    recorder = Recorder(writer)
    recorder.start(0, delivery("odd", payload=payload))
    recorder.start(1, delivery("fine"))
    held(2)
    results = recorder.join()
    rows = _rows(session)
    assert results == {0: rows["odd"], 1: rows["fine"]}
    session.rollback()
    payloads = dict(session.execute(select(WebhookDelivery.webhook_id, WebhookDelivery.payload)).all())
    assert payloads["odd"] is None and payloads["fine"] == json.loads(BODY)
    assert _queued_ids(app) == sorted(rows.values())


def test_http_answers_503_when_the_delivery_is_not_recorded(app, client, session, writer, monkeypatch) -> None:
    dbapi = db.get_database(app).engine.dialect.loaded_dbapi

    def broken(sql: str, params: list) -> dict:
        raise dbapi.OperationalError("database is down")

    monkeypatch.setattr(writer, "_execute", broken)
    body = BODY.encode()
    response = client.post("/webhooks", data=body, headers=webhook_headers("products/create", body))
    assert response.status_code == 503
    assert "X-Request-Id" in response.headers
    assert _rows(session) == {} and queued_webhook_jobs(app) == []


def test_a_lost_enqueue_still_answers_200_with_the_row_committed(app, session, writer) -> None:
    # Redis unreachable: the row is the truth; the reconciler re-enqueues `received` rows.
    writer._jobs.queue = Queue("webhooks", connection=Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5))
    delivery_id = writer.record(delivery("no-redis"))
    assert _rows(session) == {"no-redis": delivery_id}
    assert queued_webhook_jobs(app) == []


def test_payload_is_stored_as_received_json_or_null(session, writer) -> None:
    writer.record(delivery("json", payload='{"id": 1, "title": "Linen shirt"}'))
    writer.record(delivery("not-json", payload=None))
    session.rollback()
    payloads = dict(session.execute(select(WebhookDelivery.webhook_id, WebhookDelivery.payload)).all())
    assert payloads == {"json": {"id": 1, "title": "Linen shirt"}, "not-json": None}


@pytest.mark.parametrize("body", [b'{"price": NaN}', b'{"price": Infinity}', b"\xef\xbb\xbf{}", b"[1,"])
def test_bodies_that_are_not_json_are_recorded_with_a_null_payload(client, session, body: bytes) -> None:
    response = client.post("/webhooks", data=body, headers=webhook_headers("products/update", body))
    assert response.status_code == 200
    session.rollback()
    assert session.scalar(select(WebhookDelivery.payload)) is None


def test_close_writes_what_is_queued_then_refuses(app, session, writer, held) -> None:
    recorder = Recorder(writer)
    for i in range(3):
        recorder.start(i, delivery(f"before-close-{i}"))
    closer = threading.Thread(target=writer.close)
    deadline = time.monotonic() + 10
    while len(writer._pending) < 3 and time.monotonic() < deadline:
        time.sleep(0.005)
    closer.start()
    closer.join(0.2)
    assert closer.is_alive()  # waiting for the batch in hand and the queue behind it
    held(3)
    closer.join(30)
    assert not closer.is_alive()
    results = recorder.join()
    rows = _rows(session)
    assert {results[i] for i in range(3)} == {rows[f"before-close-{i}"] for i in range(3)}
    assert writer.sizes == [1, 3]  # type: ignore[attr-defined]
    assert writer._connection is None
    with pytest.raises(DeliveryNotRecorded):
        writer.record(delivery("after-close"))
    # The app gets a fresh writer for the next request.
    assert get_writer(app) is not writer


def test_disposing_the_engine_stops_the_writer(app, writer) -> None:
    writer.record(delivery("before-dispose"))
    assert writer._connection is not None  # kept between batches
    db.get_database(app).engine.dispose()
    assert writer._connection is None
    with pytest.raises(DeliveryNotRecorded):
        writer.record(delivery("after-dispose"))


def test_many_concurrent_requests_are_all_recorded_once(app, session, writer) -> None:
    sizes: list[int] = []
    writer.on_batch = sizes.append
    recorder = Recorder(writer)
    for i in range(40):
        recorder.start(i, delivery(f"load-{i % 30}"))  # ten of them repeat an id
    results = recorder.join()
    rows = _rows(session)
    assert len(rows) == 30
    recorded = [r for r in results.values() if r is not None]
    assert sorted(recorded) == sorted(rows.values())  # each new row answered exactly once
    assert _queued_ids(app) == sorted(rows.values())
    assert sum(sizes) == 40
    assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 30


def test_batch_jobs_are_exactly_what_rq_enqueue_writes(app) -> None:
    """The writer's one-transaction enqueue writes the hash and queue entry `Queue.enqueue`
    would: an RQ upgrade that changes them fails here."""
    queue = get_broker(app).queue("webhooks")
    redis = queue.connection
    queue.enqueue(PROCESS_DELIVERY, 7, job_id=rq_job_id(7))
    by_rq = redis.hgetall(f"rq:job:{rq_job_id(7)}")
    listed_by_rq = redis.lrange(queue.key, 0, -1)
    redis.flushdb()

    _DeliveryJobs(queue).enqueue([7])
    ours = redis.hgetall(f"rq:job:{rq_job_id(7)}")
    assert redis.lrange(queue.key, 0, -1) == listed_by_rq == [rq_job_id(7).encode()]
    assert queue.key.encode() in redis.smembers(queue.redis_queues_keys)
    timestamps = {b"created_at", b"enqueued_at"}
    assert {k: v for k, v in ours.items() if k not in timestamps} == \
        {k: v for k, v in by_rq.items() if k not in timestamps}
    assert set(ours) == set(by_rq)
    job = queue.fetch_job(rq_job_id(7))
    assert (job.func_name, job.args, job.kwargs, job.origin, job.get_status()) == \
        (PROCESS_DELIVERY, (7,), {}, "webhooks", "queued")
    assert job.enqueued_at is not None and job.created_at is not None


def test_every_job_of_a_batch_is_what_rq_enqueue_writes(app) -> None:
    """The script writes one hash per job from fields shared by the batch: each one must still be
    RQ's own, in order, with nothing left over from its neighbour."""
    queue = get_broker(app).queue("webhooks")
    redis = queue.connection
    ids = [7, 8, 1234567]
    by_rq = {}
    for delivery_id in ids:
        queue.enqueue(PROCESS_DELIVERY, delivery_id, job_id=rq_job_id(delivery_id))
        by_rq[delivery_id] = redis.hgetall(f"rq:job:{rq_job_id(delivery_id)}")
    listed_by_rq = redis.lrange(queue.key, 0, -1)
    redis.flushdb()

    _DeliveryJobs(queue).enqueue(ids)
    assert redis.lrange(queue.key, 0, -1) == listed_by_rq
    timestamps = {b"created_at", b"enqueued_at"}
    for delivery_id in ids:
        ours = redis.hgetall(f"rq:job:{rq_job_id(delivery_id)}")
        assert {k: v for k, v in ours.items() if k not in timestamps} == \
            {k: v for k, v in by_rq[delivery_id].items() if k not in timestamps}
        assert set(ours) == set(by_rq[delivery_id])
        job = queue.fetch_job(rq_job_id(delivery_id))
        assert (job.func_name, job.args, job.get_status()) == (PROCESS_DELIVERY, (delivery_id,), "queued")
    assert len(redis.keys("rq:job:*")) == len(ids)


def test_a_batch_sent_again_after_a_lost_answer_enqueues_each_job_once(app, monkeypatch) -> None:
    """The writer's Redis connection drops after the script ran but before its answer came back:
    the batch is sent again on a fresh connection, and no job is pushed twice."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    queue = get_broker(app).queue("webhooks")
    jobs = _DeliveryJobs(queue)
    jobs.enqueue([1])  # opens the kept connection
    connection = jobs._connection
    real = connection.read_response
    lost: list[bool] = []

    def lose_first_answer(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        answer = real(*args, **kwargs)
        if not lost:
            lost.append(True)
            raise RedisConnectionError("connection lost")
        return answer

    monkeypatch.setattr(connection, "read_response", lose_first_answer)
    jobs.enqueue([2, 3])
    assert lost == [True]
    assert queue.connection.lrange(queue.key, 0, -1) == [rq_job_id(i).encode() for i in (1, 2, 3)]
    jobs.enqueue([3])  # and a job already enqueued is never pushed again
    assert len(queue.connection.lrange(queue.key, 0, -1)) == 3
    jobs.disconnect()


def test_the_script_is_loaded_when_the_server_does_not_know_it(app, monkeypatch) -> None:
    queue = get_broker(app).queue("webhooks")
    jobs = _DeliveryJobs(queue)
    monkeypatch.setattr(jobs, "_sha", "0" * 40)  # a digest the server has no script for
    jobs.enqueue([5, 6])
    assert queue.connection.lrange(queue.key, 0, -1) == [rq_job_id(5).encode(), rq_job_id(6).encode()]
    assert queue.fetch_job(rq_job_id(6)).args == (6,)
    jobs.disconnect()


def test_a_queued_delivery_that_waits_too_long_is_withdrawn_and_the_queue_goes_on(app, session, writer,
                                                                                    held) -> None:
    writer.timeout = 0.2
    late = Recorder(writer)
    late.start(0, delivery("gave-up"))
    results = late.join()
    assert isinstance(results[0], DeliveryNotRecorded)
    assert len(writer._pending) == 0  # withdrawn: nobody will write it
    writer.timeout = 30
    patient = Recorder(writer)
    patient.start(1, delivery("waited"))
    held(1)
    answered = patient.join()
    assert writer.sizes == [1, 1]  # type: ignore[attr-defined]
    rows = _rows(session)
    assert "gave-up" not in rows  # Shopify retries it after the 503
    assert answered[1] == rows["waited"]
    assert _queued_ids(app) == sorted(rows.values())


def test_a_delivery_promoted_as_its_wait_runs_out_still_writes_the_queue(app, session, writer) -> None:
    # The waiter's wait runs out, and before it looks under the writer's lock, the finishing
    # leader promotes it (flag and release, under that lock): it must lead anyway.
    from shopify_app.webhooks.writer import _Ticket

    promoted, behind = _Ticket(delivery("promoted")), _Ticket(delivery("behind"))
    with writer._lock:
        writer._leading = True  # as if a leader were finishing its batch
        writer._pending.extend([promoted, behind])
    writer.timeout = 0  # the first wait runs out at once
    results: dict[str, object] = {}

    def wait() -> None:
        results["promoted"] = writer._wait(promoted)

    thread = threading.Thread(target=wait)
    with writer._lock:
        thread.start()
        thread.join(0.3)  # its wait has run out; it is blocked on the writer's lock
        promoted.promoted = True  # what `_lead` does on handing over
        promoted._done.release()
    thread.join(10)
    writer.timeout = 30
    rows = _rows(session)
    assert results["promoted"] == rows["promoted"]
    assert behind.resolved and behind.delivery_id == rows["behind"]  # written in the same batch
    assert not writer._leading and not writer._pending


def test_an_interrupt_inside_a_batch_answers_the_batch_passes_the_lead_and_is_raised_again(
        app, session, writer, monkeypatch) -> None:
    execute = writer._execute
    calls = []

    def interrupted(sql, params):  # noqa: ANN001, ANN202
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return execute(sql, params)

    monkeypatch.setattr(writer, "_execute", interrupted)
    with pytest.raises(KeyboardInterrupt):
        writer.record(delivery("interrupted"))
    assert not writer._leading and not writer._pending
    assert writer.record(delivery("after")) == _rows(session)["after"]  # the writer carries on
    assert "interrupted" not in _rows(session)


def test_the_leaders_round_trips_have_timeouts(app, writer) -> None:
    from shopify_app.webhooks.writer import ROUND_TRIP_SECONDS

    writer.record(delivery("timeouts"))
    assert writer._jobs._connection.socket_timeout == ROUND_TRIP_SECONDS
    if writer._statements.dialect_name == "postgresql":
        cursor = writer._connection.cursor()
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == f"{int(ROUND_TRIP_SECONDS)}s"
        cursor.close()


def test_closing_a_writer_inherited_across_a_fork_never_takes_its_lock(app, writer) -> None:
    # An at-fork hook closes the parent's writer in the child, where a thread that held the lock
    # at the fork does not exist: close() must not wait for it.
    pid = writer._pid
    writer._pid = -1  # as seen from a forked child
    with writer._lock:
        writer.close()  # would deadlock if it took the lock
    assert writer._closed
    writer._pid = pid
    with pytest.raises(DeliveryNotRecorded):
        writer.record(delivery("after-fork-close"))


def test_a_deadlock_victim_is_sent_again_on_the_same_connection(app, session, writer) -> None:
    dbapi = db.get_database(app).engine.dialect.loaded_dbapi

    class DeadlockDetected(dbapi.OperationalError):  # as psycopg raises it: an OperationalError
        sqlstate = "40P01"

    class VictimOnce:
        """The writer's connection, whose next statement is chosen as a deadlock's victim."""

        def __init__(self, connection) -> None:  # noqa: ANN001
            self.connection, self.statements = connection, 0

        def cursor(self):  # noqa: ANN202
            cursor = self.connection.cursor()
            self.statements += 1
            if self.statements > 1:
                return cursor
            cursor.close()
            return self

        def execute(self, sql, params):  # noqa: ANN001, ANN202 - the victim's cursor
            raise DeadlockDetected("deadlock detected")

        def close(self) -> None:
            pass

        def __getattr__(self, name: str):  # noqa: ANN204 - rollback, invalidate, …
            return getattr(self.connection, name)

    writer.record(delivery("before"))  # the writer's connection is open
    victim = writer._connection = VictimOnce(writer._connection)
    try:
        delivery_id = writer.record(delivery("victim"))
        assert victim.statements == 2  # refused, then sent once more
        assert writer._connection is victim  # not mistaken for a lost connection
    finally:
        writer._connection = victim.connection
    assert delivery_id == _rows(session)["victim"]
    assert delivery_id in _queued_ids(app)


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"),
                    reason="the lock order is PostgreSQL's unique-index waits; set TEST_DATABASE_URL")
def test_a_batch_takes_its_ids_in_one_order_so_copies_racing_in_another_process_never_deadlock(
        app, session, writer, held, monkeypatch) -> None:
    # Another process's transaction holds "race-a" uncommitted; this process's next batch holds
    # "race-b" then "race-a" in arrival order. Written in that order it would hold race-b while
    # waiting for race-a, and the other process inserting race-b next would close the cycle.
    # Written in id order it waits for race-a first, holding nothing the other needs.
    engine = db.get_database(app).engine
    real = writer._execute
    calls: list[int] = []

    def counted(sql: str, params: list) -> dict:
        if "race-" in repr(params):  # not the blocker's batch
            calls.append(1)
        return real(sql, params)

    other = engine.raw_connection()
    observer = engine.raw_connection()
    try:
        other.driver_connection.cursor_factory = writer._statements.dbapi.RawCursor
        cursor = other.cursor()
        cursor.execute("SET lock_timeout = '10s'")
        sql, convert = writer._statements.insert(1)
        cursor.execute(sql, convert([delivery("race-a")]))  # uncommitted: the other process's

        recorder = Recorder(writer)
        recorder.start(0, delivery("race-b"))
        deadline = time.monotonic() + 10
        while len(writer._pending) < 1 and time.monotonic() < deadline:
            time.sleep(0.005)
        recorder.start(1, delivery("race-a"))
        monkeypatch.setattr(writer, "_execute", counted)
        held(2)  # the next batch: race-b, race-a

        watch = observer.cursor()
        deadline = time.monotonic() + 10
        waiting = 0
        while not waiting and time.monotonic() < deadline:
            watch.execute("SELECT count(*) FROM pg_stat_activity "
                          "WHERE wait_event_type = 'Lock' AND datname = current_database()")
            waiting = watch.fetchone()[0]
            observer.rollback()
            time.sleep(0.01)
        assert waiting == 1  # the batch waits for the other transaction's race-a

        cursor.execute(sql, convert([delivery("race-b")]))  # no deadlock: the batch holds no race-b
        assert [webhook_id for _, webhook_id in cursor.fetchall()] == ["race-b"]
        other.commit()
        cursor.close()
        results = recorder.join()
    finally:
        other.invalidate()  # its cursor factory is not the pool's
        observer.close()

    assert results == {0: None, 1: None}  # both already recorded by the other process
    assert len(calls) == 1  # written once: no deadlock victim sent again
    assert writer.sizes == [1, 2]  # type: ignore[attr-defined]
    assert set(_rows(session)) == {"blocker", "race-a", "race-b"}
