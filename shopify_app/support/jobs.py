"""Jobs: the list, one job's story (stages, provider attempts, outputs), and its images."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from flask import Response, abort, current_app, render_template, request, send_file
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from shopify_app import db
from shopify_app.images.storage import MEDIA_TYPES, InvalidKey, get_storage
from shopify_app.models import (
    Asset,
    AuditLog,
    GenerationJob,
    GenerationModel,
    JobStatus,
    MediaPush,
    ProviderTask,
    Shop,
)
from shopify_app.support import bp, paging
from shopify_app.support.redact import redact_value


@bp.get("/jobs")
def jobs() -> str:
    session = db.session()
    stmt = select(GenerationJob)
    shop_id = request.args.get("shop", "").strip()
    status = request.args.get("status", "").strip().upper()
    shop = session.get(Shop, shop_id) if shop_id else None
    if shop_id:
        stmt = stmt.where(GenerationJob.shop_id == shop_id)
    if status in JobStatus.__members__:
        stmt = stmt.where(GenerationJob.status == JobStatus(status))
    else:
        status = ""
    page = paging.keyset(session, stmt, GenerationJob.created_at, GenerationJob.id,
                         request.args.get("cursor") or None)
    return render_template("support/jobs.html", page=page, shop=shop, shop_id=shop_id, status=status,
                           statuses=list(JobStatus))


@dataclass
class TimelineEvent:
    at: dt.datetime
    what: str
    detail: str = ""


def _timeline(job: GenerationJob, tasks: list[ProviderTask], pushes: list[MediaPush],
              audits: list[AuditLog]) -> list[TimelineEvent]:
    events = [TimelineEvent(job.created_at, "created", f"workflow {job.workflow}")]
    if job.started_at:
        events.append(TimelineEvent(job.started_at, "started"))
    for task in tasks:
        events.append(TimelineEvent(task.created_at, f"{task.role} provider task submitted",
                                    f"{task.provider} · {task.operation} · attempt {task.attempt}"))
        if task.finished_at:
            detail = task.status.value if hasattr(task.status, "value") else str(task.status)
            if task.error_kind:
                detail += f" ({task.error_kind}: {task.error_message or ''})"
            events.append(TimelineEvent(task.finished_at, f"{task.role} provider task finished", detail))
    for push in pushes:
        events.append(TimelineEvent(push.created_at, "media push started", push.shopify_product_id))
    for entry in audits:
        events.append(TimelineEvent(entry.created_at, f"support: {entry.action}",
                                    f"{entry.staff_email}: {entry.reason}"))
    if job.finished_at:
        events.append(TimelineEvent(job.finished_at, f"finished: {job.status}",
                                    job.error_code or ""))
    return sorted(events, key=lambda e: e.at)


@bp.get("/jobs/<job_id>")
def job_detail(job_id: str) -> str:
    session = db.session()
    job = session.get(GenerationJob, job_id)
    if job is None:
        abort(404)
    tasks = list(session.scalars(
        select(ProviderTask).where(ProviderTask.job_id == job.id).order_by(ProviderTask.created_at)
    ))
    assets = list(session.scalars(
        select(Asset).where(Asset.job_id == job.id).order_by(Asset.created_at).limit(200)
    ))
    pushes = list(session.scalars(
        select(MediaPush).where(MediaPush.job_id == job.id).order_by(MediaPush.created_at)
    ))
    audits = list(session.scalars(
        select(AuditLog).where(AuditLog.target_type == "generation_job", AuditLog.target_id == job.id)
        .order_by(AuditLog.created_at)
    ))
    children = list(session.scalars(
        select(GenerationJob).where(GenerationJob.parent_job_id == job.id)
        .order_by(GenerationJob.created_at).limit(100)
    ))
    return render_template(
        "support/job.html",
        job=job,
        shop=session.get(Shop, job.shop_id),
        generation_model=(session.get(GenerationModel, job.generation_model_id)
                          if job.generation_model_id else None),
        tasks=tasks,
        assets=assets,
        pushes=pushes,
        children=children,
        timeline=_timeline(job, tasks, pushes, audits),
        inputs=redact_value(job.inputs or {}),
        outputs=redact_value(job.outputs or {}),
        redact=redact_value,
    )


@bp.get("/assets/<asset_id>")
def asset_image(asset_id: str) -> ResponseReturnValue:
    """An asset's image for staff eyes; the guard has already checked the console session."""
    asset = db.session().get(Asset, asset_id)
    if asset is None:
        abort(404)
    mimetype = MEDIA_TYPES.get((asset.format or "").lower())
    storage = get_storage(current_app.config["STUDIO_SETTINGS"])
    try:
        # The storage refuses keys that would leave its root (InvalidKey).
        if mimetype is None or not storage.exists(asset.storage_key):
            abort(404)
        path = storage.path_for(asset.storage_key)
        body = send_file(path, mimetype=mimetype, max_age=0) if path is not None else None
    except InvalidKey:
        abort(404)
    response = body if body is not None else Response(storage.read(asset.storage_key), mimetype=mimetype)
    response.headers["Cache-Control"] = "private, no-store"
    return response
