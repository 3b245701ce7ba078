"""The production worker (`jobs.runtime.StudioWorker`): jobs run in the worker process (no work
horse per job), the worker keeps heartbeating while a long job runs, RQ's job timeout still
interrupts a job, and the worker asks to be recycled once it has run its quota of jobs."""

from __future__ import annotations

import datetime as dt
import time

from flask import Flask
from rq.job import Job

from jobs.maintenance import rq_job_lost
from jobs.runtime import StudioWorker
from shopify_app.queues import get_broker


def report_pid() -> int:
    import os

    return os.getpid()


def outlive_three_heartbeats(seconds: float) -> bool:
    """Runs past three heartbeat intervals, then asks the reconciler's question about itself."""
    from rq import get_current_job

    time.sleep(seconds)  # a test job standing in for a long step; studio steps never sleep
    job = get_current_job()
    assert job is not None
    return rq_job_lost(job.id, stale_after=dt.timedelta(seconds=1.5))


def sleep_past_timeout() -> None:
    time.sleep(10)


def worker(app: Flask, **kwargs: object) -> StudioWorker:
    broker = get_broker(app)
    return StudioWorker([broker.queue("generation")], connection=broker.redis, **kwargs)  # type: ignore[arg-type]


def test_jobs_run_in_the_worker_process(app: Flask) -> None:
    import os

    queue = get_broker(app).queue("generation")
    job = queue.enqueue(report_pid)
    worker(app).work(burst=True)
    assert Job.fetch(job.id, connection=queue.connection).return_value() == os.getpid()


def test_a_long_job_keeps_its_worker_heartbeating(app: Flask) -> None:
    # Without the heartbeat thread the worker's last beat would be 3 s old when the job asks.
    queue = get_broker(app).queue("generation")
    job = queue.enqueue(outlive_three_heartbeats, 3.0)
    worker(app, job_monitoring_interval=0.5).work(burst=True)
    fetched = Job.fetch(job.id, connection=queue.connection)
    assert fetched.get_status() == "finished", fetched.latest_result().exc_string if fetched.latest_result() else ""
    assert fetched.return_value() is False


def test_rq_job_timeout_interrupts_a_job(app: Flask) -> None:
    queue = get_broker(app).queue("generation")
    job = queue.enqueue(sleep_past_timeout, job_timeout=1)
    started = time.monotonic()
    worker(app).work(burst=True)
    assert time.monotonic() - started < 8
    fetched = Job.fetch(job.id, connection=queue.connection)
    assert fetched.get_status() == "failed"
    assert "JobTimeoutException" in (fetched.latest_result().exc_string or "")


def test_the_worker_stops_for_recycling_after_its_quota(app: Flask) -> None:
    queue = get_broker(app).queue("generation")
    for _ in range(3):
        queue.enqueue(report_pid)
    w = worker(app)
    w.recycle_after_jobs = 2
    w.work(burst=True)
    assert w.recycle_requested
    assert queue.count == 1  # the third waits for the fresh process
