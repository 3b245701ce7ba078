"""Workflow steps run by RQ workers (the engine's logic is in `shopify_app.workflows.engine`).

Each takes the GenerationJob id, claims the row (`steps.claim`: a row lock; a late or duplicate
message is a no-op) and runs one engine step; `studio_job` commits, and only then are the next
steps enqueued.

    start        (generation) first step of every job created by `service.create_job`
    poll         (generation) one look at the job's provider task
    watch_shoot  (media)      a catalog shoot checking on its products, publishing their images
    published    (media)      after a direct publish: count what reached the product
"""

from __future__ import annotations

from jobs.runtime import current_rq_job_id, studio_job
from shopify_app import db
from shopify_app.steps import claim
from shopify_app.workflows import engine


@studio_job
def start(job_id: str) -> None:
    session = db.session()
    job = claim(session, job_id, current_rq_job_id())
    if job is not None:
        # One UPDATE of the job row at the end instead of one per query the step makes (the
        # engine and image intake flush explicitly where a query needs their rows; a try-on's
        # garment and images and the runner's task row are INSERTed at commit).
        with session.no_autoflush:
            engine.start(session, job)


@studio_job
def poll(job_id: str) -> None:
    session = db.session()
    job = claim(session, job_id, current_rq_job_id())
    if job is not None:
        with session.no_autoflush:
            engine.poll(session, job)


@studio_job
def watch_shoot(job_id: str) -> None:
    session = db.session()
    job = claim(session, job_id, current_rq_job_id())
    if job is not None:
        engine.watch_shoot(session, job)


@studio_job
def published(job_id: str) -> None:
    session = db.session()
    job = claim(session, job_id, current_rq_job_id())
    if job is not None:
        engine.published(session, job)
