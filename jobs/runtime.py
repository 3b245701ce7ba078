"""The job wrapper and the worker entry point."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from flask import Flask, has_app_context
from rq import Worker, get_current_job

from shopify_app import db
from shopify_app.logs import log_context
from shopify_app.queues import QUEUE_NAMES, get_broker

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

# The worker builds its app once (from its own entry point) and binds it here; a forked work
# horse inherits it. Jobs never build an app per call.
_worker_app: Flask | None = None


def bind_app(app: Flask) -> None:
    global _worker_app
    _worker_app = app


def _app() -> Flask:
    if _worker_app is None:
        # A worker started by RQ's own CLI rather than `flask studio worker`.
        from shopify_app import create_app

        bind_app(create_app())
    assert _worker_app is not None
    return _worker_app


def studio_job(func: Callable[P, R]) -> Callable[P, R]:
    """Run `func` in an app context with one session; commit on success, roll back and re-raise
    on failure so RQ records it (and retries, where the enqueuer asked for retries)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        rq_job = get_current_job()
        rq_job_id = rq_job.id if rq_job else None
        if has_app_context():
            app_ctx = None
        else:
            app_ctx = _app().app_context()
            app_ctx.push()
        try:
            with log_context(job_id=rq_job_id):
                try:
                    result = func(*args, **kwargs)
                    db.session.commit()
                    return result
                except BaseException:
                    db.session.rollback()
                    log.exception("job %s failed", func.__qualname__)
                    raise
        finally:
            if app_ctx is not None:
                app_ctx.pop()

    return wrapper


def current_rq_job_id() -> str | None:
    job = get_current_job()
    return job.id if job else None


def run_worker(
    app: Flask,
    queues: tuple[str, ...] = QUEUE_NAMES,
    burst: bool = False,
    worker_class: type[Worker] = Worker,
    name: str | None = None,
) -> bool:
    """Work the queues in priority order with RQ's scheduler on (polling is scheduled, never slept)."""
    from jobs.maintenance import ensure_reconciler_scheduled

    bind_app(app)
    broker = get_broker(app)
    settings = app.config["STUDIO_SETTINGS"]
    worker = worker_class(
        [broker.queue(q) for q in queues],
        connection=broker.redis,
        name=name,
        job_monitoring_interval=settings.worker_heartbeat_seconds,
    )
    stop = threading.Event()
    if not burst and "maintenance" in queues:
        # A Redis flush also loses the reconciler's own schedule; this thread puts it back.
        def keep_reconciler_scheduled() -> None:
            while not stop.wait(settings.reconcile_interval_seconds):
                try:
                    with app.app_context():
                        ensure_reconciler_scheduled()
                except Exception:
                    log.exception("could not check the reconciler schedule")

        with app.app_context():
            ensure_reconciler_scheduled()
        threading.Thread(target=keep_reconciler_scheduled, daemon=True, name="reconciler-tick").start()
    try:
        return worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level)
    finally:
        stop.set()
