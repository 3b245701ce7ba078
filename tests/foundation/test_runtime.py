"""The RQ runtime: enqueue after commit, the job wrapper, and the reconciler recovering lost work."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from flask import Flask
from rq.job import Job
from sqlalchemy import select
from sqlalchemy.orm import Session

from jobs.maintenance import reconcile
from shopify_app import credits
from shopify_app.models import GenerationJob, JobStatus, Shop, utcnow
from shopify_app.queues import enqueue_after_commit, get_broker
from shopify_app.settings import PROJECT_ROOT
from shopify_app.steps import schedule_step
from tests.conftest import settings_environ
from tests.support.worker import drain

STEP = "tests.support.steps:record_completion"


def make_job(session: Session, control_dir: Path, charge: int = 0) -> GenerationJob:
    shop = Shop(domain="runtime-shop.myshopify.com")
    session.add(shop)
    session.flush()
    credits.grant(session, shop.id, 10, "starter")
    job = GenerationJob(shop_id=shop.id, workflow="try-on", inputs={"control_dir": str(control_dir)})
    session.add(job)
    session.flush()
    credits.charge(session, job, charge)
    schedule_step(session, job, STEP, "generation")
    session.commit()
    return job


def later(seconds: float = 30) -> dt.datetime:
    return utcnow() + dt.timedelta(seconds=seconds)


def test_enqueue_happens_only_after_commit(app: Flask, session: Session) -> None:
    queue = get_broker().queue("maintenance")
    enqueue_after_commit(session, "maintenance", "jobs.maintenance.run_reconciler", job_id="after-commit")
    assert queue.count == 0
    session.rollback()
    session.commit()
    assert queue.count == 0  # the rollback dropped it
    enqueue_after_commit(session, "maintenance", "jobs.maintenance.run_reconciler", job_id="after-commit")
    session.commit()
    assert queue.job_ids == ["after-commit"]


def test_a_step_runs_and_commits_once(app: Flask, session: Session, tmp_path: Path) -> None:
    job = make_job(session, tmp_path)
    drain(app)
    session.expire_all()
    job = session.get(GenerationJob, job.id)
    assert job.status == JobStatus.SUCCESS
    assert job.outputs == {"completions": 1}


def test_a_stale_message_is_a_no_op(app: Flask, session: Session, tmp_path: Path) -> None:
    job = make_job(session, tmp_path)
    # Reschedule: the first message is now stale and must not complete the job twice.
    schedule_step(session, job, STEP, "generation")
    session.commit()
    drain(app)
    session.expire_all()
    assert session.get(GenerationJob, job.id).outputs == {"completions": 1}
    assert (tmp_path / "executions").read_text().count("\n") == 1


def test_redis_flush_loses_nothing(app: Flask, session: Session, tmp_path: Path) -> None:
    job = make_job(session, tmp_path)
    get_broker().redis.flushdb()  # every queued message is gone
    report = reconcile(now=later())
    assert report.requeued == [job.id]
    assert reconcile(now=later()).requeued == []  # queued again: nothing more to do
    drain(app)
    session.expire_all()
    job = session.get(GenerationJob, job.id)
    assert job.status == JobStatus.SUCCESS and job.outputs == {"completions": 1}
    assert job.recoveries == 1


def test_a_job_past_its_deadline_is_failed_and_refunded_once(app: Flask, session: Session, tmp_path: Path) -> None:
    job = make_job(session, tmp_path, charge=4)
    assert credits.balance(session, job.shop_id) == 6
    get_broker().redis.flushdb()
    deadline = app.config["STUDIO_SETTINGS"].job_deadline_seconds
    report = reconcile(now=later(deadline + 60))
    assert report.failed == [job.id]
    reconcile(now=later(deadline + 120))
    session.expire_all()
    job = session.get(GenerationJob, job.id)
    assert job.status == JobStatus.FAILURE and job.error_code == "deadline_exceeded"
    assert job.credits_refunded == 4
    assert credits.balance(session, job.shop_id) == 10


@pytest.mark.slow
def test_a_worker_killed_mid_job_is_recovered_exactly_once(
    app: Flask, session: Session, tmp_path: Path, database_url: str, redis_url: str
) -> None:
    (tmp_path / "block").write_text("1")
    job = make_job(session, tmp_path)
    environ = {**os.environ, **settings_environ(tmp_path, database_url, redis_url),
               "WORKER_HEARTBEAT_SECONDS": "1"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "studio", "worker", "--queues", "generation"],
        cwd=PROJECT_ROOT, env=environ, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "started").exists():
            assert worker.poll() is None, "worker exited early"
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.05)
        # Kill the worker and its work horse at once, as a lost machine would (RQ puts the
        # horse in its own process group, so it is killed by its pid).
        os.kill(int((tmp_path / "started").read_text()), signal.SIGKILL)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)

    rq_job = Job.fetch(session.get(GenerationJob, job.id).rq_job_id, connection=get_broker().redis)
    assert rq_job.get_status() == "started"  # Redis still thinks it runs
    # Until the heartbeat goes stale the reconciler leaves it alone…
    app.config["STUDIO_SETTINGS"] = app.config["STUDIO_SETTINGS"].replace(worker_heartbeat_seconds=1)
    time.sleep(3.5)
    report = reconcile(now=later())
    assert report.requeued == [job.id]
    drain(app)

    session.expire_all()
    job = session.get(GenerationJob, job.id)
    assert job.status == JobStatus.SUCCESS
    assert job.outputs == {"completions": 1}  # committed exactly once…
    assert (tmp_path / "executions").read_text().count("\n") == 2  # …though it ran twice
    assert session.scalars(select(GenerationJob)).all() == [job]


def test_a_webhook_delivery_whose_message_was_lost_is_processed_again(app: Flask, session: Session) -> None:
    from shopify_app.models import DeliveryOutcome, WebhookDelivery

    delivery = WebhookDelivery(webhook_id="lost-1", topic="customers/data_request",
                               shop_domain="runtime-shop.myshopify.com",
                               payload={"shop_domain": "runtime-shop.myshopify.com"},
                               received_at=utcnow() - dt.timedelta(minutes=5))
    queued = WebhookDelivery(webhook_id="queued-1", topic="customers/data_request",
                             shop_domain="runtime-shop.myshopify.com", payload={},
                             received_at=utcnow() - dt.timedelta(minutes=5))
    session.add_all([delivery, queued])
    session.commit()
    # One delivery's message is still waiting in the queue (a backlog); the other's was lost.
    get_broker().queue("webhooks").enqueue("jobs.webhooks.process_delivery", queued.id,
                                           job_id=f"webhook-delivery-{queued.id}")
    report = reconcile(now=later())
    assert report.deliveries_requeued == 1
    assert sorted(get_broker().queue("webhooks").job_ids) == sorted(
        [f"webhook-delivery-{delivery.id}", f"webhook-delivery-{queued.id}"])
    drain(app)
    session.expire_all()
    assert session.get(WebhookDelivery, delivery.id).outcome != DeliveryOutcome.RECEIVED


def test_a_step_that_keeps_failing_is_stopped_and_refunded(app: Flask, session: Session, tmp_path: Path) -> None:
    from jobs.maintenance import MAX_RECOVERIES

    job = make_job(session, tmp_path, charge=3)
    for _ in range(MAX_RECOVERIES):
        get_broker().redis.flushdb()  # the step's message is lost again (or its worker died again)
        assert reconcile(now=later(3600)).requeued == [job.id]
    get_broker().redis.flushdb()
    report = reconcile(now=later(3600))
    assert report.failed == [job.id] and report.requeued == []
    session.expire_all()
    job = session.get(GenerationJob, job.id)
    assert job.status == JobStatus.FAILURE and job.error_code == "step_keeps_failing"
    assert job.recoveries == MAX_RECOVERIES and job.credits_refunded == 3
    assert credits.balance(session, job.shop_id) == 10
