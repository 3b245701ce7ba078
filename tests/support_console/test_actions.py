"""Every action: admins only, CSRF-protected, reason required, and written to the audit log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from rq import Queue
from sqlalchemy import func, select

from shopify_app import credits, db
from shopify_app.models import (
    ApiClient,
    AuditLog,
    CreditLedger,
    GenerationJob,
    GenerationModel,
    JobStatus,
    LedgerKind,
    Shop,
    StaffUser,
)
from shopify_app.queues import get_broker
from tests.staff.helpers import VIEWER_EMAIL, ConsoleActions
from tests.support_console.factories import (
    FAILED_STEP,
    make_api_client,
    make_delivery,
    make_failed_job,
    make_running_job,
    make_shop,
)


def _audit_rows() -> list[AuditLog]:
    return list(db.session().scalars(select(AuditLog).order_by(AuditLog.id)))


def _failed_rq_job(app: Flask) -> str:
    queue: Queue = get_broker(app).queue("media")
    job = queue.enqueue("jobs.media.push_media", "01JOB", job_id="rq-failed-1")
    queue.remove(job)
    queue.failed_job_registry.add(job, ttl=3600, exc_string="Traceback…\nRuntimeError: boom")
    return job.id


@pytest.fixture
def case(app: Flask) -> dict[str, Any]:
    shop = make_shop()
    return {
        "app": app,
        "shop": shop,
        "failed": make_failed_job(shop),
        "running": make_running_job(shop),
        "delivery": make_delivery(shop),
        "client": make_api_client(shop),
        "rq_job": _failed_rq_job(app),
        "model": db.session().scalar(select(GenerationModel.id)),
    }


def _actions(case: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    shop = case["shop"]
    return [
        (f"/support/jobs/{case['failed'].id}/retry", {}),
        (f"/support/jobs/{case['running'].id}/cancel", {}),
        (f"/support/shops/{shop.id}/credits", {"amount": "15", "kind": "grant"}),
        (f"/support/shops/{shop.id}/auto-shoot", {"enabled": "1"}),
        (f"/support/api-clients/{case['client'].id}/disable", {}),
        (f"/support/deliveries/{case['delivery'].id}/rerun", {}),
        ("/support/queues/media/failed/requeue", {"job_id": case["rq_job"]}),
        ("/support/generation-models/new", {"name": "Local copy", "provider": "local",
                                            "provider_config": "{}", "tool_types": "TRY_ON"}),
    ]


def _state(case: dict[str, Any]) -> tuple[Any, ...]:
    session = db.session()
    session.expire_all()
    shop = session.get(Shop, case["shop"].id)
    return (
        session.get(GenerationJob, case["failed"].id).status,
        session.get(GenerationJob, case["running"].id).status,
        credits.balance(session, shop.id),
        shop.auto_shoot,
        session.get(ApiClient, case["client"].id).disabled_at,
        get_broker().queue("webhooks").count,
        get_broker().queue("media").failed_job_registry.count,
        session.scalar(select(func.count()).select_from(GenerationModel)),
    )


def test_a_viewer_cannot_act(console: ConsoleActions, viewer: StaffUser, case: dict[str, Any]) -> None:
    console.login(VIEWER_EMAIL)
    before = _state(case)
    for path, data in _actions(case):
        response = console.post(path, {**data, "reason": "trying"})
        assert response.status_code == 403, path
    assert _state(case) == before
    assert _audit_rows() == []


def test_forms_without_a_valid_csrf_token_are_refused(console: ConsoleActions, admin: StaffUser,
                                                      case: dict[str, Any]) -> None:
    console.login()
    before = _state(case)
    for path, data in _actions(case):
        missing = console.client.post(path, data={**data, "reason": "r"})
        forged = console.client.post(path, data={**data, "reason": "r", "csrf_token": "x" * 43})
        assert missing.status_code == 400 and forged.status_code == 400, path
    assert _state(case) == before
    assert _audit_rows() == []


def test_a_reason_is_required(console: ConsoleActions, admin: StaffUser, case: dict[str, Any]) -> None:
    console.login()
    before = _state(case)
    for path, data in _actions(case):
        response = console.post(path, {**data, "reason": "  "})
        assert response.status_code == 422, path
    assert _state(case) == before
    assert _audit_rows() == []


def test_every_action_writes_an_audit_row(console: ConsoleActions, admin: StaffUser,
                                          case: dict[str, Any]) -> None:
    console.login()
    for i, (path, data) in enumerate(_actions(case)):
        response = console.post(path, {**data, "reason": f"ticket #{i}"})
        assert response.status_code == 302, (path, response.get_data(as_text=True)[:500])
        rows = _audit_rows()
        assert len(rows) == i + 1, path
        assert rows[-1].staff_email == admin.email and rows[-1].reason == f"ticket #{i}"
        assert rows[-1].created_at is not None
        assert f"audit={rows[-1].id}" in response.headers["Location"]
    assert [r.action for r in _audit_rows()] == [
        "job.retry", "job.cancel", "credits.grant", "shop.auto_shoot", "api_client.disable",
        "webhook_delivery.rerun", "rq.requeue_failed", "generation_model.create",
    ]


def test_retry_resumes_the_failed_step_free_of_charge(console: ConsoleActions, admin: StaffUser,
                                                     case: dict[str, Any]) -> None:
    job = case["failed"]
    assert job.failed_step == FAILED_STEP and job.credits_refunded == 2
    balance = credits.balance(db.session(), job.shop_id)
    console.login()
    console.post(f"/support/jobs/{job.id}/retry", {"reason": "provider back up"})
    session = db.session()
    session.expire_all()
    job = session.get(GenerationJob, job.id)
    assert job.status == JobStatus.IN_PROGRESS and job.error_code is None and job.finished_at is None
    assert job.next_step == FAILED_STEP and job.rq_job_id.startswith(job.id)
    queued = get_broker().queue("generation").fetch_job(job.rq_job_id)
    assert queued is not None and queued.func_name == "jobs.generation.run_try_on" and queued.args == (job.id,)
    assert credits.balance(session, job.shop_id) == balance  # run free: not charged again
    # A retry of a job that is not failed is refused.
    again = console.post(f"/support/jobs/{job.id}/retry", {"reason": "twice"})
    assert again.status_code == 409


def test_cancel_fails_and_refunds(console: ConsoleActions, admin: StaffUser, case: dict[str, Any]) -> None:
    job = case["running"]
    balance = credits.balance(db.session(), job.shop_id)
    console.login()
    console.post(f"/support/jobs/{job.id}/cancel", {"reason": "merchant asked"})
    session = db.session()
    session.expire_all()
    job = session.get(GenerationJob, job.id)
    assert job.status == JobStatus.FAILURE and job.error_code == "cancelled_by_support"
    assert job.cancel_requested and credits.balance(session, job.shop_id) == balance + 1
    refund = session.scalar(select(CreditLedger).where(CreditLedger.job_id == job.id,
                                                        CreditLedger.kind == LedgerKind.REFUND))
    assert refund is not None and refund.amount == 1


def test_adjustment_cannot_overdraw(console: ConsoleActions, admin: StaffUser, case: dict[str, Any]) -> None:
    shop = case["shop"]
    console.login()
    overdraw = console.post(f"/support/shops/{shop.id}/credits",
                            {"amount": "-1000", "kind": "adjustment", "reason": "cleanup"})
    assert overdraw.status_code == 409
    ok = console.post(f"/support/shops/{shop.id}/credits",
                      {"amount": "-3", "kind": "adjustment", "reason": "double grant"})
    assert ok.status_code == 302
    row = db.session().scalar(select(CreditLedger).where(CreditLedger.kind == LedgerKind.ADJUSTMENT))
    assert row.amount == -3 and row.staff_user_id == admin.id and row.reason == "double grant"
    negative_grant = console.post(f"/support/shops/{shop.id}/credits",
                                  {"amount": "-3", "kind": "grant", "reason": "x"})
    assert negative_grant.status_code == 422


def test_rerun_enqueues_the_webhook_handler(console: ConsoleActions, admin: StaffUser,
                                            case: dict[str, Any]) -> None:
    console.login()
    console.post(f"/support/deliveries/{case['delivery'].id}/rerun", {"reason": "handler fixed"})
    [job] = get_broker().queue("webhooks").get_jobs()
    assert job.func_name == "jobs.webhooks.process_delivery" and job.args == (case["delivery"].id,)


def test_requeue_moves_the_rq_job_back(console: ConsoleActions, admin: StaffUser, case: dict[str, Any]) -> None:
    queue = get_broker().queue("media")
    console.login()
    console.post("/support/queues/media/failed/requeue", {"reason": "Shopify outage over"})
    assert queue.failed_job_registry.count == 0 and case["rq_job"] in queue.job_ids
    [row] = _audit_rows()
    assert row.details["requeued"] == [case["rq_job"]]


@pytest.mark.parametrize("mutate", [
    lambda c: f"/support/jobs/{c['failed'].id}/cancel",   # already ended
    lambda c: f"/support/jobs/{c['running'].id}/retry",   # not failed
])
def test_actions_on_the_wrong_state_are_409(console: ConsoleActions, admin: StaffUser, case: dict[str, Any],
                                            mutate: Callable[[dict[str, Any]], str]) -> None:
    console.login()
    assert console.post(mutate(case), {"reason": "r"}).status_code == 409
    assert _audit_rows() == []


def test_registry_edit_and_delete_from_the_console(console: ConsoleActions, admin: StaffUser, app: Flask) -> None:
    console.login()
    created = console.post("/support/generation-models/new", {
        "name": "Fal try-on", "provider": "fal_standard", "provider_config": '{"fal_app_id": "fal-ai/x"}',
        "tool_types": "TRY_ON", "reason": "new vendor"})
    assert created.status_code == 302
    model = db.session().scalar(select(GenerationModel))
    bad = console.post(f"/support/generation-models/{model.id}", {
        "name": "Fal try-on", "provider": "fal_standard", "provider_config": '{"fal_app_id": ""}',
        "reason": "typo"}, token_from="/support/generation-models")
    assert bad.status_code == 422 and "provider_config" in bad.get_data(as_text=True)
    not_json = console.post(f"/support/generation-models/{model.id}", {
        "name": "Fal try-on", "provider": "fal_standard", "provider_config": "{oops", "reason": "typo"})
    assert not_json.status_code == 422 and "not valid JSON" in not_json.get_data(as_text=True)
    ok = console.post(f"/support/generation-models/{model.id}", {
        "name": "Fal try-on v2", "provider": "fal_standard", "provider_config": '{"fal_app_id": "fal-ai/y"}',
        "max_output_width": "2048", "recommended": "on", "reason": "upgrade"})
    assert ok.status_code == 302
    db.session().expire_all()
    model = db.session().get(GenerationModel, model.id)
    assert model.name == "Fal try-on v2" and model.recommended and model.max_output_width == 2048
    assert model.provider_config == {"fal_app_id": "fal-ai/y"}
    gone = console.post(f"/support/generation-models/{model.id}/delete", {"reason": "retired"})
    assert gone.status_code == 302 and db.session().scalar(select(GenerationModel)) is None
    assert [r.action for r in _audit_rows()] == [
        "generation_model.create", "generation_model.update", "generation_model.delete"]
