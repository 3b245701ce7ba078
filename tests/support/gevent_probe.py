"""Runs code of ours in a process that gevent patched, as a gevent gunicorn worker is, and prints
what it saw as one JSON line. The test process itself is never patched.

    python -m tests.support.gevent_probe cooperative
    python -m tests.support.gevent_probe writer '<settings environ as JSON>'
"""

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402 - after the patch, as in gunicorn.conf.py
import sys  # noqa: E402
import time  # noqa: E402
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
    from shopify_app.webhooks.writer import Delivery, get_writer

    app = create_app(Settings.from_env(environ))
    writer = get_writer(app)
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


if __name__ == "__main__":
    if sys.argv[1] == "cooperative":
        result = cooperative_probe()
    else:
        result = writer_probe(json.loads(sys.argv[2]))
    print(json.dumps(result))
