"""Runs code of ours in a process that gevent patched, as a gevent gunicorn worker is, and prints
what it saw as one JSON line. The test process itself is never patched.

    python -m tests.support.gevent_probe cooperative
    python -m tests.support.gevent_probe writer|writer_interrupted|slots '<settings environ as JSON>'
    python -m tests.support.gevent_probe devshop DIRECTORY
"""

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402 - after the patch, as in gunicorn.conf.py
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
import gevent.event  # noqa: E402

from shopify_app import cooperative  # noqa: E402

# The blocking sleep gevent replaced: a C call that releases the GIL, like Argon2.
native_sleep = monkey.get_original("time", "sleep")


def ticks_during(call: Any) -> int:
    """How often another greenlet got to run (every ms) while `call()` ran."""
    count = 0

    def tick() -> None:
        nonlocal count
        while True:
            gevent.sleep(0.001)
            count += 1

    ticker = gevent.spawn(tick)
    gevent.sleep(0)  # let it start
    before = count
    call()
    during = count - before
    ticker.kill()
    return during


def cooperative_probe() -> dict[str, Any]:
    from shopify_app.staff import passwords

    out: dict[str, Any] = {"gevent_active": cooperative.gevent_active()}
    out["ticks_native_sleep"] = ticks_during(lambda: native_sleep(0.2))
    out["ticks_off_loop_sleep"] = ticks_during(lambda: cooperative.off_loop(native_sleep, 0.2))

    password = "correct horse battery staple"
    hashed = passwords.hash_password(password)
    out["verify_right"] = passwords.verify_password(hashed, password)
    out["verify_wrong"] = passwords.verify_password(hashed, password + "!")
    out["verify_unknown_account"] = passwords.verify_password(None, password)

    # Twenty greenlets ready to run: gather_ready lets every one of them go first.
    arrived: list[int] = []
    release = gevent.event.Event()

    def arrive(i: int) -> None:
        arrived.append(i)
        release.wait()

    waiting = [gevent.spawn(arrive, i) for i in range(20)]
    cooperative.gather_ready(1.0)
    out["arrived_after_gather"] = len(arrived)
    release.set()
    gevent.joinall(waiting, timeout=5)

    # A greenlet that never lets the loop go idle: gather_ready still returns after its limit.
    def spin() -> None:
        while True:
            gevent.sleep(0)

    spinner = gevent.spawn(spin)
    gevent.sleep(0)
    started = time.monotonic()
    cooperative.gather_ready(0.05)
    out["gather_seconds_on_busy_loop"] = time.monotonic() - started
    spinner.kill()
    return out


def writer_probe(environ: dict[str, str]) -> dict[str, Any]:
    """Fifty requests at once (40 webhook ids, 10 of them sent twice) through the real writer."""
    from shopify_app import create_app
    from shopify_app.models import utcnow
    from shopify_app.settings import Settings
    from shopify_app.webhooks import writer as writer_module
    from shopify_app.webhooks.writer import Delivery, get_writer

    app = create_app(Settings.from_env(environ))
    writer = get_writer(app)
    # The mechanism, not the machine's speed: 49 greenlets get all the time they need to queue
    # (GATHER_SECONDS's own bound is checked by the cooperative probe).
    writer_module.GATHER_SECONDS = 5.0
    batches: list[int] = []
    writer.on_batch = batches.append
    body = json.dumps({"id": 1, "title": "Probe"})
    ids = [f"gevent-probe-{i}" for i in range(40)] + [f"gevent-probe-{i}" for i in range(10)]
    deliveries = [Delivery(webhook_id=webhook_id, topic="products/create", shop_domain="probe.myshopify.com",
                           api_version="2026-10", triggered_at=None, payload=body, received_at=utcnow())
                  for webhook_id in ids]
    greenlets = [gevent.spawn(writer.record, delivery) for delivery in deliveries]
    gevent.joinall(greenlets, timeout=60, raise_error=True)
    out: dict[str, Any] = {"results": [[d.webhook_id, g.value] for d, g in zip(deliveries, greenlets, strict=True)],
                           "batches": batches}
    if writer.engine.dialect.name == "postgresql":
        import psycopg.waiting

        out["psycopg_wait"] = psycopg.waiting.wait.__name__
    writer.close()
    return out


def writer_interrupted_probe(environ: dict[str, str]) -> dict[str, Any]:
    """Requests killed (as gunicorn kills the greenlets of a worker past its graceful timeout)
    while leading, while queued and right after being handed the leadership: the writer must
    keep recording for the others, and close at once."""
    from shopify_app import create_app
    from shopify_app.models import utcnow
    from shopify_app.settings import Settings
    from shopify_app.webhooks import writer as writer_module

    app = create_app(Settings.from_env(environ))
    writer = writer_module.get_writer(app)
    writer.timeout = 3.0  # a stranded queue shows up as DeliveryNotRecorded within 3 s

    run = uuid.uuid4().hex[:8]

    def record(webhook_id: str) -> Any:
        return writer.record(writer_module.Delivery(
            webhook_id=f"{webhook_id}-{run}", topic="products/create", shop_domain="probe.myshopify.com",
            api_version="2026-10", triggered_at=None, payload="{}", received_at=utcnow()))

    def outcome(greenlet: gevent.Greenlet) -> Any:
        greenlet.join(10)
        if not greenlet.ready():
            return "still waiting"
        if not greenlet.successful():
            return type(greenlet.exception).__name__
        value = greenlet.value  # a killed greenlet "succeeds" with the GreenletExit
        return type(value).__name__ if isinstance(value, BaseException) else value

    real_gather, gate = cooperative.gather_ready, gevent.event.Event()
    out: dict[str, Any] = {}

    # 1. The leader is killed while it gathers; the request queued behind it must still be
    #    recorded (it is handed the leadership).
    cooperative.gather_ready = lambda _limit: gate.wait()
    leader = gevent.spawn(record, "killed-leader")
    behind = gevent.spawn(record, "behind-the-killed-leader")
    gevent.sleep(0.05)
    leader.kill()
    cooperative.gather_ready = real_gather
    gate.set()
    out["killed_leader"] = outcome(leader)
    out["behind_killed_leader"] = outcome(behind)

    # 2. A queued request is killed; its leader and a later request are recorded.
    gate.clear()
    cooperative.gather_ready = lambda _limit: gate.wait()
    leader = gevent.spawn(record, "leader-of-a-killed-follower")
    follower = gevent.spawn(record, "killed-follower")
    gevent.sleep(0.05)
    follower.kill()
    cooperative.gather_ready = real_gather
    gate.set()
    out["leader_of_killed_follower"] = outcome(leader)
    out["killed_follower"] = outcome(follower)

    # 3. Requests that queue while a batch is being written are killed as that batch ends,
    #    the first of them just as it is handed the leadership.
    real_insert, gate = writer._insert, gevent.event.Event()

    def slow_insert(rows: Any) -> Any:
        gate.wait()
        return real_insert(rows)

    writer._insert = slow_insert
    leader = gevent.spawn(record, "slow-batch")
    gevent.sleep(0.05)
    queued = [gevent.spawn(record, f"killed-as-promoted-{i}") for i in range(3)]
    gevent.sleep(0.05)
    writer._insert = real_insert
    gate.set()
    gevent.sleep(0)
    for greenlet in queued:
        greenlet.kill(block=False)
    out["slow_batch"] = outcome(leader)
    out["killed_as_promoted"] = [outcome(greenlet) for greenlet in queued]

    out["after"] = outcome(gevent.spawn(record, "after-the-kills"))
    started = time.monotonic()
    writer.close()
    out["close_seconds"] = time.monotonic() - started
    return out


def devshop_probe(root: str) -> dict[str, Any]:
    """Thirty requests using the dev shop's store at once (each yielding mid-read and mid-write)."""
    from shopify_app.devshop.store import DevShopStore

    store = DevShopStore(Path(root), "probe.myshopify.com", "https://studio.test")
    connections: set[int] = set()

    def use(i: int) -> int:
        with store.write() as conn:
            connections.add(id(conn))
            conn.execute("CREATE TABLE IF NOT EXISTS probe (i INTEGER)")
            gevent.sleep(0)
            conn.execute("INSERT INTO probe (i) VALUES (?)", (i,))
        with store.read() as conn:
            connections.add(id(conn))
            gevent.sleep(0)
            return int(conn.execute("SELECT count(*) FROM probe").fetchone()[0])

    greenlets = [gevent.spawn(use, i) for i in range(30)]
    gevent.joinall(greenlets, timeout=30, raise_error=True)
    return {"connections": len(connections), "counts": sorted(g.value for g in greenlets)}


def slots_probe(environ: dict[str, str]) -> dict[str, Any]:
    """Forty requests at once to a gevent worker's app (not webhooks): how many run together."""
    from werkzeug.test import EnvironBuilder

    from shopify_app import create_app, db
    from shopify_app.settings import Settings

    app = create_app(Settings.from_env(environ))
    slots = app.wsgi_app.wrapped  # inside the webhook endpoint's middleware
    running = most = 0

    def slow_app(_environ: Any, start_response: Any) -> Any:
        nonlocal running, most
        running += 1
        most = max(most, running)
        gevent.sleep(0.01)  # waits as a request waits on the database or Shopify
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    def finish(result: Any) -> None:
        nonlocal running
        running -= 1

    slots.wrapped = slow_app

    def request(i: int) -> bytes:
        response = app.wsgi_app(EnvironBuilder(path=f"/app/page-{i}").get_environ(), lambda *_args: None)
        try:
            return b"".join(response)
        finally:
            finish(response)
            response.close()

    greenlets = [gevent.spawn(request, i) for i in range(40)]
    gevent.joinall(greenlets, timeout=30, raise_error=True)
    return {"middleware": type(slots).__name__, "slots": slots.slots, "pool_slots": db.REQUEST_SLOTS,
            "most_at_once": most, "answers": sorted({g.value.decode() for g in greenlets})}


if __name__ == "__main__":
    if sys.argv[1] == "cooperative":
        result = cooperative_probe()
    elif sys.argv[1] == "writer":
        result = writer_probe(json.loads(sys.argv[2]))
    elif sys.argv[1] == "slots":
        result = slots_probe(json.loads(sys.argv[2]))
    elif sys.argv[1] == "devshop":
        result = devshop_probe(sys.argv[2])
    else:
        result = writer_interrupted_probe(json.loads(sys.argv[2]))
    print(json.dumps(result))
