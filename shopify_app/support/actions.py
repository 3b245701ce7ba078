"""What support can do (admins only; POST with a CSRF token and a reason; each one audited).

Every action writes its AuditLog row in the same transaction as the change, so an action that
did not happen leaves no audit row and an action that happened always has one.

A retry resumes the step the job failed on (`GenerationJob.failed_step`, recorded by
`steps.fail_job`). A job refunded on failure is retried for free: the ledger allows one charge
and one refund per job, so a second failure refunds nothing more and the merchant is never
charged twice nor refunded twice.
"""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from rq.exceptions import InvalidJobOperation, NoSuchJobError

from shopify_app import credits, db
from shopify_app.models import (
    ApiClient,
    GenerationJob,
    JobStatus,
    LedgerKind,
    Shop,
    WebhookDelivery,
    utcnow,
)
from shopify_app.queues import QUEUE_NAMES, enqueue_after_commit, get_broker
from shopify_app.staff import audit
from shopify_app.steps import fail_job, schedule_step, split_step
from shopify_app.support import bp
from shopify_app.support.auth import admin_required, current_staff

MAX_CREDIT_CHANGE = 1_000_000
PROCESS_DELIVERY = "jobs.webhooks.process_delivery"  # engineer #2's job, by name


def _refuse(title: str, message: str, status: int) -> tuple[str, int]:
    return render_template("support/error.html", title=title, message=message), status


def _reason() -> str | None:
    reason = request.form.get("reason", "").strip()
    return reason[:2000] if reason else None


def _record(action: str, target_type: str, target_id: object, reason: str,
            shop_domain: str | None = None, **details: Any) -> int:
    entry = audit.record(db.session(), current_staff(), action, target_type, target_id, reason,
                         shop_domain=shop_domain, details=details)
    return entry.id


def _no_reason() -> tuple[str, int]:
    return _refuse("Reason required", "Say why you are doing this; it goes in the audit log.", 422)


def _shop_domain(shop_id: str) -> str | None:
    shop = db.session().get(Shop, shop_id)
    return shop.domain if shop else None


# ----------------------------------------------------------------------------- jobs

@bp.post("/jobs/<job_id>/retry")
@admin_required
def retry_job(job_id: str) -> ResponseReturnValue:
    session = db.session()
    job = session.get(GenerationJob, job_id)
    if job is None:
        return _refuse("No such job", f"There is no job {job_id}.", 404)
    reason = _reason()
    if reason is None:
        return _no_reason()
    if job.status != JobStatus.FAILURE:
        return _refuse("Cannot retry", f"Only failed jobs can be retried; this one is {job.status}.", 409)
    if not job.failed_step:
        return _refuse("Cannot retry",
                       "This job failed before any step was recorded, so there is nothing to "
                       "resume. Start a new job instead.", 409)
    queue, step = split_step(job.failed_step)
    if queue not in QUEUE_NAMES or ":" not in step:
        return _refuse("Cannot retry", f"The recorded step {job.failed_step!r} is not valid.", 409)
    previous = {"error_code": job.error_code, "error_message": job.error_message,
                "failed_step": job.failed_step, "credits_refunded": job.credits_refunded}
    job.status = JobStatus.IN_PROGRESS
    job.stage = "retrying"
    job.error_code = None
    job.error_message = None
    job.finished_at = None
    job.cancel_requested = False
    rq_job_id = schedule_step(session, job, step, queue)
    audit_id = _record("job.retry", "generation_job", job.id, reason, _shop_domain(job.shop_id),
                       step=job.failed_step, rq_job_id=rq_job_id, previous=previous,
                       # Refunded jobs run free: the ledger holds one charge and one refund per job.
                       charged_again=False)
    return redirect(url_for("support.job_detail", job_id=job.id, audit=audit_id))


@bp.post("/jobs/<job_id>/cancel")
@admin_required
def cancel_job(job_id: str) -> ResponseReturnValue:
    session = db.session()
    job = session.get(GenerationJob, job_id)
    if job is None:
        return _refuse("No such job", f"There is no job {job_id}.", 404)
    reason = _reason()
    if reason is None:
        return _no_reason()
    if JobStatus(job.status).terminal:
        return _refuse("Cannot cancel", f"The job has already ended ({job.status}).", 409)
    job.cancel_requested = True  # a step already running sees this and stops
    fail_job(session, job, "cancelled_by_support", f"Cancelled by support: {reason}")
    audit_id = _record("job.cancel", "generation_job", job.id, reason, _shop_domain(job.shop_id),
                       refunded=job.credits_refunded)
    return redirect(url_for("support.job_detail", job_id=job.id, audit=audit_id))


# ----------------------------------------------------------------------------- shops

@bp.post("/shops/<shop_id>/credits")
@admin_required
def change_credits(shop_id: str) -> ResponseReturnValue:
    session = db.session()
    shop = session.get(Shop, shop_id)
    if shop is None:
        return _refuse("No such shop", f"There is no shop {shop_id}.", 404)
    reason = _reason()
    if reason is None:
        return _no_reason()
    try:
        amount = int(request.form.get("amount", "").strip())
    except ValueError:
        return _refuse("Invalid amount", "The amount must be a whole number of credits.", 422)
    kind = LedgerKind.GRANT if request.form.get("kind", "grant") == "grant" else LedgerKind.ADJUSTMENT
    if amount == 0 or abs(amount) > MAX_CREDIT_CHANGE:
        return _refuse("Invalid amount",
                       f"The amount must be non-zero and at most {MAX_CREDIT_CHANGE:,} credits.", 422)
    if kind is LedgerKind.GRANT and amount < 0:
        return _refuse("Invalid amount", "A grant adds credits; use an adjustment to remove them.", 422)
    try:
        row = credits.grant(session, shop.id, amount, reason, kind=kind,
                            staff_user_id=current_staff().id)
    except credits.InsufficientCredits as exc:
        return _refuse("Not enough credits", f"Cannot remove {-amount} credits: {exc}.", 409)
    audit_id = _record(f"credits.{kind.value}", "shop", shop.id, reason, shop.domain,
                       amount=amount, ledger_id=row.id, balance=credits.balance(session, shop.id))
    return redirect(url_for("support.shop_detail", shop_id=shop.id, audit=audit_id))


@bp.post("/shops/<shop_id>/auto-shoot")
@admin_required
def set_auto_shoot(shop_id: str) -> ResponseReturnValue:
    shop = db.session().get(Shop, shop_id)
    if shop is None:
        return _refuse("No such shop", f"There is no shop {shop_id}.", 404)
    reason = _reason()
    if reason is None:
        return _no_reason()
    wanted = request.form.get("enabled")
    if wanted not in ("0", "1"):
        return _refuse("Invalid request", "Say whether auto-shoot should be on or off.", 422)
    before = shop.auto_shoot
    shop.auto_shoot = wanted == "1"
    audit_id = _record("shop.auto_shoot", "shop", shop.id, reason, shop.domain,
                       before=before, after=shop.auto_shoot)
    return redirect(url_for("support.shop_detail", shop_id=shop.id, audit=audit_id))


@bp.post("/api-clients/<client_id>/disable")
@admin_required
def disable_api_client(client_id: str) -> ResponseReturnValue:
    client = db.session().get(ApiClient, client_id)
    if client is None:
        return _refuse("No such API client", f"There is no API client {client_id}.", 404)
    reason = _reason()
    if reason is None:
        return _no_reason()
    if client.disabled_at is not None:
        return _refuse("Already disabled", "This API client is already disabled.", 409)
    client.disabled_at = utcnow()
    audit_id = _record("api_client.disable", "api_client", client.id, reason,
                       _shop_domain(client.shop_id), key_prefix=client.key_prefix, name=client.name)
    return redirect(url_for("support.shop_detail", shop_id=client.shop_id, audit=audit_id))


# ----------------------------------------------------------------------------- webhooks, RQ

@bp.post("/deliveries/<int:delivery_id>/rerun")
@admin_required
def rerun_delivery(delivery_id: int) -> ResponseReturnValue:
    session = db.session()
    delivery = session.get(WebhookDelivery, delivery_id) if delivery_id < 2**63 else None
    if delivery is None:
        return _refuse("No such delivery", f"There is no webhook delivery {delivery_id}.", 404)
    reason = _reason()
    if reason is None:
        return _no_reason()
    if delivery.payload is None:
        return _refuse("Cannot re-run", "This delivery's payload was not kept.", 409)
    enqueue_after_commit(session, "webhooks", PROCESS_DELIVERY, delivery.id)
    audit_id = _record("webhook_delivery.rerun", "webhook_delivery", delivery.id, reason,
                       delivery.shop_domain, topic=delivery.topic, webhook_id=delivery.webhook_id,
                       outcome_before=str(delivery.outcome))
    return redirect(url_for("support.delivery_detail", delivery_id=delivery.id, audit=audit_id))


@bp.post("/queues/<queue_name>/failed/requeue")
@admin_required
def requeue_failed(queue_name: str) -> ResponseReturnValue:
    if queue_name not in QUEUE_NAMES:
        return _refuse("No such queue", f"There is no queue {queue_name!r}.", 404)
    reason = _reason()
    if reason is None:
        return _no_reason()
    registry = get_broker().queue(queue_name).failed_job_registry
    job_id = request.form.get("job_id", "").strip()
    wanted = [job_id] if job_id else registry.get_job_ids(0, 999)  # "all": at most 1,000 at once
    requeued, missing = [], []
    for rq_id in wanted:
        try:
            registry.requeue(rq_id)
            requeued.append(rq_id)
        except (NoSuchJobError, InvalidJobOperation):
            missing.append(rq_id)
    if job_id and not requeued:
        return _refuse("Not requeued", f"{job_id} is not in the failed registry of {queue_name}.", 404)
    audit_id = _record("rq.requeue_failed", "rq_queue", queue_name, reason,
                       requeued=requeued[:200], requeued_count=len(requeued), missing=missing[:50])
    return redirect(url_for("support.queue_registry", queue_name=queue_name, registry="failed",
                            audit=audit_id))
