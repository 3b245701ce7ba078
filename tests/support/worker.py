"""Run queued jobs in the test process, as a worker would, and move scheduled jobs along."""

from __future__ import annotations

import time

from flask import Flask
from rq import SimpleWorker
from rq.registry import ScheduledJobRegistry

from jobs.runtime import bind_app
from shopify_app.queues import QUEUE_NAMES, get_broker


def release_scheduled(app: Flask, include_future: bool = False) -> int:
    """Enqueue scheduled jobs that are due (or all of them: time travel for polling steps)."""
    broker = get_broker(app)
    released = 0
    for name in QUEUE_NAMES:
        queue = broker.queue(name)
        registry = ScheduledJobRegistry(queue=queue)
        if include_future:
            job_ids = registry.get_job_ids()
        else:
            job_ids = registry.get_jobs_to_schedule(int(time.time()))
        for job_id in job_ids:
            job = queue.fetch_job(job_id if isinstance(job_id, str) else job_id.decode())
            registry.remove(job_id)
            if job is not None:
                queue.enqueue_job(job)
                released += 1
    return released


def drain(app: Flask, include_future: bool = False, max_rounds: int = 50) -> int:
    """Work every queue until nothing is left to run; returns the number of rounds taken."""
    bind_app(app)
    broker = get_broker(app)
    queues = [broker.queue(name) for name in QUEUE_NAMES]
    for round_number in range(1, max_rounds + 1):
        release_scheduled(app, include_future=include_future)
        if not any(q.count for q in queues):
            return round_number
        SimpleWorker(queues, connection=broker.redis).work(burst=True, with_scheduler=False)
    raise AssertionError(f"queues still busy after {max_rounds} rounds")


def work_queued(app: Flask) -> None:
    """Run what is queued now (and what those jobs enqueue at once), leaving scheduled jobs
    scheduled however long this takes: for tests that look at a job between its steps."""
    bind_app(app)
    broker = get_broker(app)
    SimpleWorker([broker.queue(name) for name in QUEUE_NAMES], connection=broker.redis).work(
        burst=True, with_scheduler=False)
