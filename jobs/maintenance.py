"""Maintenance: the reconciler that finds work RQ lost and puts it back.

The database is the truth. Every job row that is not terminal names its next step and the RQ
job id it expects. If that RQ job is gone (Redis flushed), failed (it timed out, or, under
`--fork`, its work horse was killed), or started on a worker that stopped heartbeating (the
worker was killed, or a job wedged it), the step is scheduled
again under a new RQ id; `steps.claim` makes any late copy of the old message a no-op. Rows stuck
past the deadline are failed with a reason and refunded.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from flask import current_app
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus as RQStatus
from rq.worker import Worker
from sqlalchemy import select

from jobs.runtime import studio_job
from shopify_app import db
from shopify_app.models import GenerationJob, JobStatus, new_ulid, utcnow
from shopify_app.queues import get_broker
from shopify_app.steps import fail_job, schedule_step, split_step

log = logging.getLogger(__name__)

RECONCILER_PREFIX = "studio-reconciler-"
NEXT_RECONCILE_KEY = "studio:reconciler:next"
# A row touched this recently may have its enqueue still in flight (commit, then send).
GRACE = dt.timedelta(seconds=10)
# A step lost or crashed this many times is not tried again: a step that raises every time
# (or kills its worker) must not be re-run every interval until the deadline, each run possibly
# a paid provider call. The job fails with a refund and support can retry it.
MAX_RECOVERIES = 5


@dataclass
class ReconcileReport:
    examined: int = 0
    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    deliveries_requeued: int = 0


def rq_job_lost(rq_job_id: str | None, stale_after: dt.timedelta) -> bool:
    """True when the RQ job for a row can no longer complete on its own."""
    if not rq_job_id:
        return True
    redis = get_broker().redis
    try:
        rq_job = Job.fetch(rq_job_id, connection=redis)
    except NoSuchJobError:
        return True
    status = rq_job.get_status(refresh=False)
    if status in (RQStatus.FAILED, RQStatus.STOPPED, RQStatus.CANCELED):
        return True
    if status == RQStatus.FINISHED:
        # The step returned but the row still names it: it scheduled nothing and ended nothing.
        return True
    if status == RQStatus.STARTED:
        worker_name = rq_job.worker_name
        if not worker_name:
            return True
        worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + worker_name, connection=redis)
        if worker is None:
            return True
        heartbeat = worker.last_heartbeat
        if heartbeat is None:
            return True
        if heartbeat.tzinfo is None:
            heartbeat = heartbeat.replace(tzinfo=dt.UTC)
        return utcnow() - heartbeat > stale_after
    return False  # queued, scheduled, deferred: it will run


def reconcile(now: dt.datetime | None = None) -> ReconcileReport:
    settings = current_app.config["STUDIO_SETTINGS"]
    now = now or utcnow()
    deadline = now - dt.timedelta(seconds=settings.job_deadline_seconds)
    stale_after = dt.timedelta(seconds=3 * settings.worker_heartbeat_seconds)
    report = ReconcileReport()
    session = db.session()

    candidate_ids = session.scalars(
        select(GenerationJob.id)
        .where(GenerationJob.status.in_([JobStatus.NOT_STARTED, JobStatus.IN_PROGRESS]))
        .where(GenerationJob.updated_at < now - GRACE)
        .order_by(GenerationJob.updated_at)
        .limit(500)
    ).all()
    for job_id in candidate_ids:
        report.examined += 1
        job = session.scalar(select(GenerationJob).where(GenerationJob.id == job_id).with_for_update())
        if job is None or JobStatus(job.status).terminal:
            continue
        if job.created_at < deadline:
            fail_job(session, job, "deadline_exceeded",
                     "The job did not finish in time and was stopped; its credits were refunded.")
            report.failed.append(job.id)
        elif job.next_step and rq_job_lost(job.rq_job_id, stale_after):
            if job.recoveries >= MAX_RECOVERIES:
                fail_job(session, job, "step_keeps_failing",
                         "A step of this job failed repeatedly and was stopped; its credits were refunded.")
                report.failed.append(job.id)
            else:
                queue, step = split_step(job.next_step)
                job.recoveries += 1
                # Growing back-off between recoveries: 0 s, 30 s, 60 s, 120 s…
                delay = dt.timedelta(seconds=30 * 2 ** (job.recoveries - 2)) if job.recoveries > 1 else None
                schedule_step(session, job, step, queue, delay=delay)
                report.requeued.append(job.id)
        # Commit per row: one bad row must not hold back the rest, and each re-enqueue is sent
        # as soon as its row is durable.
        session.commit()
    # Webhook deliveries recorded but whose processing message was lost.
    from jobs.webhooks import requeue_stale_deliveries

    report.deliveries_requeued = requeue_stale_deliveries(now=now)
    session.commit()
    if report.requeued or report.failed or report.deliveries_requeued:
        log.info("reconciler: requeued %d, failed %d of %d examined; %d webhook deliveries requeued",
                 len(report.requeued), len(report.failed), report.examined, report.deliveries_requeued)
    return report


@studio_job
def run_reconciler() -> dict[str, int]:
    try:
        report = reconcile()
    finally:
        schedule_next_reconcile()
    return {"examined": report.examined, "requeued": len(report.requeued), "failed": len(report.failed)}


def schedule_next_reconcile() -> str:
    settings = current_app.config["STUDIO_SETTINGS"]
    broker = get_broker()
    # A fresh RQ id each run: reusing the running job's id would let its cleanup delete the next.
    rq_job = broker.queue("maintenance").enqueue_in(
        dt.timedelta(seconds=settings.reconcile_interval_seconds),
        run_reconciler,
        job_id=f"{RECONCILER_PREFIX}{new_ulid()}",
        result_ttl=600,
        failure_ttl=86400,
    )
    broker.redis.set(NEXT_RECONCILE_KEY, rq_job.id)
    return rq_job.id


def ensure_reconciler_scheduled() -> None:
    """Keep a reconciler run scheduled; cheap enough to call every interval."""
    broker = get_broker()
    next_id = broker.redis.get(NEXT_RECONCILE_KEY)
    if next_id:
        try:
            existing = Job.fetch(next_id.decode(), connection=broker.redis)
            if existing.get_status(refresh=False) in (RQStatus.SCHEDULED, RQStatus.QUEUED, RQStatus.STARTED):
                return
        except NoSuchJobError:
            pass
    schedule_next_reconcile()
