"""Gunicorn as in production: `gunicorn app:app -c gunicorn.conf.py`.

The one place the web server is configured: the README's deployment table, `flask studio dev`
(`make run`) and `bench/webhooks.py` all use it; command-line flags override it (the dev runner
sets its bind address and an access log).

Environment: `PORT` (8000) or `GUNICORN_BIND`, `WEB_CONCURRENCY` (worker processes; default one
per CPU), `GUNICORN_THREADS` (16), `GUNICORN_ACCESS_LOG` (unset: no access log; the app's JSON
logs carry what matters).
"""

from __future__ import annotations

import os
import sys
from typing import Any

bind = os.environ.get("GUNICORN_BIND") or f"0.0.0.0:{os.environ.get('PORT', '8000')}"

# One process per CPU does the Python work (the GIL allows one core per process); threads
# overlap what a request waits on. A webhook waits for its group commit
# (`shopify_app.webhooks.writer`), and the more requests one process has waiting at once, the
# larger its batches and the cheaper each delivery: a few processes with many threads each, not
# many processes with two.
workers = int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 2)
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS") or 16)

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
