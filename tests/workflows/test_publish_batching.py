"""A direct-mode shoot publishes its products in batches while others still render: a product
that finished a moment ago waits for more (up to PUBLISH_MAX_WAIT_SECONDS); one that has waited
that long, or the last ones once nothing is rendering, are published at once."""

from __future__ import annotations

import datetime as dt

from rq.registry import ScheduledJobRegistry
from sqlalchemy import func, select

from shopify_app.models import GenerationJob, JobStatus, MediaPush, Workflow, utcnow
from shopify_app.queues import get_broker
from shopify_app.workflows import engine
from tests.workflows.conftest import Studio
from tests.workflows.test_failures import run_jobs


def pushes(studio: Studio) -> int:
    return studio.session.scalar(select(func.count()).select_from(MediaPush)) or 0


def test_a_lone_finished_product_waits_for_a_batch_then_is_published(studio: Studio, ready_model) -> None:  # noqa: ANN001
    model = ready_model()
    shoot = studio.create("catalog-shoot", catalog_model_id=model.id, product_ids=studio.products(),
                          num_images=1, publish="direct")
    run_jobs(studio, 2)  # the shoot's start, then one product's start
    done = [c for c in studio.children(shoot.id) if c.status == JobStatus.SUCCESS]
    assert len(done) == 1 and done[0].stage == engine.AWAITING_PUBLISH
    child = done[0]
    session = studio.session
    parent = session.get(GenerationJob, shoot.id)

    engine._publish_offered(session, parent, [child.id], everything_ended=False, finished={child.id: utcnow()})
    session.flush()
    assert pushes(studio) == 0  # others still render: wait for more

    waited = utcnow() - dt.timedelta(seconds=engine.PUBLISH_MAX_WAIT_SECONDS + 1)
    engine._publish_offered(session, parent, [child.id], everything_ended=False, finished={child.id: waited})
    session.flush()
    assert pushes(studio) == 1
    push_job = session.scalar(select(GenerationJob).where(GenerationJob.workflow == Workflow.PUSH_MEDIA.value))
    assert push_job is not None and push_job.parent_job_id == shoot.id


def test_nothing_waits_once_every_product_has_ended(studio: Studio, ready_model) -> None:  # noqa: ANN001
    model = ready_model()
    shoot = studio.create("catalog-shoot", catalog_model_id=model.id, product_ids=studio.products(),
                          num_images=1, publish="direct")
    run_jobs(studio, 2)
    child = next(c for c in studio.children(shoot.id) if c.status == JobStatus.SUCCESS)
    session = studio.session
    engine._publish_offered(session, session.get(GenerationJob, shoot.id), [child.id], everything_ended=True,
                            finished={child.id: utcnow()})
    session.flush()
    assert pushes(studio) == 1


def test_while_products_render_only_full_batches_go_and_the_newest_leftover_waits(
        studio: Studio, ready_model, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(engine, "PUBLISH_BATCH_PRODUCTS", 2)
    model = ready_model()
    shoot = studio.create("catalog-shoot", catalog_model_id=model.id, product_ids=studio.products(),
                          num_images=1, publish="direct")
    run_jobs(studio, 4)  # the shoot's start, then its three products
    children = [c for c in studio.children(shoot.id) if c.stage == engine.AWAITING_PUBLISH]
    assert len(children) == 3
    session = studio.session
    parent = session.get(GenerationJob, shoot.id)
    now = utcnow()
    finished = {children[0].id: now, children[1].id: now - dt.timedelta(seconds=2),
                children[2].id: now - dt.timedelta(seconds=1)}

    engine._publish_offered(session, parent, [c.id for c in children], everything_ended=False, finished=finished)
    session.flush()
    # One full batch of the two that waited longest; the newest waits for the next batch.
    push_jobs = session.scalars(select(GenerationJob).where(GenerationJob.workflow == Workflow.PUSH_MEDIA.value)).all()
    assert len(push_jobs) == 1
    published = {p.shopify_product_id for p in session.scalars(select(MediaPush))}
    assert published == {children[1].shopify_product_id, children[2].shopify_product_id}

    later = {children[0].id: now - dt.timedelta(seconds=engine.PUBLISH_MAX_WAIT_SECONDS + 1)}
    engine._publish_offered(session, parent, [children[0].id], everything_ended=False, finished=later)
    session.flush()
    assert pushes(studio) == 3  # waited long enough: published on its own


def test_the_last_product_to_finish_has_the_watch_run_at_once(studio: Studio, ready_model) -> None:  # noqa: ANN001
    model = ready_model()
    shoot = studio.create("catalog-shoot", catalog_model_id=model.id, product_ids=studio.products(),
                          num_images=1, publish="direct")
    media_queue = get_broker(studio.app).queue(engine.WATCH_QUEUE)
    scheduled = ScheduledJobRegistry(queue=media_queue)

    run_jobs(studio, 3)  # the shoot's start, then two of its three products
    watch = studio.job(shoot.id).rq_job_id
    assert scheduled.get_job_ids() == [watch] and media_queue.job_ids == []  # the watch's next round

    run_jobs(studio, 1)  # the last product
    shoot_row = studio.job(shoot.id)
    assert shoot_row.next_step == f"{engine.WATCH_QUEUE}/{engine.WATCH_STEP}"
    assert media_queue.job_ids == [shoot_row.rq_job_id] != [watch]  # queued now, not in a second
    studio.run()
    assert studio.job(shoot.id).status == JobStatus.SUCCESS
    assert all(len(studio.our_media(p)) == 1 for p in studio.products())
