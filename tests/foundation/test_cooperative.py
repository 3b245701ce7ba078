"""`shopify_app.cooperative`: under gevent, Argon2 runs off the event loop, the webhook writer
gathers the ready requests and other requests take one of a few slots; elsewhere all of it is a
plain call or absent. The gevent side runs in a patched subprocess
(`tests.support.gevent_probe`), as a gevent gunicorn worker would."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from shopify_app import cooperative, db
from shopify_app.settings import PROJECT_ROOT
from tests.conftest import settings_environ


def run_probe(*args: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "tests.support.gevent_probe", *args], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_without_gevent_everything_is_a_plain_call() -> None:
    assert not cooperative.gevent_active()
    caller = threading.get_ident()
    assert cooperative.off_loop(threading.get_ident) == caller  # same thread, no pool
    cooperative.gather_ready(10.0)  # returns at once: nothing to gather


@pytest.fixture(scope="module")
def seen() -> dict:
    return run_probe("cooperative")


def test_under_gevent_blocking_c_work_leaves_the_other_requests_running(seen: dict) -> None:
    assert seen["gevent_active"] is True
    # A blocking call made directly stops every greenlet (what off_loop is for)...
    assert seen["ticks_native_sleep"] <= 2
    # ...made through off_loop, the others go on ticking (every ms for 200 ms).
    assert seen["ticks_off_loop_sleep"] >= 50
    # Password checks keep their answers when they run on the pool's thread.
    assert (seen["verify_right"], seen["verify_wrong"], seen["verify_unknown_account"]) == (True, False, False)


def test_under_gevent_gather_ready_lets_ready_greenlets_run_and_is_bounded(seen: dict) -> None:
    assert seen["arrived_after_gather"] == 20
    # A loop that is never idle: the 0.05 s limit ends the wait (unbounded, it would never end).
    assert 0.04 <= seen["gather_seconds_on_busy_loop"] < 0.5


def test_without_gevent_requests_are_not_slotted(app) -> None:  # noqa: ANN001
    assert not isinstance(app.wsgi_app.wrapped, cooperative.RequestSlots)  # gthread has its threads


def test_under_gevent_at_most_request_slots_requests_run_at_once(
        tmp_path: Path, database_url: str, redis_url: str) -> None:
    slotted = run_probe("slots", json.dumps(settings_environ(tmp_path, database_url, redis_url)))
    assert slotted["middleware"] == "RequestSlots"
    assert slotted["slots"] == db.REQUEST_SLOTS < db.POOL_SIZE + db.MAX_OVERFLOW
    assert slotted["most_at_once"] == db.REQUEST_SLOTS  # 40 offered, 16 in, the rest waited
    assert slotted["answers"] == ["ok"]
