"""What a merchant does with a job's results: review, edit, regenerate, publish, undo, cancel.

The embedded UI's endpoints call these; each takes the merchant's `shop` and finds every row
through it (another shop's asset or job is "not found", never touched). They add and flush;
the request commits, and the publish/undo steps are enqueued after that commit.

Publishing and undoing are jobs of their own (`push-media`, `undo-push`, child of the job whose
images they move, never charged) so they have a status, progress, a reconciler and an error the
UI can show, and so a shoot that ended long ago can still be published.
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from shopify_app.models import (
    Asset,
    AssetKind,
    GenerationJob,
    JobStatus,
    PushState,
    ReviewState,
    Shop,
    Workflow,
    new_ulid,
    utcnow,
)
from shopify_app.steps import fail_job
from shopify_app.workflows import service

MAX_ALT_TEXT = 512


class ReviewError(Exception):
    """The action is not possible; `status` is the HTTP status the UI should answer with."""

    status = 409

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class NotFound(ReviewError):
    status = 404


# ----------------------------------------------------------------------------- lookups


def get_job(session: Session, shop: Shop, job_id: str) -> GenerationJob:
    job = session.scalar(select(GenerationJob).where(GenerationJob.id == job_id, GenerationJob.shop_id == shop.id))
    if job is None:
        raise NotFound(f"job {job_id} not found")
    return job


def get_asset(session: Session, shop: Shop, asset_id: str, *, lock: bool = False) -> Asset:
    query = select(Asset).where(Asset.id == asset_id, Asset.shop_id == shop.id)
    asset = session.scalar(query.with_for_update() if lock else query)
    if asset is None:
        raise NotFound(f"image {asset_id} not found")
    return asset


def job_assets(session: Session, shop: Shop, job_id: str, kind: AssetKind | None = AssetKind.TRY_ON) -> list[Asset]:
    """The images a job made, with its children's (a catalog shoot's products), oldest first."""
    job = get_job(session, shop, job_id)
    children = select(GenerationJob.id).where(GenerationJob.parent_job_id == job.id,
                                              GenerationJob.shop_id == shop.id)
    query = select(Asset).where(Asset.shop_id == shop.id,
                                or_(Asset.job_id == job.id, Asset.job_id.in_(children)))
    if kind is not None:
        query = query.where(Asset.kind == kind)
    return list(session.scalars(query.order_by(Asset.created_at, Asset.id)))


# ----------------------------------------------------------------------------- review


def set_review(session: Session, shop: Shop, asset_id: str, state: ReviewState | str) -> Asset:
    """Approve, reject, or put back to pending one result image.

    A held-back image (it failed the automatic checks) cannot be approved: regenerate it."""
    state = ReviewState(state)
    asset = get_asset(session, shop, asset_id, lock=True)
    if asset.kind != AssetKind.TRY_ON:
        raise ReviewError("only try-on results are reviewed")
    if state is ReviewState.APPROVED and asset.held_reason:
        raise ReviewError(f"this image was held back: {asset.held_reason}")
    asset.review_state = state
    asset.updated_at = utcnow()
    session.flush()
    return asset


def set_alt_text(session: Session, shop: Shop, asset_id: str, alt_text: str) -> Asset:
    """The alt text the image gets on the product (used when it is published next)."""
    text = " ".join((alt_text or "").split())
    if len(text) > MAX_ALT_TEXT:
        raise ReviewError(f"alt text is at most {MAX_ALT_TEXT} characters", status=422)
    asset = get_asset(session, shop, asset_id, lock=True)
    asset.alt_text = text
    session.flush()
    return asset


def set_variant(session: Session, shop: Shop, asset_id: str, variant_id: str | None) -> Asset:
    """Attach the image to one variant of its product when published (None: the product only)."""
    if variant_id is not None and not variant_id.startswith("gid://shopify/ProductVariant/"):
        if not variant_id.isdigit():
            raise ReviewError("variant_id must be gid://shopify/ProductVariant/123 or 123", status=422)
        variant_id = f"gid://shopify/ProductVariant/{variant_id}"
    asset = get_asset(session, shop, asset_id, lock=True)
    if asset.push_state in (PushState.QUEUED, PushState.UPLOADED, PushState.PROCESSING):
        raise ReviewError("the image is being published; change its variant afterwards")
    asset.shopify_variant_id = variant_id
    session.flush()
    return asset


def regenerate(session: Session, shop: Shop, asset_id: str) -> GenerationJob:
    """A new try-on of the same product (or garment) on the same catalog model, charged as a
    new job; the image it replaces is marked rejected."""
    asset = get_asset(session, shop, asset_id, lock=True)
    if asset.kind != AssetKind.TRY_ON or not asset.job_id:
        raise ReviewError("only try-on results can be regenerated")
    source = get_job(session, shop, asset.job_id)
    inputs = source.inputs or {}
    request = {
        "catalog_model_id": source.catalog_model_id,
        "num_images": 1,
        "eval_enabled": inputs.get("eval_enabled", True),
        "on_technical_failure": inputs.get("on_technical_failure"),
        "aspect_ratio": inputs.get("aspect_ratio"),
        "image_model": inputs.get("generation_model"),
    }
    if asset.shopify_product_id:
        request["product_id"] = asset.shopify_product_id
    elif inputs.get("garment_image_url"):
        request["garment_image_url"] = inputs["garment_image_url"]
    else:
        raise ReviewError("the image's garment is not known")
    job = service.create_job(session, shop, Workflow.TRY_ON, request)
    job.inputs = {**job.inputs, "regenerates": asset.id}
    asset.review_state = ReviewState.REJECTED
    session.flush()
    return job


# ----------------------------------------------------------------------------- publish / undo


def publish_approved(session: Session, shop: Shop, job_id: str) -> GenerationJob:
    """Publish the job's approved, not yet published images to their products' media.

    Returns the `push-media` job that does it; raises ReviewError when nothing is approved."""
    from shopify_app.shopify import media

    source = get_job(session, shop, job_id)
    if shop.uninstalled_at is not None:
        raise ReviewError("the app is not installed on this shop")
    ids = [a.id for a in job_assets(session, shop, source.id)
           if a.review_state == ReviewState.APPROVED and not a.held_reason and a.shopify_product_id
           and (not a.shopify_media_id or a.push_state == PushState.REMOVED)
           and a.push_state not in (PushState.QUEUED, PushState.UPLOADED, PushState.PROCESSING)]
    if not ids:
        raise ReviewError("no approved image is waiting to be published")
    job = _side_job(session, shop, source, Workflow.PUSH_MEDIA, {"asset_ids": ids})
    pushes = media.publish_assets(session, shop, job, ids)
    if not pushes:
        raise ReviewError("every approved image is already published or being published")
    return job


def undo(session: Session, shop: Shop, job_id: str) -> GenerationJob:
    """Remove from the products exactly the media this job's images became (the merchant's own
    media is never touched). Returns the `undo-push` job."""
    from shopify_app.shopify import media

    source = get_job(session, shop, job_id)
    if source.workflow == Workflow.PUSH_MEDIA and source.parent_job_id:
        ids = list((source.inputs or {}).get("asset_ids") or ())
    else:
        ids = [a.id for a in job_assets(session, shop, source.id)]
    published = [a.id for a in session.scalars(
        select(Asset).where(Asset.shop_id == shop.id, Asset.id.in_(ids), Asset.shopify_media_id.is_not(None),
                            Asset.push_state != PushState.REMOVED))]
    if not published:
        raise ReviewError("nothing this job published is on the products")
    job = _side_job(session, shop, source, Workflow.UNDO_PUSH, {"asset_ids": published})
    if not media.undo_publish(session, shop, job, asset_ids=published):
        raise ReviewError("nothing this job published is on the products")
    return job


def cancel(session: Session, shop: Shop, job_id: str) -> GenerationJob:
    """Stop a job. Its unfinished work is dropped and what it did not deliver is refunded; a
    catalog shoot's products that are already being published finish publishing."""
    job = get_job(session, shop, job_id)
    if JobStatus(job.status).terminal:
        raise ReviewError(f"the job has already ended ({job.status})")
    job.cancel_requested = True
    fail_job(session, job, "cancelled", "Cancelled by the merchant.")
    session.flush()
    return job


def _side_job(session: Session, shop: Shop, source: GenerationJob, workflow: Workflow,
              inputs: dict[str, object]) -> GenerationJob:
    job = GenerationJob(
        id=new_ulid(), shop_id=shop.id, parent_job_id=source.id, workflow=workflow.value,
        status=JobStatus.IN_PROGRESS, stage="queued", progress=0, inputs=inputs, outputs={},
        catalog_model_id=source.catalog_model_id, credits_cost=0, started_at=utcnow(),
    )
    session.add(job)
    session.flush()
    return job
