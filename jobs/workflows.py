"""Workflow steps run by RQ workers.

THIS IS A SEAM. `start` is the first step of every job created by
`shopify_app.workflows.service.create_job` (scheduled as "jobs.workflows:start" on the
`generation` queue). For now it only claims the job and marks it IN_PROGRESS; the workflow engine
replaces this module with the real steps (model generation, try-on, catalog shoot, publish, undo)
and keeps the name and signature of `start(job_id)`.
"""

from __future__ import annotations

import logging

from jobs.runtime import current_rq_job_id, studio_job
from shopify_app import db
from shopify_app.models import JobStatus, utcnow
from shopify_app.steps import claim

log = logging.getLogger(__name__)


@studio_job
def start(job_id: str) -> None:
    """Claim the job and mark it started. Late or duplicate messages are no-ops (`claim`)."""
    session = db.session()
    job = claim(session, job_id, current_rq_job_id())
    if job is None:
        return
    job.status = JobStatus.IN_PROGRESS
    job.stage = "started"
    job.started_at = job.started_at or utcnow()
    # Nothing runs next until the engine lands; the reconciler's deadline fails and refunds it.
    job.next_step = None
    log.info("job %s (%s) started; no workflow steps are installed yet", job.id, job.workflow)
