"""The webhook writer under gevent, as gunicorn.conf.py runs it on PostgreSQL, in a patched
process (`tests.support.gevent_probe`)."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from shopify_app.models import WebhookDelivery
from shopify_app.webhooks.writer import rq_job_id
from tests.conftest import settings_environ
from tests.foundation.test_cooperative import run_probe
from tests.webhooks.conftest import queued_webhook_jobs


def test_ready_requests_share_one_commit_and_each_id_is_recorded_once(
        app, session, tmp_path: Path, database_url: str, redis_url: str) -> None:
    """Fifty requests at once: forty webhook ids, ten of them sent twice."""
    seen = run_probe("writer", json.dumps(settings_environ(tmp_path, database_url, redis_url)))

    # The first request to lead let the other 49 queue first: one batch, one INSERT, one commit.
    assert seen["batches"] == [50]
    results = dict()
    for webhook_id, delivery_id in seen["results"][:40]:
        assert isinstance(delivery_id, int)
        results[webhook_id] = delivery_id
    assert [delivery_id for _id, delivery_id in seen["results"][40:]] == [None] * 10  # the copies

    rows = dict(session.execute(select(WebhookDelivery.webhook_id, WebhookDelivery.id)).all())
    assert rows == results
    assert sorted(job.id for job in queued_webhook_jobs(app)) == sorted(rq_job_id(i) for i in results.values())
    if "psycopg_wait" in seen:
        # psycopg saw gevent's patch: its waits let the other requests run (not the C wait).
        assert seen["psycopg_wait"] != "wait_c"


def test_requests_killed_while_leading_or_queued_leave_the_writer_working(
        app, tmp_path: Path, database_url: str, redis_url: str) -> None:
    """gunicorn kills the greenlets still running when a worker's graceful timeout ends: a
    killed leader or follower must neither strand the queue nor hold the leadership."""
    seen = run_probe("writer_interrupted", json.dumps(settings_environ(tmp_path, database_url, redis_url)))

    assert seen["killed_leader"] == "GreenletExit"
    assert isinstance(seen["behind_killed_leader"], int)  # handed the leadership, wrote its batch
    assert seen["killed_follower"] == "GreenletExit"
    assert isinstance(seen["leader_of_killed_follower"], int)
    assert isinstance(seen["slow_batch"], int)
    for outcome in seen["killed_as_promoted"]:
        assert outcome == "GreenletExit" or isinstance(outcome, int)
    assert isinstance(seen["after"], int)
    assert seen["close_seconds"] < 2  # nothing left leading
