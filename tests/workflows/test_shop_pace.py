"""Steps meet the shop's Admin API rate limit by coming back later, not by sleeping in a worker,
and a step handed back for the shop's pace has not failed an attempt."""

from __future__ import annotations

import datetime as dt

from rq.registry import ScheduledJobRegistry

from shopify_app.devshop import control
from shopify_app.models import JobStatus
from shopify_app.queues import get_broker
from shopify_app.shopify.admin import CostBudget
from shopify_app.workflows import engine
from tests.support.devshop import graphql_calls
from tests.workflows.conftest import Studio
from tests.workflows.test_failures import run_jobs


def test_a_shoot_whose_product_lookup_meets_a_spent_bucket_comes_back_without_counting_an_attempt(
        studio: Studio, ready_model) -> None:  # noqa: ANN001
    model = ready_model()
    redis = get_broker(studio.app).redis
    # Another app (or an earlier shoot) has drained the shop's bucket; it refills at 1 point/s.
    control.set_bucket(maximum=2000, restore_rate=1, available=0, settings=studio.settings)
    control.clear_calls(studio.settings)
    shoot = studio.create("catalog-shoot", catalog_model_id=model.id, product_ids=studio.products(),
                          num_images=1, publish="direct")
    run_jobs(studio, 1)

    job = studio.job(shoot.id)
    assert job.status == JobStatus.IN_PROGRESS and job.attempts == 0
    assert job.next_step == f"{engine.QUEUE}/{engine.START_STEP}"
    assert studio.children(shoot.id) == []
    # Shopify answered THROTTLED once; the step then asked to come back when the lookup's points
    # are there (seconds away at 1 point/s) instead of waiting for them.
    assert [c["outcome"] for c in graphql_calls(studio.settings, "nodes", outcome=None)] == ["throttled"]
    scheduled = ScheduledJobRegistry(queue=get_broker(studio.app).queue(engine.QUEUE))
    assert scheduled.get_job_ids() == [job.rq_job_id]
    assert (scheduled.get_scheduled_time(job.rq_job_id) - dt.datetime.now(dt.UTC)).total_seconds() > 2

    control.set_bucket(restore_rate=100, available=2000, settings=studio.settings)
    redis.delete(CostBudget(redis, studio.shop.domain).key)
    studio.run()
    job = studio.job(shoot.id)
    assert job.status == JobStatus.SUCCESS, job.error_message
    assert job.attempts == 0
    assert all(len(studio.our_media(p)) == 1 for p in studio.products())
