"""RQ steps that publish images to Shopify product media and undo it (`media` queue).

Both take the GenerationJob id, claim it (late or duplicate messages are no-ops), move every
MediaPush of the job along, and reschedule themselves with a delay while any is unfinished.
"""

from __future__ import annotations

from jobs.runtime import current_rq_job_id, studio_job
from shopify_app import db
from shopify_app.shopify import media
from shopify_app.steps import claim


@studio_job
def advance_publish(job_id: str) -> None:
    session = db.session()
    job = claim(session, job_id, current_rq_job_id())
    if job is not None:
        media.advance_publish(session, job)


@studio_job
def advance_undo(job_id: str) -> None:
    session = db.session()
    job = claim(session, job_id, current_rq_job_id())
    if job is not None:
        media.advance_undo(session, job)
