"""What the web process does differently when gevent runs it (gunicorn.conf.py on PostgreSQL).

Under gevent every request is a greenlet on one OS thread, and the standard library is patched
so that waiting on a socket, a lock or a sleep lets the other greenlets run. Two things need
more than that:

- CPU-heavy C work that releases the GIL (Argon2) would still stop every request of the
  process while it runs: `off_loop` runs it on a real thread of gevent's pool instead;
- the webhook writer gathers the deliveries of the greenlets that are ready before it writes a
  batch (`gather_ready`), since nothing else would make them queue up while it runs.

And one thing threads did for free: a gthread worker ran at most 16 requests at once, fewer
than the database pool's 20 connections, while a gevent worker takes up to 1000. `RequestSlots`
keeps every request but a webhook (which the writer records on a connection of its own) to
`db.REQUEST_SLOTS` at once; the others wait their turn, as they waited for a thread.

Outside gevent (gthread workers, RQ workers, the CLI, tests) all of this is a plain call or
absent.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

from werkzeug.wsgi import ClosingIterator

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

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


class RequestSlots:
    """WSGI middleware: at most `slots` requests inside `wrapped` at once, each holding its slot
    until its response is closed; the others wait (under gevent, a greenlet switch)."""

    def __init__(self, wrapped: WSGIApplication, slots: int):
        self.wrapped = wrapped
        self.slots = slots
        self._free = threading.BoundedSemaphore(slots)  # gevent's when threading is patched

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        self._free.acquire()
        try:
            response = self.wrapped(environ, start_response)
        except BaseException:
            self._free.release()
            raise
        return ClosingIterator(response, self._free.release)


__all__ = ["RequestSlots", "gather_ready", "gevent_active", "off_loop"]
