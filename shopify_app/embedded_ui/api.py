"""JSON endpoints of the embedded UI: `/app/api/…`.

Every endpoint is `@session_token_required` (Bearer session token; 401 with the retry header
otherwise) and reads or writes only `current_shop()`'s rows: an id of another shop is answered
exactly like an id that does not exist (404), so ids never leak across shops.

Errors are `{"detail": "sentence"}`, except validation errors, which use /v1's 422 shape
`{"detail": [{"loc": [...], "msg": ..., "type": ...}]}` so the pages can put each message under
its field.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any, NoReturn

from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from shopify_app import credits, db, errors
from shopify_app.api.schemas import (
    MAX_PRODUCTS_PER_SHOOT,
    CatalogShootRequest,
    ModelGeneratorRequest,
)
from shopify_app.embedded_ui import engine, present, products
from shopify_app.models import (
    Asset,
    AssetKind,
    CatalogModel,
    CatalogModelStatus,
    GenerationJob,
    GenerationModel,
    PublishMode,
    PushState,
    ReviewState,
    Shop,
    Workflow,
)
from shopify_app.settings import Settings
from shopify_app.shopify.admin import AdminError
from shopify_app.shopify.embedded import current_shop, session_token_required
from shopify_app.workflows import service

log = logging.getLogger(__name__)
bp = Blueprint("embedded_api", __name__, url_prefix="/app/api")

_ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
_VARIANT_GID = re.compile(r"^gid://shopify/ProductVariant/[1-9][0-9]{0,19}$")
JOBS_PAGE_DEFAULT = 50
JOBS_PAGE_MAX = 200
PROGRESS_IDS_MAX = 200
RECENT_JOBS = 5
PUBLISH_WORKFLOWS = (Workflow.PUSH_MEDIA.value, Workflow.UNDO_PUSH.value)
REVIEWABLE_WORKFLOWS = (Workflow.CATALOG_SHOOT.value, Workflow.TRY_ON.value)

class UIError(Exception):
    def __init__(self, status: int, detail: Any, **extra: Any):
        super().__init__(str(detail))
        self.status = status
        self.detail = detail
        self.extra = extra


@bp.errorhandler(UIError)
def _ui_error(exc: UIError) -> Response:
    response = jsonify({"detail": exc.detail, **exc.extra})
    response.status_code = exc.status
    return response


def _settings() -> Settings:
    return current_app.config["STUDIO_SETTINGS"]  # type: ignore[no-any-return]


@bp.after_request
def _private(response: Response) -> Response:
    # Per-shop data: never cached by a shared cache, never sniffed as something else.
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# ----------------------------------------------------------------------------- helpers


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise UIError(422, [{"loc": ["body"], "msg": "a JSON object body is required", "type": "missing"}])
    nul = errors.nul_location(body)
    if nul is not None:
        raise UIError(422, [{"loc": ["body", *nul], "msg": "This text contains a NUL character.", "type": "string_nul"}])
    return body


def _validate(model: type[BaseModel], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise UIError(422, [
            {"loc": ["body", *error["loc"]], "msg": _message(error), "type": error["type"]}
            for error in exc.errors(include_url=False)
        ]) from None


def _message(error: dict[str, Any]) -> str:
    """Pydantic's messages, phrased for a form ("Value error, …" reads oddly under a field)."""
    msg = str(error["msg"])
    if error["type"] == "missing":
        return "This field is required."
    if error["type"] == "string_too_short":
        return "This field is required."
    return msg.removeprefix("Value error, ").rstrip(".") + "."


def _owned(session: Session, model: type[Any], object_id: str, what: str) -> Any:
    """The shop's row, or 404 (another shop's id is indistinguishable from no such id)."""
    row = None
    if _ULID.match(object_id or ""):
        row = session.scalar(select(model).where(model.id == object_id, model.shop_id == current_shop().id))
    if row is None:
        raise UIError(404, f"{what} not found")
    return row


def _refused(exc: service.WorkflowRefused) -> NoReturn:
    if exc.status == 422:
        loc = ["body", exc.field] if exc.field else ["body"]
        raise UIError(422, [{"loc": loc, "msg": exc.message[:1].upper() + exc.message[1:], "type": exc.kind}])
    raise UIError(exc.status, exc.message)


def _insufficient(exc: credits.InsufficientCredits) -> NoReturn:
    raise UIError(402, f"This needs {exc.needed} credits and your balance is {exc.balance}. Nothing was charged.",
                  credits_needed=exc.needed, credits_balance=exc.balance)


def _sentence(text: str) -> str:
    text = text.strip()
    return (text[:1].upper() + text[1:]).rstrip(".") + "." if text else text


def _call_engine(name: str, *args: Any, **kwargs: Any) -> Any:
    """One of the engine's review actions for the calling shop (`shopify_app.workflows.review`)."""
    try:
        return engine.call(name, db.session(), current_shop(), *args, **kwargs)
    except engine.EngineRefused as exc:
        if exc.status == 422:
            raise UIError(422, [{"loc": ["body"], "msg": _sentence(exc.message), "type": "value_error"}]) from None
        raise UIError(exc.status, _sentence(exc.message)) from None
    except engine.EngineUnavailable:
        raise UIError(503, "This action is not available yet: the workflow engine is not installed.") from None
    except service.WorkflowRefused as exc:
        _refused(exc)
    except credits.InsufficientCredits as exc:
        _insufficient(exc)


def _generation_models(session: Session) -> list[GenerationModel]:
    return list(session.scalars(
        select(GenerationModel).order_by(GenerationModel.recommended.desc(), GenerationModel.name)
    ).all())


def _portraits(session: Session, model_ids: list[str]) -> dict[str, Asset]:
    if not model_ids:
        return {}
    rows = session.scalars(
        select(Asset).where(Asset.shop_id == current_shop().id, Asset.catalog_model_id.in_(model_ids),
                            Asset.kind == AssetKind.PORTRAIT)
        .order_by(Asset.created_at, Asset.id)
    ).all()
    first: dict[str, Asset] = {}
    for asset in rows:
        first.setdefault(asset.catalog_model_id or "", asset)
    return first


def _model_names(session: Session, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = session.execute(
        select(CatalogModel.id, CatalogModel.display_name)
        .where(CatalogModel.shop_id == current_shop().id, CatalogModel.id.in_(ids))
    ).all()
    return {row.id: row.display_name for row in rows}


def _jobs_json(session: Session, jobs: list[GenerationJob]) -> list[dict[str, Any]]:
    names = _model_names(session, {j.catalog_model_id for j in jobs if j.catalog_model_id})
    ids = [j.id for j in jobs]
    results: dict[str, int] = {}
    if ids:
        children: dict[str, str | None] = {row[0]: row[1] for row in session.execute(
            select(GenerationJob.id, GenerationJob.parent_job_id)
            .where(GenerationJob.shop_id == current_shop().id, GenerationJob.parent_job_id.in_(ids))
        ).all()}
        counted = session.execute(
            select(Asset.job_id, func.count())
            .where(Asset.shop_id == current_shop().id, Asset.kind == AssetKind.TRY_ON,
                   Asset.job_id.in_([*ids, *children]))
            .group_by(Asset.job_id)
        ).all()
        for job_id, count in counted:
            top = children.get(job_id or "", job_id) or ""
            results[top] = results.get(top, 0) + int(count)
    return [present.job_json(j, catalog_model_name=names.get(j.catalog_model_id or ""),
                             results=results.get(j.id, 0) if j.workflow in REVIEWABLE_WORKFLOWS else None)
            for j in jobs]


def _top_level_jobs():
    return select(GenerationJob).where(
        GenerationJob.shop_id == current_shop().id, GenerationJob.parent_job_id.is_(None)
    )


# ----------------------------------------------------------------------------- home


@bp.get("/overview")
@session_token_required
def overview() -> Response:
    session = db.session()
    shop = current_shop()
    recent = session.scalars(_top_level_jobs().order_by(GenerationJob.id.desc()).limit(RECENT_JOBS)).all()
    model_count = session.scalar(select(func.count()).select_from(CatalogModel).where(CatalogModel.shop_id == shop.id))
    ready_count = session.scalar(select(func.count()).select_from(CatalogModel).where(
        CatalogModel.shop_id == shop.id, CatalogModel.status == CatalogModelStatus.READY))
    shoot_count = session.scalar(select(func.count()).select_from(GenerationJob).where(
        GenerationJob.shop_id == shop.id, GenerationJob.workflow.in_(REVIEWABLE_WORKFLOWS)))
    published = session.scalar(select(func.count()).select_from(Asset).where(
        Asset.shop_id == shop.id, Asset.shopify_media_id.is_not(None)))
    return jsonify({
        "shop": shop.domain,
        "balance": credits.balance(session, shop.id),
        "recent_jobs": _jobs_json(session, list(recent)),
        "getting_started": {
            "catalog_model": bool(model_count),
            "catalog_model_ready": bool(ready_count),
            "shoot": bool(shoot_count),
            "published": bool(published),
        },
    })


# ----------------------------------------------------------------------------- models


@bp.get("/generation-models")
@session_token_required
def list_generation_models() -> Response:
    models = _generation_models(db.session())
    return jsonify({"generation_models": [present.generation_model_json(m) for m in models]})


@bp.get("/catalog-models")
@session_token_required
def list_catalog_models() -> Response:
    session = db.session()
    models = session.scalars(
        select(CatalogModel).where(CatalogModel.shop_id == current_shop().id)
        .order_by(CatalogModel.created_at.desc(), CatalogModel.id.desc())
    ).all()
    portraits = _portraits(session, [m.id for m in models])
    return jsonify({"catalog_models": [present.catalog_model_json(m, portraits.get(m.id)) for m in models]})


@bp.get("/catalog-models/<model_id>")
@session_token_required
def get_catalog_model(model_id: str) -> Response:
    session = db.session()
    model = _owned(session, CatalogModel, model_id, "Catalog model")
    return jsonify(present.catalog_model_json(model, _portraits(session, [model.id]).get(model.id)))


@bp.post("/catalog-models")
@session_token_required
def create_catalog_model() -> Response:
    payload = _validate(ModelGeneratorRequest, _body())
    session = db.session()
    try:
        job = service.create_job(session, current_shop(), Workflow.MODEL_GENERATOR, payload.model_dump(mode="json"))
    except service.WorkflowRefused as exc:
        _refused(exc)
    except credits.InsufficientCredits as exc:
        _insufficient(exc)
    response = jsonify({"job_id": job.id, "catalog_model_id": job.catalog_model_id,
                        "display_name": job.inputs.get("display_name"), "credits_cost": job.credits_cost})
    response.status_code = 202
    return response


# ----------------------------------------------------------------------------- shoot


class QuoteRequest(BaseModel):
    workflow: Workflow = Workflow.CATALOG_SHOOT
    product_count: int = Field(default=0, ge=0, le=MAX_PRODUCTS_PER_SHOOT)
    num_images: int = Field(default=1, ge=1, le=4)
    image_model: str | None = Field(default=None, max_length=120)


@bp.post("/quote")
@session_token_required
def quote() -> Response:
    """What a request would cost now, and the balance: shown before the merchant submits."""
    payload: QuoteRequest = _validate(QuoteRequest, _body())
    if payload.workflow not in service.REQUIRED_CAPABILITY:
        raise UIError(422, [{"loc": ["body", "workflow"], "msg": "Not a priced workflow.", "type": "value_error"}])
    session = db.session()
    shop = current_shop()
    try:
        model = service.pick_generation_model(session, shop, payload.image_model, payload.workflow)
    except service.WorkflowRefused as exc:
        _refused(exc)
    inputs = {"product_ids": [None] * payload.product_count, "num_images": payload.num_images}
    cost = service.price(_settings(), payload.workflow, inputs, model)
    balance = credits.balance(session, shop.id)
    return jsonify({"credits_cost": cost, "balance": balance, "affordable": cost <= balance,
                    "generation_model": present.generation_model_json(model)})


@bp.get("/products")
@session_token_required
def search_products() -> Response:
    """The app's own product picker: title search and cursor paging through the Admin API."""
    text = request.args.get("query", "")[:200]
    after = request.args.get("after") or None
    before = request.args.get("before") or None
    try:
        page = products.search(db.session(), current_shop(), text, after=after, before=before)
    except AdminError as exc:
        log.warning("product search failed: %s", exc)
        raise UIError(502, "Shopify did not answer the product search. Try again in a moment.") from None
    return jsonify({"products": page.products, "page_info": {
        "has_next": page.has_next, "has_previous": page.has_previous,
        "start_cursor": page.start_cursor, "end_cursor": page.end_cursor}})


@bp.post("/shoots")
@session_token_required
def create_shoot() -> Response:
    body = _body()
    shop = current_shop()
    body.setdefault("publish", PublishMode(shop.publish_mode).value)
    payload = _validate(CatalogShootRequest, body)
    session = db.session()
    try:
        job = service.create_job(session, shop, Workflow.CATALOG_SHOOT, payload.model_dump(mode="json"))
    except service.WorkflowRefused as exc:
        _refused(exc)
    except credits.InsufficientCredits as exc:
        _insufficient(exc)
    response = jsonify(_jobs_json(session, [job])[0])
    response.status_code = 202
    return response


# ----------------------------------------------------------------------------- jobs


@bp.get("/jobs")
@session_token_required
def list_jobs() -> Response:
    session = db.session()
    try:
        limit = min(JOBS_PAGE_MAX, max(1, int(request.args.get("limit", JOBS_PAGE_DEFAULT))))
    except ValueError:
        raise UIError(422, [{"loc": ["query", "limit"], "msg": "Must be a number.", "type": "int_parsing"}]) from None
    query = _top_level_jobs()
    before = request.args.get("before")
    if before:
        if not _ULID.match(before):
            raise UIError(422, [{"loc": ["query", "before"], "msg": "Not a job id.", "type": "value_error"}])
        query = query.where(GenerationJob.id < before)
    jobs = list(session.scalars(query.order_by(GenerationJob.id.desc()).limit(limit + 1)).all())
    more = len(jobs) > limit
    jobs = jobs[:limit]
    return jsonify({"jobs": _jobs_json(session, jobs), "next_before": jobs[-1].id if more else None,
                    "balance": credits.balance(session, current_shop().id)})


@bp.get("/jobs/progress")
@session_token_required
def jobs_progress() -> Response:
    """The polled endpoint: status, stage and progress of the named jobs (the shop's only)."""
    ids = [i for i in request.args.get("ids", "").split(",") if _ULID.match(i)][:PROGRESS_IDS_MAX]
    session = db.session()
    jobs = session.scalars(
        select(GenerationJob).where(GenerationJob.shop_id == current_shop().id, GenerationJob.id.in_(ids))
    ).all() if ids else []
    return jsonify({"jobs": [present.progress_json(j) for j in jobs],
                    "balance": credits.balance(session, current_shop().id)})


@bp.get("/jobs/<job_id>")
@session_token_required
def get_job(job_id: str) -> Response:
    session = db.session()
    job = _owned(session, GenerationJob, job_id, "Job")
    return jsonify(_jobs_json(session, [job])[0])


# ----------------------------------------------------------------------------- review


def _job_assets(session: Session, job: GenerationJob) -> list[Asset]:
    shop_id = current_shop().id
    children = select(GenerationJob.id).where(
        GenerationJob.shop_id == shop_id, GenerationJob.parent_job_id == job.id,
        GenerationJob.workflow.not_in(PUBLISH_WORKFLOWS))
    return list(session.scalars(
        select(Asset).where(Asset.shop_id == shop_id, Asset.kind == AssetKind.TRY_ON,
                            or_(Asset.job_id == job.id, Asset.job_id.in_(children)))
        .order_by(Asset.created_at, Asset.id)
    ).all())


def _publish_jobs(session: Session, job: GenerationJob) -> list[GenerationJob]:
    """Publish and undo jobs started from this job's review, newest first."""
    return list(session.scalars(
        select(GenerationJob).where(
            GenerationJob.shop_id == current_shop().id, GenerationJob.parent_job_id == job.id,
            GenerationJob.workflow.in_(PUBLISH_WORKFLOWS))
        .order_by(GenerationJob.id.desc())
    ).all())


@bp.get("/jobs/<job_id>/review")
@session_token_required
def review(job_id: str) -> Response:
    session = db.session()
    job = _owned(session, GenerationJob, job_id, "Job")
    if job.workflow not in REVIEWABLE_WORKFLOWS:
        raise UIError(404, "This job has no images to review")
    assets = _job_assets(session, job)
    product_ids = list(dict.fromkeys(
        [a.shopify_product_id for a in assets if a.shopify_product_id]
        + list((job.inputs or {}).get("product_ids") or [])))
    described: dict[str, products.ProductInfo] = {}
    variants_available = True
    try:
        described = products.describe(session, current_shop(), product_ids)
    except AdminError as exc:
        log.warning("review: product details unavailable: %s", exc)
        variants_available = False
    grouped: dict[str, list[dict[str, Any]]] = {pid: [] for pid in product_ids}
    for asset in assets:
        grouped.setdefault(asset.shopify_product_id or "", []).append(present.asset_json(asset))
    product_rows = []
    for pid, images in grouped.items():
        info = described.get(pid)
        product_rows.append({
            "id": pid, "title": info.title if info else None, "image_url": info.image_url if info else None,
            "variants": info.variants if info else [], "missing": variants_available and info is None,
            "images": images,
        })
    publishes = _publish_jobs(session, job)
    return jsonify({
        "job": _jobs_json(session, [job])[0],
        "products": product_rows,
        "variants_available": variants_available,
        "publish_jobs": [present.job_json(j) for j in publishes[:5]],
    })


class AssetEdit(BaseModel):
    alt_text: str | None = Field(default=None, max_length=512)
    variant_id: str | None = Field(default=None, max_length=80)


def _editable_asset(session: Session, asset_id: str) -> Asset:
    asset: Asset = _owned(session, Asset, asset_id, "Image")
    if AssetKind(asset.kind) is not AssetKind.TRY_ON:
        raise UIError(404, "Image not found")
    return asset


@bp.patch("/assets/<asset_id>")
@session_token_required
def edit_asset(asset_id: str) -> Response:
    """Alt text and the variant an image belongs to (before it is published)."""
    body = _body()
    edit: AssetEdit = _validate(AssetEdit, body)
    session = db.session()
    asset = _editable_asset(session, asset_id)
    if asset.shopify_media_id and PushState(asset.push_state) is not PushState.REMOVED:
        raise UIError(409, "This image is published. Undo the publish to change it.")
    if "alt_text" in body and edit.alt_text is not None:
        asset = _call_engine("set_alt_text", asset.id, edit.alt_text)
    if "variant_id" in body:
        variant = (edit.variant_id or "").strip() or None
        if variant is not None:
            if not _VARIANT_GID.match(variant):
                raise UIError(422, [{"loc": ["body", "variant_id"], "msg": "Not a variant of this product.",
                                     "type": "value_error"}])
            try:
                info = products.describe(session, current_shop(), [asset.shopify_product_id or ""])
            except AdminError:
                raise UIError(502, "Shopify did not answer; the variant was not changed.") from None
            product = info.get(asset.shopify_product_id or "")
            if product is None or variant not in {v["id"] for v in product.variants}:
                raise UIError(422, [{"loc": ["body", "variant_id"], "msg": "Not a variant of this product.",
                                     "type": "value_error"}])
        asset = _call_engine("set_variant", asset.id, variant)
    return jsonify(present.asset_json(asset))


class ReviewDecision(BaseModel):
    state: ReviewState


@bp.post("/assets/<asset_id>/review")
@session_token_required
def decide(asset_id: str) -> Response:
    decision: ReviewDecision = _validate(ReviewDecision, _body())
    session = db.session()
    asset = _editable_asset(session, asset_id)
    if asset.shopify_media_id and PushState(asset.push_state) is not PushState.REMOVED:
        raise UIError(409, "This image is published. Undo the publish to change it.")
    return jsonify(present.asset_json(_call_engine("set_review", asset.id, decision.state)))


@bp.post("/assets/<asset_id>/regenerate")
@session_token_required
def regenerate(asset_id: str) -> Response:
    session = db.session()
    asset = _editable_asset(session, asset_id)
    job = _call_engine("regenerate", asset.id)
    response = jsonify(_jobs_json(session, [job])[0])
    response.status_code = 202
    return response


@bp.post("/jobs/<job_id>/publish")
@session_token_required
def publish(job_id: str) -> Response:
    """Publish the job's approved images to their products (a `push-media` child job)."""
    session = db.session()
    job = _owned(session, GenerationJob, job_id, "Job")
    publish_job = _call_engine("publish_approved", job.id)
    response = jsonify(present.job_json(publish_job))
    response.status_code = 202
    return response


@bp.post("/jobs/<job_id>/undo")
@session_token_required
def undo(job_id: str) -> Response:
    """Remove from the products the images this job's review published."""
    session = db.session()
    job = _owned(session, GenerationJob, job_id, "Job")
    undo_job = _call_engine("undo", job.id)
    response = jsonify(present.job_json(undo_job))
    response.status_code = 202
    return response


@bp.post("/jobs/<job_id>/cancel")
@session_token_required
def cancel(job_id: str) -> Response:
    """Stop a running job; what it did not deliver is refunded."""
    session = db.session()
    job = _owned(session, GenerationJob, job_id, "Job")
    cancelled = _call_engine("cancel", job.id)
    return jsonify(_jobs_json(session, [cancelled])[0])


# ----------------------------------------------------------------------------- settings


def _settings_json(session: Session, shop: Shop) -> dict[str, Any]:
    ready = session.scalars(
        select(CatalogModel).where(CatalogModel.shop_id == shop.id, CatalogModel.status == CatalogModelStatus.READY)
        .order_by(CatalogModel.display_name)
    ).all()
    return {
        "auto_shoot": bool(shop.auto_shoot),
        "default_catalog_model_id": shop.default_catalog_model_id,
        "default_generation_model_id": str(shop.default_generation_model_id) if shop.default_generation_model_id else None,
        "publish_mode": PublishMode(shop.publish_mode).value,
        "catalog_models": [{"id": m.id, "display_name": m.display_name} for m in ready],
        "generation_models": [present.generation_model_json(m) for m in _generation_models(session)],
    }


class SettingsUpdate(BaseModel):
    auto_shoot: bool
    default_catalog_model_id: str | None = None
    default_generation_model_id: str | None = None
    publish_mode: PublishMode


@bp.get("/settings")
@session_token_required
def get_settings() -> Response:
    return jsonify(_settings_json(db.session(), current_shop()))


@bp.put("/settings")
@session_token_required
def put_settings() -> Response:
    update: SettingsUpdate = _validate(SettingsUpdate, _body())
    session = db.session()
    shop = current_shop()
    errors = []
    catalog_model_id = update.default_catalog_model_id or None
    if catalog_model_id is not None:
        model = session.scalar(select(CatalogModel).where(
            CatalogModel.id == catalog_model_id, CatalogModel.shop_id == shop.id)) if _ULID.match(catalog_model_id) else None
        if model is None:
            raise UIError(404, "Catalog model not found")
        if CatalogModelStatus(model.status) is not CatalogModelStatus.READY:
            errors.append({"loc": ["body", "default_catalog_model_id"], "msg": "This model is not ready yet.",
                           "type": "value_error"})
    generation_model_id: uuid.UUID | None = None
    if update.default_generation_model_id:
        try:
            generation_model_id = uuid.UUID(update.default_generation_model_id)
        except ValueError:
            generation_model_id = None
        if generation_model_id is None or session.get(GenerationModel, generation_model_id) is None:
            errors.append({"loc": ["body", "default_generation_model_id"], "msg": "Unknown generation model.",
                           "type": "value_error"})
    if update.auto_shoot and catalog_model_id is None:
        errors.append({"loc": ["body", "default_catalog_model_id"],
                       "msg": "Auto-shoot needs a default catalog model.", "type": "value_error"})
    if errors:
        raise UIError(422, errors)
    shop.auto_shoot = update.auto_shoot
    shop.default_catalog_model_id = catalog_model_id
    shop.default_generation_model_id = generation_model_id
    shop.publish_mode = update.publish_mode
    session.flush()
    return jsonify(_settings_json(session, shop))

