"""A GenerationJob advances in steps; each step is one RQ job that takes the job's id.

`schedule_step` writes the step on the row (`next_step`, `rq_job_id`) and enqueues it after
commit, so a lost message can be found again by the reconciler. `claim` is how a step starts:
it returns the job only when the message is the one the row expects, which turns late or
duplicate messages into no-ops. `fail_job` ends a job and refunds what it was charged.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopify_app import credits
from shopify_app.models import GenerationJob, JobStatus, utcnow
from shopify_app.queues import enqueue_after_commit

log = logging.getLogger(__name__)


def schedule_step(
    session: Session,
    job: GenerationJob,
    step: str,
    queue: str,
    delay: dt.timedelta | None = None,
) -> str:
    """Make `step` ("module:function") the job's next step, enqueued once the row commits."""
    rq_job_id = f"{job.id}-{secrets.token_hex(4)}"
    job.next_step = f"{queue}/{step}"
    job.rq_job_id = rq_job_id
    job.updated_at = utcnow()
    enqueue_after_commit(session, queue, step.replace(":", "."), job.id, job_id=rq_job_id, delay=delay)
    return rq_job_id


def split_step(next_step: str) -> tuple[str, str]:
    queue, _, step = next_step.partition("/")
    return queue, step


# How long a message id is remembered as delivered (longer than any job may run).
DELIVERED_TTL_SECONDS = 6 * 3600


def claim(session: Session, job_id: str, rq_job_id: str | None) -> GenerationJob | None:
    """Lock the job row; None when it is finished or the message is not the expected one."""
    if rq_job_id is not None and not _first_delivery(rq_job_id):
        # The same message delivered twice, both copies running at once. The row lock alone
        # cannot settle this: a step that commits mid-way (media publishing commits its attach
        # intent before calling Shopify) releases the lock while it still has work to do, and
        # the copy would then pass the rq_job_id check below. A message id runs once.
        log.info("message %s is already being run", rq_job_id)
        return None
    job = session.scalar(select(GenerationJob).where(GenerationJob.id == job_id).with_for_update())
    if job is None:
        log.warning("step for a job that no longer exists: %s", job_id)
        return None
    if JobStatus(job.status).terminal:
        return None
    if rq_job_id is not None and job.rq_job_id != rq_job_id:
        log.info("stale message %s for job %s (expects %s)", rq_job_id, job_id, job.rq_job_id)
        return None
    return job


def finish_job(job: GenerationJob) -> None:
    job.status = JobStatus.SUCCESS
    job.stage = "done"
    job.progress = 100
    job.next_step = None
    job.finished_at = utcnow()


def fail_job(session: Session, job: GenerationJob, code: str, message: str) -> None:
    """End the job as FAILURE with a reason, and refund what it did not deliver (at most once)."""
    job.status = JobStatus.FAILURE
    job.stage = "failed"
    job.error_code = code
    job.error_message = message
    job.failed_step = job.next_step or job.failed_step
    job.next_step = None
    job.finished_at = utcnow()
    # The workflow engine says what is owed back (images already delivered are not refunded)
    # and what else a failure ends (a catalog model that will never be ready). Imported here:
    # the workflows package imports this module.
    from shopify_app.workflows import settlement

    refunded = credits.refund(session, job, amount=settlement.refund_due(session, job), reason=f"refund: {code}")
    settlement.after_failure(session, job)
    log.info("job failed: %s (%s); refunded %s credits", code, message, refunded)


def _first_delivery(rq_job_id: str) -> bool:
    from shopify_app.queues import get_broker

    return bool(get_broker().redis.set(f"studio:delivered:{rq_job_id}", 1, nx=True, ex=DELIVERED_TTL_SECONDS))
