"""The job wrapper and the worker entry point.

Workers run jobs in their own process (`StudioWorker`, RQ's non-forking SimpleWorker plus a
heartbeat thread and recycling), not in a work horse forked per job as RQ's default `Worker`
does. Measured on the 2-core dev machine (a job that makes one database query): the forking
worker costs ~31 ms of CPU per job (fork, copy-on-write faults as the child touches the heap, a
new PostgreSQL and Redis connection in every child: the pool cannot be shared across a fork)
against ~5 ms without forking. A catalog shoot runs 1-3 jobs per product, so forking alone
would cost more than the pipeline's whole 30 ms per-product budget.

What the fork bought, and what stands in for it here:

- Crash isolation. A job that kills the interpreter (a segfault in a C extension, the OOM
  killer) takes the worker down with it instead of only its horse. Nothing is lost: the job's
  row names its step and RQ job id, and the reconciler re-schedules a step whose worker stopped
  heartbeating (tests/workflows/test_recovery.py and tests/foundation/test_runtime.py SIGKILL
  workers mid-step); the process supervisor restarts the worker.
- Memory growth. Each horse started from the parent's memory; here the process lives on. The
  worker recycles itself (`os.execv`, same pid, so a supervisor sees nothing) after
  `RECYCLE_AFTER_JOBS` jobs or when its resident memory passes `RECYCLE_ABOVE_MB`, between
  jobs. Each job gets a fresh database session, as each horse did.
- Heartbeats. The forking worker's parent heartbeats while its horse works; SimpleWorker runs
  the job on its only thread and would fall silent, so a step running longer than three beats
  would look lost to the reconciler. `StudioWorker` heartbeats from a thread while a job runs.
  A job that wedges the interpreter (holding the GIL) stops that thread too, so it looks
  lost, as a wedged horse's worker would after its timeout.
- Job timeouts. RQ's timeout for SimpleWorker is SIGALRM in the main thread, where the job
  runs; it raises `JobTimeoutException` in the job (`studio_job` rolls back, RQ marks the job
  failed, the reconciler re-schedules the step). Blocking I/O is interrupted (PEP 475 runs the
  handler); only a C call that never returns is not, and that is the wedged case above.

`flask studio worker --fork` still runs RQ's forking `Worker` for a deployment that prefers a
process per job over throughput.
"""

from __future__ import annotations

import functools
import logging
import os
import resource
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from flask import Flask, current_app, has_app_context
from rq import SimpleWorker, Worker, get_current_job
from rq.job import Job
from rq.queue import Queue

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


# A non-forking worker replaces itself with a fresh process (same pid) between jobs after this
# many jobs, or once its resident memory passes this many MiB.
RECYCLE_AFTER_JOBS = 10_000
RECYCLE_ABOVE_MB = 1024


def _resident_kib() -> int:
    """The process's resident memory now. Not `ru_maxrss`: Linux carries that peak across
    `execve`, so a worker recycled for its size would see the old peak and recycle again
    after every job."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
    except (OSError, ValueError, IndexError):  # not Linux: the peak (kB on Linux, bytes on macOS)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak // 1024 if sys.platform == "darwin" else peak


class StudioWorker(SimpleWorker):
    """RQ's SimpleWorker (jobs run in this process, no fork per job; see the module docstring),
    heartbeating while a job runs and asking to be recycled when it has grown."""

    recycle_after_jobs = RECYCLE_AFTER_JOBS
    recycle_above_mb = RECYCLE_ABOVE_MB

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recycle_requested = False
        self._jobs_done = 0
        self._running: Job | None = None
        self._beat_stop = threading.Event()
        self._beat_lock = threading.Lock()
        self._beat_thread: threading.Thread | None = None
        self._beat_sent = self._beat_until = float("-inf")

    def execute_job(self, job: Job, queue: Queue) -> None:
        if self._beat_thread is None:
            self._beat_thread = threading.Thread(target=self._beat, daemon=True, name="job-heartbeat")
            self._beat_thread.start()
        self._running = job
        # A fresh session per job, as a forked horse had: the worker's app context (and so its
        # thread's scoped session) lives across jobs, and the app's sessions keep loaded rows
        # after a commit (expire_on_commit=False), so a row a previous job loaded, still held
        # (a reference cycle not yet collected), would be served stale from the identity map.
        # Its own app context too (of the worker's app), so nothing a job leaves on `flask.g`
        # reaches the next one.
        app = current_app._get_current_object() if has_app_context() else _app()  # type: ignore[attr-defined]
        db.session.remove()
        try:
            with app.app_context():
                super().execute_job(job, queue)
        finally:
            self._running = None
            db.session.remove()
        self._jobs_done += 1
        if self._should_recycle():
            self.recycle_requested = True
            self._stop_requested = True  # RQ's loop stops before taking the next job

    def _beat(self) -> None:
        """What the forking worker's parent does while its horse works: keep the worker's
        heartbeat fresh, so the reconciler does not take a long step for a lost one. (The job's
        own entry in RQ's started registry already lives until the job's timeout + 60 s, past
        which RQ's death penalty has ended the job.)"""
        interval = self.job_monitoring_interval
        while not self._beat_stop.wait(interval):
            job = self._running
            if job is None:
                continue  # between jobs the work loop heartbeats itself
            try:
                with self._beat_lock:
                    if not self._beat_stop.is_set():
                        self.heartbeat(self.get_heartbeat_ttl(job))
            except Exception:  # Redis briefly away: the next beat tries again
                log.debug("job heartbeat skipped", exc_info=True)

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        """RQ's heartbeat in one round trip instead of two, and not again within a second of the
        last one when that one already keeps the worker alive as long (RQ's loop beats before
        and after every dequeue and after every job: three beats for a short job)."""
        if pipeline is not None:
            super().heartbeat(timeout, pipeline=pipeline)
            self._beat_until = time.monotonic() + (timeout or self.worker_ttl + 60)
            return
        ttl = timeout or self.worker_ttl + 60
        now = time.monotonic()
        if now - self._beat_sent < 1.0 and self._beat_until >= now + ttl - 1.0:
            return
        with self.connection.pipeline(transaction=False) as batch:
            super().heartbeat(timeout, pipeline=batch)
            batch.execute()
        self._beat_sent, self._beat_until = now, now + ttl

    def _should_recycle(self) -> bool:
        if self._jobs_done >= self.recycle_after_jobs:
            return True
        return _resident_kib() > self.recycle_above_mb * 1024

    def teardown(self) -> None:
        self._beat_stop.set()
        with self._beat_lock:  # no beat after RQ deletes the worker's key
            super().teardown()


def run_worker(
    app: Flask,
    queues: tuple[str, ...] = QUEUE_NAMES,
    burst: bool = False,
    worker_class: type[Worker] | type[SimpleWorker] = StudioWorker,
    name: str | None = None,
    recycle: bool = False,
) -> bool:
    """Work the queues in priority order with RQ's scheduler on (polling is scheduled, never slept).

    With `recycle` (the `flask studio worker` command), a StudioWorker that asked to be recycled
    execs this same command line again: a fresh interpreter under the same pid."""
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
        worked = worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level)
    finally:
        stop.set()
    if recycle and not burst and getattr(worker, "recycle_requested", False):
        log.info("worker %s recycles itself", worker.name)
        logging.shutdown()
        os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
    return worked
