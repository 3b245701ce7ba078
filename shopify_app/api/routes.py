"""The /v1 endpoints: thin handlers over auth, validation, the job service and the read models."""

from __future__ import annotations

import io
import json
import re
from typing import Any, TypeVar

from flask import Response, g, jsonify, request, send_file
from pydantic import BaseModel, ValidationError
from sqlalchemy import select

from shopify_app import credits, db, errors
from shopify_app.api import files, idempotency
from shopify_app.api import flow as flow_mod
from shopify_app.api.auth import authenticate, enforce_rate_limit
from shopify_app.api.blueprint import bp
from shopify_app.api.context import ApiError, Caller, current_call
from shopify_app.api.schemas import (
    REQUEST_MODELS,
    ULID_PATTERN,
    CatalogModelListQuery,
    CatalogModelPage,
    CatalogModelResponse,
    JobError,
    JobResponse,
    OutputFile,
    RequestLogResponse,
    WorkflowAcceptedResponse,
)
from shopify_app.models import (
    Asset,
    AssetKind,
    CatalogModel,
    GenerationJob,
    GenerationModel,
    JobStatus,
    RequestLog,
)
from shopify_app.workflows import service

M = TypeVar("M", bound=BaseModel)
_ULID = re.compile(ULID_PATTERN)
# Workflow bodies are small JSON documents; anything bigger is refused before it is read.
MAX_BODY_BYTES = 256 * 1024


# ----------------------------------------------------------------------------- workflows


@bp.post("/model-generator")
def model_generator() -> Response:
    """Dispatch a model-generator workflow (seed 000)."""
    return _submit("model-generator")


@bp.post("/try-on")
def try_on() -> Response:
    return _submit("try-on")


@bp.post("/catalog-shoot")
def catalog_shoot() -> Response:
    return _submit("catalog-shoot")


def _submit(workflow: str) -> Response:
    session = db.session()
    call = current_call()
    request.max_content_length = MAX_BODY_BYTES
    caller = authenticate(session, call, allow_flow=True)
    enforce_rate_limit(caller, g.request_id)

    if call.flow_action is not None:
        document: Any = json.loads(request.get_data(cache=True))  # verified and parsed by flow.verify
        body: Any = flow_mod.workflow_body(workflow, call.flow_action.properties)
        loc_prefix: tuple[str, ...] = ("body", "properties")
    else:
        document = body = _json_body()
        loc_prefix = ("body",)
    nul = errors.nul_location(document)
    if nul is not None:
        raise ApiError(422, [{"loc": ["body", *nul], "msg": errors.NUL_REFUSED, "type": "string_nul"}])
    call.body_sha256 = idempotency.body_fingerprint(document)

    key = idempotency.key_from_request(call)
    if key is not None:
        replay = idempotency.claim_or_replay(session, call, caller, key)
        if replay is not None:
            return replay

    payload = _validate(REQUEST_MODELS[workflow], body, loc_prefix)
    try:
        job = service.create_job(
            session, caller.shop, workflow, payload.model_dump(mode="json"),
            api_client_id=caller.client.id, request_id=g.request_id,
        )
    except credits.InsufficientCredits as exc:
        raise ApiError(
            402,
            f"not enough credits: this {workflow} request costs {exc.needed} and the balance is "
            f"{exc.balance}; nothing was charged",
            extra={"credits_needed": exc.needed, "credits_balance": exc.balance},
        ) from None
    except service.WorkflowRefused as exc:
        if exc.status == 422:
            loc = [*loc_prefix, exc.field] if exc.field else list(loc_prefix)
            raise ApiError(422, [{"loc": loc, "msg": exc.message, "type": exc.kind}]) from None
        raise ApiError(exc.status, exc.message) from None

    accepted = WorkflowAcceptedResponse(
        request_id=g.request_id, job_id=job.id, status=JobStatus(job.status), credits_cost=job.credits_cost
    )
    call.job_id = job.id
    call.store_body = True
    response = jsonify(accepted.model_dump(mode="json"))
    # Flow treats 202 as "accepted, not processed" and re-sends for 24 hours; 200 tells it the
    # action ran (the job itself continues on the workers either way).
    response.status_code = 200 if call.flow_action is not None else 202
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return response


def _json_body() -> Any:
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise ApiError(422, [{"loc": ["body"], "msg": "Field required", "type": "missing"}])
    try:
        return json.loads(raw)
    except ValueError as exc:
        position = getattr(exc, "pos", 0)
        raise ApiError(422, [{"loc": ["body", position], "msg": "JSON decode error", "type": "json_invalid"}]) from None


def _validate(model: type[M], data: Any, loc_prefix: tuple[str, ...]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(422, [
            {"loc": [*loc_prefix, *error["loc"]], "msg": error["msg"], "type": error["type"]}
            for error in exc.errors(include_url=False)
        ]) from None


# ----------------------------------------------------------------------------- reads


def _api_caller() -> Caller:
    session = db.session()
    call = current_call()
    caller = authenticate(session, call)
    enforce_rate_limit(caller, g.request_id)
    return caller


@bp.get("/jobs/<job_id>")
def get_job(job_id: str) -> Response:
    caller = _api_caller()
    session = db.session()
    job = _owned(GenerationJob, job_id, caller, "job")
    current_call().job_id = job.id
    child_ids = session.scalars(
        select(GenerationJob.id).where(GenerationJob.parent_job_id == job.id, GenerationJob.shop_id == caller.shop.id)
    ).all()
    assets = session.scalars(
        select(Asset)
        .where(Asset.shop_id == caller.shop.id, Asset.job_id.in_([job.id, *child_ids]))
        .order_by(Asset.created_at, Asset.id)
    ).all()
    generation_model = session.get(GenerationModel, job.generation_model_id) if job.generation_model_id else None
    body = JobResponse(
        job_id=job.id,
        request_id=job.request_id,
        workflow=job.workflow,
        status=JobStatus(job.status),
        stage=job.stage,
        progress=max(0, min(100, job.progress)),
        catalog_model_id=job.catalog_model_id,
        generation_model=generation_model.name if generation_model else None,
        inputs=job.inputs or {},
        outputs=[_output(asset) for asset in assets],
        error=JobError(code=job.error_code, message=job.error_message or "") if job.error_code else None,
        credits_cost=job.credits_cost,
        credits_refunded=job.credits_refunded,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )
    return jsonify(body.model_dump(mode="json"))


@bp.get("/requests/<request_id>")
def get_request(request_id: str) -> Response:
    caller = _api_caller()
    row = _owned(RequestLog, request_id, caller, "request")
    body = RequestLogResponse(
        request_id=row.request_id, method=row.method, path=row.path, status_code=row.status_code,
        auth_kind=row.auth_kind, job_id=row.job_id, idempotency_key=row.idempotency_key,
        response_body=row.response_body, error=row.error, duration_ms=row.duration_ms,
        created_at=row.created_at,
    )
    return jsonify(body.model_dump(mode="json"))


@bp.get("/catalog-models")
def list_catalog_models() -> Response:
    caller = _api_caller()
    session = db.session()
    query = _validate(CatalogModelListQuery, request.args.to_dict(), ("query",))
    statement = select(CatalogModel).where(CatalogModel.shop_id == caller.shop.id)
    if query.cursor:
        statement = statement.where(CatalogModel.id < query.cursor)
    # ULIDs sort by creation time: newest first, and the cursor is the last id seen.
    models = list(session.scalars(statement.order_by(CatalogModel.id.desc()).limit(query.limit + 1)))
    next_cursor = models[query.limit - 1].id if len(models) > query.limit else None
    models = models[: query.limit]
    portraits = _portraits(caller, [m.id for m in models])
    page = CatalogModelPage(
        items=[_catalog_model(m, portraits.get(m.id, [])) for m in models], next_cursor=next_cursor
    )
    return jsonify(page.model_dump(mode="json"))


@bp.get("/catalog-models/<catalog_model_id>")
def get_catalog_model(catalog_model_id: str) -> Response:
    caller = _api_caller()
    model = _owned(CatalogModel, catalog_model_id, caller, "catalog model")
    portraits = _portraits(caller, [model.id])
    return jsonify(_catalog_model(model, portraits.get(model.id, [])).model_dump(mode="json"))


@bp.get("/files/<token>")
def download_file(token: str) -> Response:
    """A signed, expiring link to one image (no API key: the signature is the permission)."""
    call = current_call()
    call.auth_kind = "signed_url"
    try:
        asset_id, shop_id = files.unsign(token)
    except files.FileTokenInvalid as exc:
        raise ApiError(exc.status, exc.message) from None
    call.shop_id = shop_id
    asset = db.session.scalar(select(Asset).where(Asset.id == asset_id, Asset.shop_id == shop_id))
    if asset is None:
        raise ApiError(404, "this file no longer exists")
    call.job_id = asset.job_id
    try:
        data = files.read_asset(asset)
    except FileNotFoundError:
        raise ApiError(404, "this file no longer exists") from None
    response = send_file(
        io.BytesIO(data), mimetype=files.MEDIA_TYPES.get(asset.format.lower(), "application/octet-stream"),
        download_name=f"{asset.id}.{asset.format.lower()}", max_age=300,
    )
    response.headers["Cache-Control"] = "private, max-age=300"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# ----------------------------------------------------------------------------- helpers


def _owned(model: type[Any], object_id: str, caller: Caller, what: str) -> Any:
    """The caller's shop's row, or 404 (another shop's id is indistinguishable from none)."""
    key = model.request_id if model is RequestLog else model.id
    row = None
    if _ULID.match(object_id):
        row = db.session.scalar(select(model).where(key == object_id, model.shop_id == caller.shop.id))
    if row is None:
        raise ApiError(404, f"{what} {object_id[:40]} not found")
    return row


def _output(asset: Asset) -> OutputFile:
    held = bool(asset.held_reason)
    signed = None if held else files.sign(asset)
    return OutputFile(
        asset_id=asset.id,
        kind=AssetKind(asset.kind).value,
        url=signed.url if signed else None,
        expires_at=signed.expires_at if signed else None,
        width=asset.width,
        height=asset.height,
        format=asset.format,
        byte_size=asset.byte_size,
        review_state=str(getattr(asset.review_state, "value", asset.review_state)),
        product_id=asset.shopify_product_id,
        held_reason=asset.held_reason,
        eval_scores=asset.eval_scores or {},
    )


def _portraits(caller: Caller, catalog_model_ids: list[str]) -> dict[str, list[OutputFile]]:
    if not catalog_model_ids:
        return {}
    assets = db.session.scalars(
        select(Asset)
        .where(
            Asset.shop_id == caller.shop.id,
            Asset.catalog_model_id.in_(catalog_model_ids),
            Asset.kind == AssetKind.PORTRAIT,
        )
        .order_by(Asset.created_at, Asset.id)
    ).all()
    by_model: dict[str, list[OutputFile]] = {}
    for asset in assets:
        by_model.setdefault(asset.catalog_model_id or "", []).append(_output(asset))
    return by_model


def _catalog_model(model: CatalogModel, portraits: list[OutputFile]) -> CatalogModelResponse:
    return CatalogModelResponse(
        id=model.id,
        display_name=model.display_name,
        status=str(getattr(model.status, "value", model.status)),
        gender=str(getattr(model.gender, "value", model.gender)),  # type: ignore[arg-type]
        ethnicity=model.ethnicity,
        body_type=model.body_type,
        age_range=model.age_range,
        image_model=model.image_model,
        resolution=model.resolution,
        aspect_ratio=model.aspect_ratio,
        seed=model.seed,
        metadata=model.extra or {},
        pilot_brand=model.pilot_brand,
        error_message=model.error_message,
        portraits=portraits,
        created_at=model.created_at,
        updated_at=model.updated_at,
    )
