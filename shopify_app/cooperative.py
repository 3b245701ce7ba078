"""What the web process does differently when gevent runs it (gunicorn.conf.py on PostgreSQL).

Under gevent every request is a greenlet on one OS thread, and the standard library is patched
so that waiting on a socket, a lock or a sleep lets the other greenlets run. Two things need
more than that:

- CPU-heavy C work that releases the GIL (Argon2) would still stop every request of the
  process while it runs: `off_loop` runs it on a real thread of gevent's pool instead;
- the webhook writer gathers the deliveries of the greenlets that are ready before it writes a
  batch (`gather_ready`), since nothing else would make them queue up while it runs.

Outside gevent (gthread workers, RQ workers, the CLI, tests) both are plain calls / no-ops.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def gevent_active() -> bool:
    """True when gevent has patched `threading` in this process (a gevent gunicorn worker)."""
    monkey = sys.modules.get("gevent.monkey")
    return bool(monkey is not None and monkey.is_module_patched("threading"))


def off_loop(function: Callable[..., T], *args: object) -> T:
    """`function(*args)`; under gevent on a native thread of the hub's pool, so that the other
    greenlets of the process keep running meanwhile. For C work that releases the GIL."""
    if not gevent_active():
        return function(*args)
    import gevent

    return gevent.get_hub().threadpool.apply(function, args)


def gather_ready(limit_seconds: float) -> None:
    """Under gevent, let every greenlet that is ready to run go first (until each waits again),
    for at most `limit_seconds`; elsewhere return at once. On a busy process the event loop may
    never be idle, so the limit bounds what the caller waits."""
    if not gevent_active():
        return
    import gevent

    with gevent.Timeout(limit_seconds, False):
        gevent.idle()


__all__ = ["gather_ready", "gevent_active", "off_loop"]
