"""The workflow engine: what each step of a job does (the RQ wrappers are in `jobs/workflows.py`).

Every step claims its job (`steps.claim`: row lock, and late or duplicate messages are no-ops),
does one short piece of work, and either schedules the next step (`steps.schedule_step`, sent
after commit, found again by the reconciler if lost) or ends the job. No step sleeps: provider
polls and the catalog-shoot watch are scheduled with a delay.

    model-generator   start → provider (portraits; identity training where the provider trains)
                      → poll… → portraits stored + evaluated → CatalogModel READY
    try-on            start (garment image stored, portrait picked) → provider → poll…
                      → images stored + evaluated → review (or, for a shoot in direct mode,
                      publish → `published`)
    catalog-shoot     start: one Admin call per 250 products for titles and images, then one
                      child try-on job per product (`parent_job_id`) → `watch_shoot` (scheduled)
                      until every child ended → settle: one partial refund for what was not
                      delivered, stage "review" or "done"

Why a child job per product rather than units inside one job: a product is the unit that
succeeds, fails, is deleted, and is published on its own; the provider runner keeps one task
sequence (primary → retries → fallback) per job; and children spread over every worker, so a
shoot runs as wide as the worker pool. Children are never charged: the shoot holds the one
charge and, when it settles, the one refund (`settlement`). The shoot watches its children
instead of children writing to it, so 500 finishing children never queue on the parent's row.

Eval (`eval_enabled`, default on) runs `evaluation.evaluate` on every output before it is
offered; failing images are stored with `held_reason`, never published, never counted as
delivered (so they are refunded).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shopify_app import credits
from shopify_app.images.errors import FetchFailed, ImageIntakeError
from shopify_app.images.storage import get_storage, store_image
from shopify_app.models import (
    Asset,
    AssetKind,
    CatalogModel,
    CatalogModelStatus,
    GenerationJob,
    JobStatus,
    Product,
    PublishMode,
    PushState,
    Shop,
    Workflow,
    new_ulid,
    utcnow,
)
from shopify_app.providers.base import OutputImage, ProviderError
from shopify_app.providers.runner import Advance, AdvanceKind, ProviderRunner
from shopify_app.settings import Settings
from shopify_app.steps import fail_job, finish_job, schedule_step
from shopify_app.workflows import evaluation, garments, provider_io, settlement

log = logging.getLogger(__name__)

QUEUE = "generation"
START_STEP = "jobs.workflows:start"
POLL_STEP = "jobs.workflows:poll"
WATCH_STEP = "jobs.workflows:watch_shoot"
# The watch publishes a direct-mode shoot's images, so it rides with the Shopify pushes: a
# worker that takes `media` first runs it beside the renders instead of behind all of them.
WATCH_QUEUE = "media"
PUBLISHED_STEP = "jobs.workflows:published"

PORTRAITS = 2
OUTPUT_FETCH_RETRIES = 3
LOOKUP_RETRIES = 5
GARMENT_FETCH_RETRIES = 3
WATCH_MIN_SECONDS = 1.0
WATCH_MAX_SECONDS = 15.0
# A direct-mode shoot publishes what its products have offered so far in push jobs of at most
# this many products each (each push job: one attach call per product; one staged-upload call
# and one status poll for all; several push jobs let several workers publish at once).
PUBLISH_BATCH_PRODUCTS = 25
# ...and waits for a batch to fill while products are still rendering: it publishes full batches,
# and what is left over once the oldest of it has waited this long, or when no product is left
# rendering. (Publishing every watch's one or two new products cost a push job, its Admin
# status polls and its bookkeeping per product or two: a quarter of a shoot's own CPU. Sending
# the leftover with every full batch made a push job of a few products each time.)
PUBLISH_MAX_WAIT_SECONDS = 10.0
AWAITING_PUBLISH = "awaiting_publish"
# A provider that answers "ready now" (the local renderer in null-latency mode) is polled in
# the same step instead of one more trip through the queue.
INLINE_POLLS = 1


def _settings() -> Settings:
    return current_app.config["STUDIO_SETTINGS"]  # type: ignore[no-any-return]


def _runner() -> ProviderRunner:
    return provider_io.runner()


# ============================================================================ entry steps


def start(session: Session, job: GenerationJob) -> None:
    """The first step of every job `service.create_job` made, and of every shoot child."""
    if _stopped(session, job):
        return
    _mark_started(job)
    workflow = job.workflow
    if workflow == Workflow.MODEL_GENERATOR:
        _start_model_generation(session, job)
    elif workflow == Workflow.TRY_ON:
        _start_try_on(session, job)
    elif workflow == Workflow.CATALOG_SHOOT:
        _start_shoot(session, job)
    else:
        fail(session, job, "unsupported_workflow", f"{workflow} jobs have no generation steps")


def _mark_started(job: GenerationJob) -> None:
    if job.status == JobStatus.NOT_STARTED:
        job.status = JobStatus.IN_PROGRESS
        job.started_at = job.started_at or utcnow()


def poll(session: Session, job: GenerationJob) -> None:
    """Look at the job's provider task once and act on the answer."""
    if _stopped(session, job):
        return
    try:
        advance = _runner().advance(session, job)
    except ProviderError as exc:
        fail(session, job, f"provider_{exc.kind}", exc.message)
        return
    follow(session, job, advance)


def fail(session: Session, job: GenerationJob, code: str, message: str) -> None:
    """End the job as failed; `steps.fail_job` refunds what it did not deliver (settlement)."""
    fail_job(session, job, code, message)


def _stopped(session: Session, job: GenerationJob) -> bool:
    """True (and the job failed) when it was cancelled, or its shoot was stopped."""
    if job.cancel_requested:
        fail(session, job, "cancelled", "The job was cancelled.")
        return True
    if job.parent_job_id:
        # The shoot stands for the shop: an uninstall fails the shoot (and every pending
        # product) in one go, so a product only needs to look at its shoot.
        # Two columns, not the shoot's row: its outputs list every product of the shoot.
        parent = session.execute(
            select(GenerationJob.status, GenerationJob.cancel_requested)
            .where(GenerationJob.id == job.parent_job_id)
        ).one_or_none()
        if parent is None or parent.status == JobStatus.FAILURE or parent.cancel_requested:
            fail(session, job, "shoot_stopped", "The catalog shoot this product belonged to was stopped.")
            return True
        return False
    shop = session.get(Shop, job.shop_id)
    if shop is None or shop.uninstalled_at is not None:
        fail(session, job, "app_uninstalled", "Catalog Studio was uninstalled from the shop.")
        return True
    return False


# ============================================================================ provider work


def _submit(session: Session, job: GenerationJob) -> None:
    try:
        advance = _runner().start(session, job)
    except ProviderError as exc:  # no generation model, inputs that cannot be loaded…
        fail(session, job, f"provider_{exc.kind}", exc.message)
        return
    follow(session, job, advance)


def follow(session: Session, job: GenerationJob, advance: Advance, inline_polls: int = INLINE_POLLS) -> None:
    """Act on what the runner said: poll (now or later), take the outputs, or fail."""
    if advance.identity is not None:
        provider_io.remember_identity(session, job, advance)
    if advance.kind is AdvanceKind.POLL:
        if advance.delay <= 0 and inline_polls > 0 and advance.error is None:
            try:
                again = _runner().advance(session, job)
            except ProviderError as exc:
                fail(session, job, f"provider_{exc.kind}", exc.message)
                return
            follow(session, job, again, inline_polls - 1)
            return
        training = bool(advance.task and (advance.task.state or {}).get("phase") == "training")
        job.stage = "training" if training else "generating"
        if training and job.workflow == Workflow.MODEL_GENERATOR:
            _set_model_status(session, job, CatalogModelStatus.TRAINING)
        if advance.progress is not None:
            job.progress = max(job.progress or 0, min(75, 10 + int(advance.progress * 0.65)))
        schedule_step(session, job, POLL_STEP, QUEUE, delay=dt.timedelta(seconds=max(0.0, advance.delay)))
        return
    if advance.kind is AdvanceKind.FAILED:
        error = advance.error
        fail(session, job, f"provider_{error.kind if error else 'technical'}",
             error.message if error else "The provider failed.")
        return
    try:
        outputs = _runner().fetch_outputs(session, job)
    except ProviderError as exc:
        task = advance.task
        tries = int((task.state or {}).get("fetch_errors", 0)) + 1 if task else OUTPUT_FETCH_RETRIES
        if exc.retryable and task is not None and tries < OUTPUT_FETCH_RETRIES:
            task.state = {**(task.state or {}), "fetch_errors": tries}
            schedule_step(session, job, POLL_STEP, QUEUE, delay=dt.timedelta(seconds=5 * tries))
            return
        fail(session, job, f"provider_{exc.kind}", exc.message)
        return
    on_outputs_ready(session, job, outputs)


# ============================================================================ model generation


def _start_model_generation(session: Session, job: GenerationJob) -> None:
    model = _catalog_model(session, job)
    if model is None:
        fail(session, job, "catalog_model_missing", "The catalog model no longer exists.")
        return
    inputs = dict(job.inputs or {})
    inputs["operation"] = "model-generation"
    inputs["options"] = {
        "num_images": PORTRAITS,
        "aspect_ratio": inputs.get("aspect_ratio"),
        "seed": inputs.get("seed"),
    }
    job.inputs = inputs
    model.status = CatalogModelStatus.GENERATING
    job.stage = "generating"
    job.progress = 5
    _submit(session, job)


def _set_model_status(session: Session, job: GenerationJob, status: CatalogModelStatus) -> None:
    model = _catalog_model(session, job)
    if model is not None and model.status != CatalogModelStatus.READY:
        model.status = status


def _catalog_model(session: Session, job: GenerationJob) -> CatalogModel | None:
    if not job.catalog_model_id:
        return None
    model = session.get(CatalogModel, job.catalog_model_id)
    return model if model is not None and model.shop_id == job.shop_id else None


# ============================================================================ try-on


def _start_try_on(session: Session, job: GenerationJob) -> None:
    settings = _settings()
    inputs = dict(job.inputs or {})
    model = _catalog_model(session, job)
    if model is None or model.status != CatalogModelStatus.READY:
        fail(session, job, "catalog_model_not_ready", "The catalog model is missing or not ready.")
        return
    portrait_id = inputs.get("portrait_asset_id") or portrait_of(session, model)
    if portrait_id is None:
        fail(session, job, "catalog_model_has_no_portrait", "The catalog model has no usable portrait.")
        return
    product_id = inputs.get("product_id")
    url = inputs.get("garment_image_url")
    if product_id and not url:
        shop = session.get(Shop, job.shop_id)
        assert shop is not None
        try:
            info = garments.lookup_products(session, shop, [product_id]).get(product_id)
        except garments.ProductLookupError as exc:
            _retry_or_fail(session, job, "shopify_unavailable", f"Shopify could not be asked about the product: {exc}",
                           LOOKUP_RETRIES, retry_in=exc.retry_in)
            return
        if info is None:
            fail(session, job, "product_not_found", "The product no longer exists in the shop.")
            return
        if not info.image_url:
            fail(session, job, "product_has_no_image", "The product has no image to dress the model in.")
            return
        url = info.image_url
        inputs["product_title"] = info.title
        inputs["garment_image_url"] = url
    if not url:
        fail(session, job, "garment_missing", "The try-on has no garment image.")
        return
    try:
        data = garments.garment_bytes(settings, str(url))
        # Left pending (INSERTed with the step's other writes at commit); the provider request
        # finds it with `provider_io.find_asset`.
        garment = store_image(session, job.shop_id, AssetKind.GARMENT, data, job_id=job.id,
                              settings=settings, shopify_product_id=product_id, flush=False)
    except FetchFailed as exc:
        _retry_or_fail(session, job, "garment_unavailable", f"The garment image could not be downloaded: {exc}",
                       GARMENT_FETCH_RETRIES)
        return
    except ImageIntakeError as exc:
        fail(session, job, "garment_unusable", f"The garment image cannot be used: {exc}")
        return
    inputs.update({
        "operation": "try-on",
        "person_image": {"asset_id": portrait_id},
        "garment_image": {"asset_id": garment.id},
        "garment_asset_id": garment.id,
        "options": {
            "num_images": int(inputs.get("num_images") or 1),
            "aspect_ratio": inputs.get("aspect_ratio"),
            "seed": inputs.get("seed"),
            "output_format": "jpeg",  # product photos; image intake re-encodes anyway
            "category": inputs.get("category") or "auto",
        },
    })
    job.inputs = inputs
    job.stage = "generating"
    job.progress = 10
    _submit(session, job)


def portrait_of(session: Session, model: CatalogModel) -> str | None:
    """The catalog model's first portrait that passed its checks (the try-on's person image)."""
    return session.scalar(
        select(Asset.id).where(Asset.catalog_model_id == model.id, Asset.shop_id == model.shop_id,
                               Asset.kind == AssetKind.PORTRAIT, Asset.held_reason.is_(None))
        .order_by(Asset.created_at, Asset.id).limit(1)
    )


def _retry_or_fail(session: Session, job: GenerationJob, code: str, message: str, limit: int,
                   retry_in: float | None = None) -> None:
    """A passing trouble (Shopify down for a moment, a download timed out): run the step again
    later, up to `limit` times. `retry_in`: the shop's rate limit asks to come back then (its
    bucket refills whatever we do), which is not a failed attempt."""
    if retry_in is not None:
        schedule_step(session, job, START_STEP, QUEUE, delay=dt.timedelta(seconds=retry_in))
        return
    if (job.attempts or 0) < limit:
        job.attempts = (job.attempts or 0) + 1
        schedule_step(session, job, START_STEP, QUEUE, delay=dt.timedelta(seconds=2 ** job.attempts))
        return
    fail(session, job, code, message)


# ============================================================================ outputs


def on_outputs_ready(session: Session, job: GenerationJob, outputs: Sequence[OutputImage]) -> None:
    """Store, evaluate and offer a job's outputs."""
    settings = _settings()
    portrait = job.workflow == Workflow.MODEL_GENERATOR
    kind = AssetKind.PORTRAIT if portrait else AssetKind.TRY_ON
    inputs = job.inputs or {}
    options = inputs.get("options") or {}
    expected = evaluation.Expectation(
        width=options.get("width"), height=options.get("height"),
        aspect_ratio=inputs.get("aspect_ratio"),
        garment=None if portrait else _garment_bytes(session, job, settings),
    )
    model = _catalog_model(session, job)
    links: dict[str, Any] = {}
    if not portrait and job.shopify_product_id:
        links["shopify_product_id"] = job.shopify_product_id
    assets: list[Asset] = []
    rejected: list[str] = []
    for index, output in enumerate(outputs):
        try:
            data = provider_io.output_bytes(output, settings)
            checks: dict[str, Any] = {}
            # create_job always resolves eval_enabled (default on); a job made another way opts in.
            if inputs.get("eval_enabled"):
                result = evaluation.evaluate(data, expected)
                checks = {"eval_scores": result.scores, "held_reason": result.held_reason}
            alt = "" if portrait else _alt_text(inputs, model, index, len(outputs))
            asset = store_image(session, job.shop_id, kind, data, job_id=job.id,
                                catalog_model_id=job.catalog_model_id, settings=settings,
                                alt_text=alt, flush=False, **links, **checks)
        except ImageIntakeError as exc:
            rejected.append(str(exc))
            continue
        if asset in assets:
            continue  # the provider repeated an image: store_image gave back the same asset
        assets.append(asset)
    offered = [a.id for a in assets if a.held_reason is None]
    shoot_direct = bool(offered and job.parent_job_id and inputs.get("publish") == PublishMode.DIRECT)
    if not shoot_direct:
        # Publishing, settling and failing look the new rows up with queries; a shoot's product
        # in direct mode only ends its step, and its rows are INSERTed at commit.
        session.flush()
    job.outputs = {
        **(job.outputs or {}),
        "asset_ids": [a.id for a in assets],
        "offered": offered,
        "held": {a.id: a.held_reason for a in assets if a.held_reason},
        "rejected": rejected,
        "paid": settlement.paid_units(job),
    }
    if not offered:
        reasons = sorted({a.held_reason or "" for a in assets} | set(rejected)) or ["the provider returned no image"]
        fail(session, job, "no_usable_images", "No usable image came back: " + "; ".join(reasons)[:900])
        return
    if portrait:
        _model_ready(session, job, model)
        return
    if inputs.get("publish") == PublishMode.DIRECT:
        if job.parent_job_id:
            # A shoot publishes its products' images in batches (`watch_shoot`): one push job
            # for many products, one status poll for all of their media.
            finish_job(job)
            job.stage = AWAITING_PUBLISH
            _watch_now_if_last(session, job)
            return
        shop = session.get(Shop, job.shop_id)
        assert shop is not None
        from shopify_app.shopify import media

        pushes = media.publish_assets(session, shop, job, offered, then=PUBLISHED_STEP)
        if pushes:
            job.stage = "publishing"
            job.progress = 85
            return
    job.outputs = {**job.outputs, "delivered": len(offered)}
    _finish(session, job, stage="review")


def _watch_now_if_last(session: Session, job: GenerationJob) -> None:
    """The shoot's last product to finish has the shoot's watch run now, to publish the last
    batch, instead of at its next round (one to two seconds away: RQ schedules on whole
    seconds). One query per product to find out; the shoot's row is touched only by the last.

    Two products finishing at once each see the other still running, and neither calls: the
    watch's own round then finds them. A shoot row locked by someone else (its watch running,
    a cancellation) is skipped rather than waited for."""
    still_running = session.scalar(select(
        select(GenerationJob.id).where(
            GenerationJob.parent_job_id == job.parent_job_id, GenerationJob.id != job.id,
            GenerationJob.workflow == Workflow.TRY_ON.value,
            GenerationJob.status.in_([JobStatus.NOT_STARTED, JobStatus.IN_PROGRESS]))
        .exists()))
    if still_running:
        return
    shoot = session.scalar(
        select(GenerationJob).where(GenerationJob.id == job.parent_job_id)
        .with_for_update(skip_locked=True).execution_options(populate_existing=True))
    if shoot is None or JobStatus(shoot.status).terminal or shoot.next_step != f"{WATCH_QUEUE}/{WATCH_STEP}":
        return
    schedule_step(session, shoot, WATCH_STEP, WATCH_QUEUE)


def _garment_bytes(session: Session, job: GenerationJob, settings: Settings) -> bytes | None:
    garment_id = (job.inputs or {}).get("garment_asset_id")
    garment = provider_io.find_asset(session, garment_id) if garment_id else None
    if garment is None or garment.shop_id != job.shop_id:
        return None
    try:
        return get_storage(settings).read(garment.storage_key)
    except OSError:
        return None


def _alt_text(inputs: dict[str, Any], model: CatalogModel | None, index: int, count: int) -> str:
    title = str(inputs.get("product_title") or "This product").strip()
    who = model.display_name if model is not None and model.display_name else "our catalog model"
    text = f"{title} worn by {who}"
    return f"{text}, look {index + 1}" if count > 1 else text


def _model_ready(session: Session, job: GenerationJob, model: CatalogModel | None) -> None:
    if model is None:
        fail(session, job, "catalog_model_missing", "The catalog model no longer exists.")
        return
    model.status = CatalogModelStatus.READY
    model.error_message = None
    shop = session.get(Shop, job.shop_id)
    if shop is not None and shop.default_catalog_model_id is None:
        shop.default_catalog_model_id = model.id  # the first ready model is the default
    job.outputs = {**(job.outputs or {}), "delivered": 1}
    _finish(session, job)


def _finish(session: Session, job: GenerationJob, stage: str = "done") -> None:
    """SUCCESS, and a partial refund for images paid for and not delivered (once)."""
    finish_job(job)
    job.stage = stage
    due = settlement.refund_due(session, job)
    if due > 0:
        credits.refund(session, job, amount=due, reason=f"partial refund: {job.workflow} job {job.id} "
                       f"delivered {settlement.delivered_units(session, job)} of {settlement.paid_units(job)}")


def published(session: Session, job: GenerationJob) -> None:
    """After a direct publish: the images READY on the product are the ones delivered."""
    ready_ids = list(session.scalars(
        select(Asset.id).where(Asset.job_id == job.id, Asset.shop_id == job.shop_id,
                               Asset.kind == AssetKind.TRY_ON, Asset.push_state == PushState.READY)
    ))
    job.outputs = {**(job.outputs or {}), "delivered": len(ready_ids), "published": ready_ids}
    if not ready_ids:
        errors = "; ".join(sorted({r.get("error") or "failed" for r in (job.outputs or {}).get("media") or []}))
        fail(session, job, "media_failed", f"No image could be published to the product: {errors or 'failed'}")
        return
    _finish(session, job)


# ============================================================================ catalog shoot


def _start_shoot(session: Session, job: GenerationJob) -> None:
    inputs = dict(job.inputs or {})
    product_ids = [str(p) for p in inputs.get("product_ids") or ()]
    shop = session.get(Shop, job.shop_id)
    assert shop is not None
    job.stage = "preparing"
    try:
        infos = garments.lookup_products(session, shop, product_ids)
    except garments.ProductLookupError as exc:
        _retry_or_fail(session, job, "shopify_unavailable", f"Shopify could not be asked about the products: {exc}",
                       LOOKUP_RETRIES, retry_in=exc.retry_in)
        return
    deleted = set(session.scalars(
        select(Product.shopify_product_id).where(Product.shop_id == shop.id, Product.deleted_at.is_not(None),
                                                 Product.shopify_product_id.in_(product_ids))
    ))
    publish = str(inputs.get("publish") or shop.publish_mode or PublishMode.REVIEW)
    model = _catalog_model(session, job)
    portrait_id = portrait_of(session, model) if model is not None else None
    products: dict[str, dict[str, Any]] = {}
    children: list[GenerationJob] = []
    for product_id in product_ids:
        info = infos.get(product_id)
        if info is None or product_id in deleted:
            products[product_id] = {"skipped": "The product does not exist in the shop."}
            continue
        if not info.image_url:
            products[product_id] = {"skipped": "The product has no image to dress the model in."}
            continue
        child = GenerationJob(
            id=new_ulid(), shop_id=job.shop_id, api_client_id=job.api_client_id, request_id=job.request_id,
            parent_job_id=job.id, workflow=Workflow.TRY_ON.value, status=JobStatus.NOT_STARTED,
            stage="queued", progress=0, outputs={},
            inputs={
                "catalog_model_id": job.catalog_model_id, "portrait_asset_id": portrait_id,
                "product_id": product_id,
                "product_title": info.title, "garment_image_url": info.image_url,
                "num_images": int(inputs.get("num_images") or 1), "publish": publish,
                "eval_enabled": inputs.get("eval_enabled", True),
                "on_technical_failure": inputs.get("on_technical_failure"),
                "aspect_ratio": inputs.get("aspect_ratio"), "seed": inputs.get("seed"),
                "generation_model_id": inputs.get("generation_model_id"),
                "generation_model": inputs.get("generation_model"),
            },
            catalog_model_id=job.catalog_model_id, generation_model_id=job.generation_model_id,
            shopify_product_id=product_id, credits_cost=0,
        )
        children.append(child)
        products[product_id] = {"job_id": child.id}
    job.outputs = {**(job.outputs or {}), "products": products, "paid": settlement.paid_units(job),
                   "publish": publish}
    if not children:
        reasons = "; ".join(sorted({p["skipped"] for p in products.values()}))
        fail(session, job, "no_products_to_shoot", f"None of the products can be shot: {reasons}")
        return
    for child in children:
        # Before the INSERT, so each row is written once with its step (no UPDATE after).
        schedule_step(session, child, START_STEP, QUEUE)
    session.add_all(children)
    session.flush()
    job.stage = "shooting"
    job.progress = 5
    schedule_step(session, job, WATCH_STEP, WATCH_QUEUE, delay=dt.timedelta(seconds=WATCH_MIN_SECONDS))


def watch_shoot(session: Session, job: GenerationJob) -> None:
    """See how the products are doing, publish what they offered (direct mode), and settle the
    shoot when every product and every publish has ended."""
    rows = session.execute(
        select(GenerationJob.id, GenerationJob.status, GenerationJob.stage, GenerationJob.finished_at,
               GenerationJob.shopify_product_id, GenerationJob.error_message)
        .where(GenerationJob.parent_job_id == job.id, GenerationJob.shop_id == job.shop_id,
               GenerationJob.workflow == Workflow.TRY_ON.value)
    ).all()
    ended = [r for r in rows if JobStatus(r.status).terminal]
    outputs = dict(job.outputs or {})
    publishing = 0
    if outputs.get("publish") == PublishMode.DIRECT:
        waiting = [r for r in ended if r.stage == AWAITING_PUBLISH]
        _publish_offered(session, job, [r.id for r in waiting], everything_ended=len(ended) == len(rows),
                         finished={r.id: r.finished_at for r in waiting})
        publishing = int(session.scalar(
            select(func.count()).select_from(GenerationJob).where(
                GenerationJob.parent_job_id == job.id, GenerationJob.shop_id == job.shop_id,
                GenerationJob.workflow == Workflow.PUSH_MEDIA.value,
                GenerationJob.status.in_([JobStatus.NOT_STARTED, JobStatus.IN_PROGRESS]))
        ) or 0)
    if len(ended) < len(rows) or publishing:
        progress = 5 + (90 * len(ended)) // max(1, len(rows)) - (1 if publishing else 0)
        interval = float(outputs.get("watch_interval") or WATCH_MIN_SECONDS)
        interval = WATCH_MIN_SECONDS if progress != job.progress else min(WATCH_MAX_SECONDS, interval * 2)
        job.progress = progress
        job.stage = "publishing" if publishing and len(ended) == len(rows) else "shooting"
        job.outputs = {**outputs, "watch_interval": interval}
        schedule_step(session, job, WATCH_STEP, WATCH_QUEUE, delay=dt.timedelta(seconds=interval))
        return
    products = dict(outputs.get("products") or {})
    by_child = settlement.children_delivered(session, job)
    delivered = 0
    in_review = False
    errors: list[str] = []
    for row in rows:
        units = by_child.get(row.id, 0)
        delivered += units
        in_review = in_review or row.stage == "review"
        entry = {"job_id": row.id, "status": str(JobStatus(row.status).value), "delivered": units}
        if row.error_message:
            entry["error"] = row.error_message
            errors.append(row.error_message)
        elif row.stage == AWAITING_PUBLISH and not units:
            entry["error"] = "No image could be published to the product."
            errors.append(entry["error"])
        products[row.shopify_product_id or row.id] = entry
    outputs.pop("watch_interval", None)
    job.outputs = {**outputs, "products": products, "delivered": delivered}
    if delivered == 0:
        reasons = "; ".join(sorted(set(errors)))[:900] or "every product failed"
        fail(session, job, "shoot_failed", f"No product could be shot: {reasons}")
        return
    _finish(session, job, stage="review" if in_review else "done")


def _publish_offered(session: Session, job: GenerationJob, child_ids: list[str], everything_ended: bool = True,
                     finished: dict[str, dt.datetime | None] | None = None) -> None:
    """Start push jobs for the offered images of finished products not yet being published
    (in full batches while products are still rendering: `PUBLISH_MAX_WAIT_SECONDS`)."""
    if not child_ids:
        return
    assets = session.scalars(
        select(Asset).where(Asset.job_id.in_(child_ids), Asset.shop_id == job.shop_id,
                            Asset.kind == AssetKind.TRY_ON, Asset.held_reason.is_(None),
                            Asset.push_state == PushState.NONE, Asset.shopify_media_id.is_(None))
        .order_by(Asset.shopify_product_id, Asset.id)
    ).all()
    if not assets:
        return
    shop = session.get(Shop, job.shop_id)
    if shop is None or shop.uninstalled_at is not None:
        return
    from shopify_app.shopify import media

    by_product: dict[str, list[str]] = {}
    waiting_since: dict[str, dt.datetime] = {}
    now = utcnow()
    for asset in assets:
        product = asset.shopify_product_id or ""
        by_product.setdefault(product, []).append(asset.id)
        since = (finished or {}).get(asset.job_id)
        if since is not None:
            since = since if since.tzinfo else since.replace(tzinfo=dt.UTC)
            waiting_since[product] = min(since, waiting_since.get(product, since))
    # Longest waiting first, so a leftover that waits is what finished last.
    products = sorted(by_product, key=lambda p: waiting_since.get(p, now))
    batches = [products[i:i + PUBLISH_BATCH_PRODUCTS] for i in range(0, len(products), PUBLISH_BATCH_PRODUCTS)]
    if not everything_ended and len(batches[-1]) < PUBLISH_BATCH_PRODUCTS:
        oldest = waiting_since.get(batches[-1][0])
        if oldest is not None and (now - oldest).total_seconds() < PUBLISH_MAX_WAIT_SECONDS:
            batches.pop()  # a later watch publishes them with more
    for batch in batches:
        ids = [a for p in batch for a in by_product[p]]
        push = GenerationJob(
            id=new_ulid(), shop_id=job.shop_id, parent_job_id=job.id, workflow=Workflow.PUSH_MEDIA.value,
            status=JobStatus.IN_PROGRESS, stage="queued", progress=0, inputs={"asset_ids": ids}, outputs={},
            catalog_model_id=job.catalog_model_id, credits_cost=0, started_at=utcnow(),
        )
        session.add(push)
        session.flush()
        media.publish_assets(session, shop, push, ids)
