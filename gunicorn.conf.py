"""Gunicorn as in production: `gunicorn app:app -c gunicorn.conf.py`.

The one place the web server is configured: the README's deployment table, `flask studio dev`
(`make run`) and `bench/webhooks.py` all use it; command-line flags override it (the dev runner
sets its bind address and an access log).

Environment: `PORT` (8000) or `GUNICORN_BIND`, `WEB_CONCURRENCY` (worker processes; default one
per CPU), `GUNICORN_WORKER_CLASS` (default: see below), `GUNICORN_WORKER_CONNECTIONS` (1000,
gevent), `GUNICORN_THREADS` (16, gthread), `GUNICORN_ACCESS_LOG` (unset: no access log; the
app's JSON logs carry what matters).

The worker class follows the database. On PostgreSQL (production) it is **gevent**: a request
is a greenlet, and almost every request waits (a webhook on its group commit, an embedded page
on Shopify's Admin API), which costs a greenlet switch instead of an OS thread parked on the
GIL. With 16 gthread threads a process spent most of a webhook's CPU on GIL hand-offs (9 to 25
context switches per request against 2 to 3 for a bare endpoint, `bench/webhooks.py`); under
gevent the same endpoint serves 1.7x the deliveries with less CPU each. psycopg 3 cooperates
with gevent by itself, provided gevent patched the standard library before psycopg was
imported, hence the patch below, before anything else (preload_app imports the app in this
process). On SQLite (the embedded development default) it stays **gthread**: sqlite3 waits for
a lock in C, which under gevent would stop every request of the process until it timed out.

Under gevent nothing preempts a request: one that computes for 50 ms delays the others of its
process by 50 ms. The app's CPU-heavy C work goes to a thread (`shopify_app.cooperative`), and
every request but a webhook takes one of `shopify_app.db.REQUEST_SLOTS` (16, as many as the
gthread threads were) so that the database pool (20 per process) is never asked for more than
it has.
"""

from __future__ import annotations

import os


def _worker_class() -> str:
    chosen = os.environ.get("GUNICORN_WORKER_CLASS")
    if chosen:
        return chosen
    database_url = os.environ.get("DATABASE_URL", "")
    return "gevent" if database_url.startswith(("postgres://", "postgresql")) else "gthread"


worker_class = _worker_class()
# "gevent", "gevent_wsgi", "gevent_pywsgi" or the class's dotted path: all need the early patch.
if worker_class.startswith("gevent") or "ggevent" in worker_class:
    from gevent import monkey

    monkey.patch_all()

import sys  # noqa: E402 - after the patch, on purpose
from typing import Any  # noqa: E402

bind = os.environ.get("GUNICORN_BIND") or f"0.0.0.0:{os.environ.get('PORT', '8000')}"

# One process per CPU does the Python work (the GIL allows one core per process); greenlets (or,
# on SQLite, threads) overlap what a request waits on. A webhook waits for its group commit
# (`shopify_app.webhooks.writer`), and the more requests one process has waiting at once, the
# larger its batches and the cheaper each delivery: a few processes with many requests each.
workers = int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 2)
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS") or 1000)
threads = int(os.environ.get("GUNICORN_THREADS") or 16)
# All workers accept from the master's one socket, so a worker being replaced never leaves a
# port without a listener. (Not SO_REUSEPORT: gunicorn then binds one socket per worker and the
# kernel refuses connections whenever none is up, e.g. while the only worker is recycled.)
# gevent workers accept one connection per turn of their loop (gunicorn sets max_accept=1 with
# more than one worker); connections that arrive at the same instant can still all land on the
# worker that is awake, and a keep-alive connection stays where it landed.

# Keep-alive: Shopify and load balancers reuse connections; an idle one costs a file descriptor
# in the worker's poller, not a thread.
keepalive = 5
backlog = 2048
timeout = 30
# Shopify gives up on a webhook after ~5 s and retries it: in-flight requests get that long to
# finish on a restart.
graceful_timeout = 10

# Recycle workers now and then (bounded memory growth), not all at once.
max_requests = 50_000
max_requests_jitter = 5_000

# Import the app once in the master and fork: faster boots, shared memory. Safe: nothing
# connects at import; `shopify_app.db` disposes the engine's pool in each forked child, redis-py
# reconnects after a fork, and each worker makes its own webhook writer on first use.
preload_app = True

accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# The heartbeat file on tmpfs, not a disk that may stall under load.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None


def worker_exit(server: Any, worker: Any) -> None:
    """Let the webhook writer finish the batches in hand before the worker process ends."""
    writer = sys.modules.get("shopify_app.webhooks.writer")
    if writer is not None:
        writer.shutdown_all()
