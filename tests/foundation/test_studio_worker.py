"""The production worker (`jobs.runtime.StudioWorker`): jobs run in the worker process (no work
horse per job), the worker keeps heartbeating while a long job runs, RQ's job timeout still
interrupts a job, and the worker asks to be recycled once it has run its quota of jobs."""

from __future__ import annotations

import datetime as dt
import time

from flask import Flask
from rq.job import Job

from jobs.maintenance import rq_job_lost
from jobs.runtime import StudioWorker, studio_job
from shopify_app import db
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


def leave_on_g_and_report_what_was_there() -> str | None:
    """Reports what an earlier job left on `flask.g` (nothing, if jobs are isolated), then leaves
    something itself."""
    from flask import g

    found = g.get("left_by_a_job")
    g.left_by_a_job = "earlier job"
    return found


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


_HELD: list[object] = []


@studio_job
def read_auto_shoot(domain: str) -> bool:
    """Reads a shop's setting, and (as an ORM reference cycle or a cache might) keeps the row."""
    from sqlalchemy import select

    from shopify_app.models import Shop

    shop = db.session.scalars(select(Shop).where(Shop.domain == domain)).one()
    _HELD.append(shop)
    return shop.auto_shoot


def test_each_job_gets_a_fresh_session(app: Flask) -> None:
    # The forking worker gave every job a fresh process; here jobs share one, and the app's
    # sessions keep loaded rows after a commit (expire_on_commit=False): a row the previous job
    # loaded must not be served, stale, from the identity map of the next job's session.
    from sqlalchemy import update

    from shopify_app.models import Shop

    with app.app_context():
        db.session.add(Shop(domain="stale-check.myshopify.com", auto_shoot=False))
        db.session.commit()
    queue = get_broker(app).queue("generation")
    first = queue.enqueue(read_auto_shoot, "stale-check.myshopify.com")
    worker(app).work(burst=True)
    with db.get_database(app).engine.begin() as connection:  # another process changes the row
        connection.execute(update(Shop).where(Shop.domain == "stale-check.myshopify.com").values(auto_shoot=True))
    second = queue.enqueue(read_auto_shoot, "stale-check.myshopify.com")
    try:
        worker(app).work(burst=True)
    finally:
        _HELD.clear()
    assert Job.fetch(first.id, connection=queue.connection).return_value() is False
    assert Job.fetch(second.id, connection=queue.connection).return_value() is True


def test_nothing_a_job_leaves_on_g_reaches_the_next(app: Flask) -> None:
    queue = get_broker(app).queue("generation")
    jobs = [queue.enqueue(leave_on_g_and_report_what_was_there) for _ in range(2)]
    with app.app_context():  # as `flask studio worker` runs: inside one long-lived app context
        worker(app).work(burst=True)
    assert [Job.fetch(job.id, connection=queue.connection).return_value() for job in jobs] == [None, None]


def test_recycling_by_size_reads_resident_memory_not_the_peak(app: Flask) -> None:
    # Linux keeps ru_maxrss across execve: judged on the peak, a worker recycled for its size
    # would recycle again after every job of its fresh process.
    import resource

    from jobs.runtime import _resident_kib

    big = b"x" * (64 << 20)  # every page written
    del big
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert _resident_kib() < peak_kib - 32 * 1024

    queue = get_broker(app).queue("generation")
    queue.enqueue(report_pid)
    w = worker(app)
    w.recycle_above_mb = (_resident_kib() + 256 * 1024) // 1024
    w.work(burst=True)
    assert not w.recycle_requested
    queue.enqueue(report_pid)
    w = worker(app)
    w.recycle_above_mb = 1
    w.work(burst=True)
    assert w.recycle_requested
