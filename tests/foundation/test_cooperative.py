"""`shopify_app.cooperative`: under gevent, Argon2 runs off the event loop and the webhook writer
gathers the ready requests; elsewhere both are plain calls. The gevent side runs in a patched
subprocess (`tests.support.gevent_probe`), as a gevent gunicorn worker would."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

from shopify_app import cooperative
from shopify_app.settings import PROJECT_ROOT


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


def test_under_gevent_blocking_c_work_leaves_the_other_requests_running() -> None:
    seen = run_probe("cooperative")
    assert seen["gevent_active"] is True
    # A blocking call made directly stops every greenlet (what off_loop is for)...
    assert seen["ticks_native_sleep"] <= 2
    # ...made through off_loop, the others go on ticking (every ms for 200 ms).
    assert seen["ticks_off_loop_sleep"] >= 50
    # Password checks keep their answers when they run on the pool's thread.
    assert (seen["verify_right"], seen["verify_wrong"], seen["verify_unknown_account"]) == (True, False, False)


def test_under_gevent_gather_ready_lets_ready_greenlets_run_and_is_bounded() -> None:
    seen = run_probe("cooperative")
    assert seen["arrived_after_gather"] == 20
    assert seen["gather_seconds_on_busy_loop"] < 1.0
