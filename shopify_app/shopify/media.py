"""Publishing approved images to Shopify product media, and undoing it.

The unit of work is a `MediaPush` row: one product, several assets, one attach call; a step stages
the images of all of its pushes with one staged-upload call. Each RQ step (`jobs.media`) moves every push of a job as far as it can go and, while
any is unfinished, schedules itself again with a delay (`enqueue_in`; no sleeping worker):

    QUEUED   -> stagedUploadsCreate (all images of the step's products at once; each product on its
                own when Shopify refuses one of them); targets recorded
    QUEUED   -> bytes sent to each target (retried; restaged if a target was refused)
    UPLOADED -> attach intent committed, then productUpdate(product:{id}, media:[...]) with alt
                text; the media ids recorded on the assets
    PROCESSING -> media status polled with one `nodes(ids:)` query per step until READY/FAILED;
                then optional variant attachment (productVariantAppendMedia)
    READY | FAILED

Idempotency: an asset that carries a Shopify media id is never attached again. If the attach
answer was lost (crash, 5xx, timeout) the next attempt finds `attach_requested_at` set and first
looks for our media on the product (alt text + creation time, newest unclaimed first) before
attaching only what is missing. Undo deletes exactly the media ids recorded on our assets
(`fileDelete`, which also removes them from the product) and restores any variant image we
replaced; the merchant's own media is never named, so never touched.

Never `productSet` (it deletes media it isn't given) and never the deprecated
`productCreateMedia` / `productDeleteMedia`.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import requests
from flask import current_app
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from shopify_app.models import Asset, GenerationJob, MediaPush, PushState, Shop, new_ulid, utcnow
from shopify_app.settings import Settings
from shopify_app.shopify.admin import (
    AdminAmbiguousError,
    AdminClient,
    AdminError,
    AdminHTTPError,
    AdminRetryLater,
    AdminTransientError,
    AdminUserError,
    admin_client_for,
)
from shopify_app.steps import fail_job, finish_job, schedule_step

log = logging.getLogger(__name__)

PUBLISH_STEP = "jobs.media:advance_publish"
UNDO_STEP = "jobs.media:advance_undo"
QUEUE = "media"
MAX_ATTEMPTS = 8
MAX_POLLS = 40  # about 17 minutes with the schedule below
# Seconds before each status poll. Shopify usually processes an image within a second or two, so
# the first look comes after 1 s (the merchant sees READY sooner); then backing off, for the
# odd large image that takes minutes. Polls of one shop's products are made together (one
# query per batch), so an early poll costs a few cost points, not one per product.
POLL_DELAYS = (1, 2, 3, 5, 8, 13, 20, 30)
# Shopify's image limits (reference/shopify-platform.md section 4).
MAX_SIDE = 4472
MAX_PIXELS = 20_000_000
MAX_ALT = 512
STAGE_INPUTS = 250  # Shopify's limit on a mutation's input list
# Clock skew allowed between us and Shopify when matching media by creation time.
SKEW = dt.timedelta(minutes=2)
ACTIVE = (PushState.QUEUED, PushState.UPLOADED, PushState.PROCESSING)
MIME = {"jpeg": "image/jpeg", "jpg": "image/jpeg", "png": "image/png", "gif": "image/gif"}

STAGED_UPLOADS_CREATE = """
mutation StagedUploadsCreate($input: [StagedUploadInput!]!) {
  stagedUploadsCreate(input: $input) {
    stagedTargets { url resourceUrl parameters { name value } }
    userErrors { field message }
  }
}"""

ATTACH_MEDIA = """
mutation AttachProductMedia($product: ProductUpdateInput!, $media: [CreateMediaInput!]!, $last: Int!) {
  productUpdate(product: $product, media: $media) {
    product {
      id
      media(last: $last) { nodes { id alt status ... on MediaImage { createdAt } } }
    }
    userErrors { field message }
  }
}"""

PRODUCT_MEDIA = """
query ProductMediaForReconcile($id: ID!, $last: Int!) {
  product(id: $id) {
    id
    media(last: $last) { nodes { id alt status ... on MediaImage { createdAt } } }
  }
}"""

MEDIA_STATUS = """
query MediaStatus($ids: [ID!]!) {
  nodes(ids: $ids) {
    id
    ... on MediaImage {
      status
      mediaErrors { code message details }
      image { url width height }
    }
  }
}"""

VARIANT_MEDIA = """
query VariantMedia($ids: [ID!]!) {
  nodes(ids: $ids) {
    id
    ... on ProductVariant { product { id } media(first: 5) { nodes { id } } }
  }
}"""

VARIANT_APPEND = """
mutation AppendVariantMedia($productId: ID!, $variantMedia: [ProductVariantAppendMediaInput!]!) {
  productVariantAppendMedia(productId: $productId, variantMedia: $variantMedia) {
    productVariants { id }
    userErrors { code field message }
  }
}"""

VARIANT_DETACH = """
mutation DetachVariantMedia($productId: ID!, $variantMedia: [ProductVariantDetachMediaInput!]!) {
  productVariantDetachMedia(productId: $productId, variantMedia: $variantMedia) {
    productVariants { id }
    userErrors { code field message }
  }
}"""

FILE_DELETE = """
mutation DeleteFiles($fileIds: [ID!]!) {
  fileDelete(fileIds: $fileIds) {
    deletedFileIds
    userErrors { code field message }
  }
}"""

EXISTING_NODES = """
query ExistingMedia($ids: [ID!]!) {
  nodes(ids: $ids) { id }
}"""


class PublishError(ValueError):
    """The request to publish or undo is not valid (unknown asset, no product...)."""


# ----------------------------------------------------------------------------- entry points

def publish_assets(session: Session, shop: Shop, job: GenerationJob, asset_ids: Iterable[str],
                   *, then: str | None = None) -> list[MediaPush]:
    """Publish the shop's assets to their products' media; returns the MediaPush rows created.

    Each asset needs `shopify_product_id` (and optionally `shopify_variant_id`, `alt_text`).
    Assets already pushed (they carry a media id) or in a push under way are skipped, so calling
    this twice pushes nothing twice. Schedules `jobs.media:advance_publish` as the job's next step
    on the `media` queue. When every push has ended the step finishes the job (SUCCESS if any
    image is READY, else FAILURE "media_failed"), or, with `then="module:function"`, schedules
    that step instead and leaves the job to it."""
    wanted = list(dict.fromkeys(asset_ids))
    assets = session.scalars(
        select(Asset).where(Asset.id.in_(wanted), Asset.shop_id == shop.id).with_for_update()
    ).all()
    found = {a.id for a in assets}
    missing = [i for i in wanted if i not in found]
    if missing:
        raise PublishError(f"unknown assets for this shop: {', '.join(missing)}")
    active_push_ids = {a.media_push_id for a in assets if a.media_push_id}
    active = set(session.scalars(
        select(MediaPush.id).where(MediaPush.id.in_(active_push_ids), MediaPush.state.in_(ACTIVE))
    ).all()) if active_push_ids else set()

    by_product: dict[str, list[Asset]] = defaultdict(list)
    for asset in sorted(assets, key=lambda a: wanted.index(a.id)):
        if not asset.shopify_product_id:
            raise PublishError(f"asset {asset.id} has no shopify_product_id")
        if asset.media_push_id in active:
            continue
        if asset.shopify_media_id and asset.push_state != PushState.REMOVED:
            continue
        by_product[asset.shopify_product_id].append(asset)

    pushes = []
    for product_id, group in by_product.items():
        entries = {}
        for asset in group:
            if asset.push_state == PushState.REMOVED:
                asset.shopify_media_id = None  # published again after an undo
            entries[asset.id] = {"variant_id": asset.shopify_variant_id, "uploaded": False,
                                 "media_id": None, "status": None}
        push = MediaPush(id=new_ulid(), shop_id=shop.id, job_id=job.id, shopify_product_id=product_id,
                         kind="publish", state=PushState.QUEUED, staged={"assets": entries, "then": then})
        session.add(push)
        pushes.append(push)
    if pushes:
        # Every push in one INSERT (ids minted above), before the assets point at them.
        session.flush()
    for push in pushes:
        for asset in by_product[push.shopify_product_id]:
            asset.media_push_id = push.id
            asset.push_state = PushState.QUEUED
    if pushes:
        job.stage = "publishing"
        schedule_step(session, job, PUBLISH_STEP, QUEUE)
    return pushes


def undo_publish(session: Session, shop: Shop, job: GenerationJob, *,
                 asset_ids: Iterable[str] | None = None,
                 source_job_id: str | None = None, then: str | None = None) -> list[MediaPush]:
    """Remove from Shopify exactly the media the app added for these assets (by id, or every
    asset pushed by `source_job_id`). Schedules `jobs.media:advance_undo` on `job`."""
    query = select(Asset).where(Asset.shop_id == shop.id, Asset.shopify_media_id.is_not(None),
                                Asset.push_state != PushState.REMOVED)
    if asset_ids is not None:
        query = query.where(Asset.id.in_(list(asset_ids)))
    elif source_job_id is not None:
        pushed_by = select(MediaPush.id).where(MediaPush.job_id == source_job_id, MediaPush.shop_id == shop.id)
        query = query.where(Asset.media_push_id.in_(pushed_by))
    else:
        raise PublishError("name the assets or the publishing job to undo")
    assets = session.scalars(query.with_for_update()).all()
    by_product: dict[str, list[Asset]] = defaultdict(list)
    for asset in assets:
        by_product[asset.shopify_product_id or ""].append(asset)
    pushes = []
    for product_id, group in by_product.items():
        entries = {}
        for asset in group:
            previous = session.get(MediaPush, asset.media_push_id) if asset.media_push_id else None
            record = ((previous.staged or {}).get("assets") or {}).get(asset.id, {}) if previous else {}
            entries[asset.id] = {"media_id": asset.shopify_media_id, "variant_id": asset.shopify_variant_id,
                                 "replaced_variant_media": record.get("replaced_variant_media"),
                                 "deleted": False}
        push = MediaPush(shop_id=shop.id, job_id=job.id, shopify_product_id=product_id, kind="undo",
                         state=PushState.QUEUED, staged={"assets": entries, "then": then})
        session.add(push)
        pushes.append(push)
    if pushes:
        job.stage = "removing"
        schedule_step(session, job, UNDO_STEP, QUEUE)
    return pushes


# ----------------------------------------------------------------------------- the steps

@dataclass
class Progress:
    """When the step wants to run again (None: nothing left for it)."""

    delay: float | None = None

    def again_in(self, seconds: float) -> None:
        self.delay = seconds if self.delay is None else min(self.delay, seconds)


def advance_publish(session: Session, job: GenerationJob, client: AdminClient | None = None) -> None:
    """Move every unfinished publish push of `job` along; reschedule or end the job."""
    _advance(session, job, "publish", client)


def advance_undo(session: Session, job: GenerationJob, client: AdminClient | None = None) -> None:
    _advance(session, job, "undo", client)


def _advance(session: Session, job: GenerationJob, kind: str, client: AdminClient | None) -> None:
    shop = session.get(Shop, job.shop_id)
    pushes = session.scalars(
        select(MediaPush).where(MediaPush.job_id == job.id, MediaPush.kind == kind).order_by(MediaPush.created_at, MediaPush.id)
    ).all()
    pending = [p for p in pushes if p.state in ACTIVE]
    progress = Progress()
    if pending:
        if shop is None or shop.uninstalled_at is not None:
            for push in pending:
                _fail_push(session, push, "the shop uninstalled the app")
        else:
            client = client or admin_client_for(session, shop)
            if kind == "publish":
                _run_publish(session, client, job, pending, progress)
            else:
                _run_undo(session, client, pending, progress)
    if any(p.state in ACTIVE for p in pushes):
        job.stage = "publishing" if kind == "publish" else "removing"
        job.progress = _percent(pushes)
        schedule_step(session, job, PUBLISH_STEP if kind == "publish" else UNDO_STEP, QUEUE,
                      delay=dt.timedelta(seconds=progress.delay or 1))
        return
    _complete(session, job, pushes, kind)


def _percent(pushes: list[MediaPush]) -> int:
    weights = {PushState.QUEUED: 10, PushState.UPLOADED: 40, PushState.PROCESSING: 70}
    values = [weights.get(PushState(p.state), 100) for p in pushes]
    return max(1, min(99, sum(values) // max(1, len(values))))


def _complete(session: Session, job: GenerationJob, pushes: list[MediaPush], kind: str) -> None:
    results = []
    for push in pushes:
        for asset_id, entry in (push.staged or {}).get("assets", {}).items():
            results.append({"asset_id": asset_id, "product_id": push.shopify_product_id,
                            "media_id": entry.get("media_id"), "status": entry.get("status"),
                            "error": entry.get("error")})
    key = "media" if kind == "publish" else "removed_media"
    job.outputs = {**(job.outputs or {}), key: results}
    then = next(((p.staged or {}).get("then") for p in pushes if (p.staged or {}).get("then")), None)
    if then:
        schedule_step(session, job, then, QUEUE)
        return
    succeeded = [p for p in pushes if p.state in (PushState.READY, PushState.REMOVED)]
    if pushes and not succeeded:
        message = "; ".join(sorted({p.error_message or "failed" for p in pushes}))
        fail_job(session, job, "media_failed" if kind == "publish" else "media_removal_failed",
                 f"No image could be {'published' if kind == 'publish' else 'removed'}: {message}")
    else:
        finish_job(job)


def _set_entry(push: MediaPush, asset_id: str, **values: Any) -> None:
    """Update one asset's record in `push.staged` (reassigned so SQLAlchemy sees the change)."""
    staged = copy.deepcopy(push.staged or {})
    staged.setdefault("assets", {}).setdefault(asset_id, {}).update(values)
    push.staged = staged


def _entries(push: MediaPush) -> dict[str, dict[str, Any]]:
    return (push.staged or {}).get("assets", {})


def _fail_push(session: Session, push: MediaPush, message: str) -> None:
    push.state = PushState.FAILED
    push.error_message = message[:2000]
    push.finished_at = utcnow()
    for asset in session.scalars(select(Asset).where(Asset.id.in_(list(_entries(push))))):
        if asset.push_state in ACTIVE:
            asset.push_state = PushState.FAILED
        if _entries(push).get(asset.id, {}).get("status") is None:
            _set_entry(push, asset.id, status="FAILED", error=message[:500])


def _handle(session: Session, push: MediaPush, progress: Progress, exc: Exception) -> None:
    """What a failed call means for the push: later, reconcile, or give up with a reason."""
    if isinstance(exc, AdminRetryLater):
        progress.again_in(exc.delay)
    elif isinstance(exc, AdminAmbiguousError):
        push.attempts += 1
        progress.again_in(1)
    elif isinstance(exc, AdminTransientError | requests.RequestException):
        push.attempts += 1
        if push.attempts >= MAX_ATTEMPTS:
            _fail_push(session, push, f"Shopify kept failing: {exc}")
        else:
            progress.again_in(min(60, 2 ** push.attempts))
    elif isinstance(exc, AdminHTTPError) and exc.status in (402, 423):
        _fail_push(session, push, "the shop is frozen or locked; images can't be published now")
    else:
        _fail_push(session, push, str(exc))


def _run_publish(session: Session, client: AdminClient, job: GenerationJob,
                 pushes: list[MediaPush], progress: Progress) -> None:
    from shopify_app.shopify.tokens import ReauthorizationRequired

    # Every asset of the step's pushes in one query, held for the whole step (the session's
    # identity map only keeps what is referenced).
    assets = {a.id: a for a in session.scalars(
        select(Asset).where(Asset.id.in_([i for p in pushes for i in _entries(p)])))}
    uploaded: list[MediaPush] = []
    processing: list[MediaPush] = []
    files, stopped = _stage_all(session, client, pushes, assets, progress)
    for push in pushes:
        if push.id in stopped:
            continue
        try:
            if push.state == PushState.QUEUED:
                _stage_and_upload(session, client, push, assets, files)
            if push.state == PushState.UPLOADED:
                uploaded.append(push)
            elif push.state == PushState.PROCESSING:
                processing.append(push)
        except ReauthorizationRequired as exc:
            _fail_push(session, push, str(exc))
        except (AdminError, requests.RequestException) as exc:
            _handle(session, push, progress, exc)
    if uploaded:
        _attach_all(session, client, uploaded, assets, progress)
    if processing:
        try:
            _poll(session, client, processing, progress, assets)
        except ReauthorizationRequired as exc:
            for push in processing:
                _fail_push(session, push, str(exc))
        except (AdminError, requests.RequestException) as exc:
            for push in processing:
                _handle(session, push, progress, exc)


# ------------------------------------------------------------------ stage and upload

def _image_bytes(settings: Settings, asset: Asset) -> tuple[bytes, str, str]:
    """The asset's bytes, filename and MIME type, converted or scaled to fit Shopify's limits."""
    try:
        from shopify_app.images.storage import get_storage

        data = get_storage(settings).read(asset.storage_key)
    except ImportError:  # storage not available: the plain media directory
        data = (settings.media_root / asset.storage_key).read_bytes()
    fmt = (asset.format or "").lower()
    too_big = asset.width > MAX_SIDE or asset.height > MAX_SIDE or asset.width * asset.height > MAX_PIXELS
    if fmt not in MIME or too_big:
        with Image.open(io.BytesIO(data)) as image:
            image = image.convert("RGB")
            scale = min(1.0, MAX_SIDE / max(image.size), (MAX_PIXELS / (image.size[0] * image.size[1])) ** 0.5)
            if scale < 1.0:
                image = image.resize((int(image.size[0] * scale), int(image.size[1] * scale)), Image.LANCZOS)
            out = io.BytesIO()
            image.save(out, "JPEG", quality=92)
        data, fmt = out.getvalue(), "jpeg"
    extension = "jpg" if fmt in ("jpeg", "jpg") else fmt
    return data, f"catalog-studio-{asset.id.lower()}.{extension}", MIME[fmt]


def _needs_targets(push: MediaPush) -> bool:
    return push.state == PushState.QUEUED and not all(e.get("resource_url") for e in _entries(push).values())


def _stage_all(session: Session, client: AdminClient, pushes: list[MediaPush], every: dict[str, Asset],
               progress: Progress) -> tuple[dict[str, tuple[bytes, str, str]], set[str]]:
    """Staged upload targets for every image of the pushes that need them, in one
    stagedUploadsCreate call (its `input` is a list) instead of one per product. Returns the
    images' bytes (for the uploads) and the ids of pushes the call failed for (handled here).
    Shopify refusing one of the inputs (a userError) must not stop the other products: then each
    push is staged on its own, as `_stage_and_upload` does."""
    from shopify_app.shopify.tokens import ReauthorizationRequired

    waiting = [p for p in pushes if _needs_targets(p)]
    if len(waiting) < 2:
        return {}, set()
    settings: Settings = current_app.config["STUDIO_SETTINGS"]
    files = {i: _image_bytes(settings, every[i]) for p in waiting for i in _entries(p)}
    groups: list[list[MediaPush]] = [[]]
    for push in waiting:
        if groups[-1] and sum(len(_entries(p)) for p in groups[-1]) + len(_entries(push)) > STAGE_INPUTS:
            groups.append([])
        groups[-1].append(push)
    stopped: set[str] = set()
    for group in groups:
        try:
            _stage(client, group, files)
        except AdminUserError:
            continue  # each push of the group is staged on its own by _stage_and_upload
        except ReauthorizationRequired as exc:
            for push in group:
                _fail_push(session, push, str(exc))
            stopped.update(p.id for p in group)
        except (AdminError, requests.RequestException) as exc:
            for push in group:
                _handle(session, push, progress, exc)
            stopped.update(p.id for p in group)
    return files, stopped


def _stage(client: AdminClient, pushes: list[MediaPush], files: dict[str, tuple[bytes, str, str]]) -> None:
    """One stagedUploadsCreate for every image of `pushes`; the targets recorded on the pushes."""
    order = [(push, asset_id) for push in pushes for asset_id in _entries(push)]
    result = client.mutate(STAGED_UPLOADS_CREATE, {"input": [
        {"resource": "IMAGE", "filename": files[i][1], "mimeType": files[i][2], "httpMethod": "PUT",
         "fileSize": str(len(files[i][0]))} for _, i in order
    ]}, payload="stagedUploadsCreate", idempotent=True)
    targets = result.get("stagedTargets") or []
    if len(targets) != len(order):
        raise AdminTransientError("stagedUploadsCreate returned the wrong number of targets")
    # Recorded before any upload: a retry re-uses these targets instead of staging again
    # (they are committed with the step, whether the uploads succeed or not).
    for (push, asset_id), target in zip(order, targets):
        _set_entry(push, asset_id, resource_url=target["resourceUrl"], target_url=target["url"],
                   parameters=target["parameters"], filename=files[asset_id][1],
                   mime_type=files[asset_id][2], uploaded=False)


def _stage_and_upload(session: Session, client: AdminClient, push: MediaPush, every: dict[str, Asset],
                      files: dict[str, tuple[bytes, str, str]] | None = None) -> None:
    """Stage the push's images (unless `_stage_all` or an earlier step did) and upload them."""
    settings: Settings = current_app.config["STUDIO_SETTINGS"]
    assets = {i: every[i] for i in _entries(push) if i in every}
    files = files or {}
    if _needs_targets(push):
        files = {asset_id: files.get(asset_id) or _image_bytes(settings, assets[asset_id])
                 for asset_id in _entries(push)}
        _stage(client, [push], files)
    http = client.http
    for asset_id, entry in _entries(push).items():
        if entry.get("uploaded"):
            continue
        data, filename, mime = files.get(asset_id) or _image_bytes(settings, assets[asset_id])
        response = _upload(http, entry, data, filename, mime)
        if response.status_code in (400, 401, 403, 404):
            # The target was refused (expired signature): stage again next time.
            for other in _entries(push):
                _set_entry(push, other, resource_url=None, uploaded=False)
            raise AdminTransientError(f"staged upload refused with HTTP {response.status_code}")
        if response.status_code >= 300:
            raise AdminTransientError(f"staged upload failed with HTTP {response.status_code}")
        _set_entry(push, asset_id, uploaded=True)
    push.state = PushState.UPLOADED
    for asset in assets.values():
        asset.push_state = PushState.UPLOADED


def _upload(http: requests.Session, entry: dict[str, Any], data: bytes, filename: str, mime: str) -> requests.Response:
    """Send bytes to a staged target: a form POST with the target's fields then the file, or a
    PUT of the raw bytes (with the target's content type), whichever shape the target has."""
    params = {p["name"]: p["value"] for p in entry.get("parameters") or []}
    if "key" in params or "policy" in params:
        fields = [(name, (None, value)) for name, value in params.items()]
        fields.append(("file", (filename, data, mime)))
        return http.post(entry["target_url"], files=fields)
    headers = {"Content-Type": params.get("content_type", mime)}
    if params.get("acl"):
        headers["x-goog-acl"] = params["acl"]
    return http.put(entry["target_url"], data=data, headers=headers)


# ------------------------------------------------------------------ attach

def _alt(asset: Asset) -> str:
    return (asset.alt_text or "Catalog model wearing this product").strip()[:MAX_ALT]


def _attach_all(session: Session, client: AdminClient, pushes: list[MediaPush], every: dict[str, Asset],
                progress: Progress) -> None:
    """Attach the uploaded images of several products: first every push's intent, committed
    once, then one productUpdate per product. A crash after the commit leaves each push with
    `attach_requested_at` set, so the next run asks Shopify what is already on the product
    before attaching again (`_reconcile_attach`): never twice, whichever call it stopped at."""
    from shopify_app.shopify.tokens import ReauthorizationRequired

    ready: list[tuple[MediaPush, dict[str, Asset]]] = []
    intents = False
    for push in pushes:
        assets = {i: every[i] for i in _entries(push) if i in every}
        try:
            if push.attach_requested_at is not None:
                # A previous attach may have happened without us hearing back: claim what is there.
                _reconcile_attach(session, client, push, assets)
        except ReauthorizationRequired as exc:
            _fail_push(session, push, str(exc))
            continue
        except (AdminError, requests.RequestException) as exc:
            _handle(session, push, progress, exc)
            continue
        if any(not e.get("media_id") for e in _entries(push).values()):
            push.attach_requested_at = utcnow()
            intents = True
        ready.append((push, assets))
    if intents:
        # Committed before the calls, so a crash after Shopify acted is detected next time.
        session.commit()
    later: AdminRetryLater | None = None
    for push, assets in ready:
        if later is not None:
            # Shopify asked for a later attempt: the step's other attaches come back with it
            # instead of each asking the shop's bucket again. Not sent, so no intent.
            push.attach_requested_at = None
            _handle(session, push, progress, later)
            continue
        try:
            _attach(session, client, push, assets)
            progress.again_in(POLL_DELAYS[0])
        except ReauthorizationRequired as exc:
            _fail_push(session, push, str(exc))
        except AdminRetryLater as exc:
            # The shop's bucket is spent (or Shopify said "later"): the attach was not applied,
            # so the next run attaches without asking the product first. The intent goes with
            # the step's commit; a crash before it leaves the intent, and a reconcile, behind.
            push.attach_requested_at = None
            _handle(session, push, progress, exc)
            later = exc
        except (AdminError, requests.RequestException) as exc:
            _handle(session, push, progress, exc)


def _attach(session: Session, client: AdminClient, push: MediaPush, assets: dict[str, Asset]) -> None:
    """productUpdate with the push's images not yet on the product; `attach_requested_at` is
    already committed (`_attach_all`)."""
    missing = [i for i, e in _entries(push).items() if not e.get("media_id")]
    if missing:
        assert push.attach_requested_at is not None
        data = client.mutate(ATTACH_MEDIA, {
            "product": {"id": push.shopify_product_id},
            "media": [{"originalSource": _entries(push)[i]["resource_url"], "alt": _alt(assets[i]),
                       "mediaContentType": "IMAGE"} for i in missing],
            "last": min(250, len(missing) + 10),
        }, payload="productUpdate")
        nodes = ((data.get("product") or {}).get("media") or {}).get("nodes") or []
        _claim_media(session, push, assets, missing, nodes, since=None)
        still = [i for i in missing if not _entries(push)[i].get("media_id")]
        if still:
            raise AdminAmbiguousError(f"attached media not found for {len(still)} assets")
    push.state = PushState.PROCESSING
    for asset in assets.values():
        if asset.push_state in ACTIVE:
            asset.push_state = PushState.PROCESSING


def _reconcile_attach(session: Session, client: AdminClient, push: MediaPush, assets: dict[str, Asset]) -> None:
    missing = [i for i, e in _entries(push).items() if not e.get("media_id")]
    if not missing:
        return
    data = client.query(PRODUCT_MEDIA, {"id": push.shopify_product_id, "last": 100})
    product = data.get("product")
    if product is None:
        raise AdminUserError("product", [{"field": ["id"], "message": "Product does not exist"}])
    nodes = (product.get("media") or {}).get("nodes") or []
    since = (push.attach_requested_at or utcnow()) - SKEW
    _claim_media(session, push, assets, missing, nodes, since=since)
    found = len(missing) - len([i for i in missing if not _entries(push)[i].get("media_id")])
    log.info("reconciled push %s: %d of %d images were already on the product", push.id, found, len(missing))


def _claim_media(session: Session, push: MediaPush, assets: dict[str, Asset], asset_ids: list[str],
                 nodes: list[dict[str, Any]], since: dt.datetime | None) -> None:
    """Match product media to our assets: same alt text, not claimed by any asset yet, created
    after `since`; the newest media go to the last assets (Shopify appends in input order)."""
    # Which of these nodes an asset already holds (only these: not every media id of the shop).
    node_ids = [n["id"] for n in nodes if n.get("id")]
    claimed = set(session.scalars(select(Asset.shopify_media_id).where(
        Asset.shop_id == push.shop_id, Asset.shopify_media_id.in_(node_ids))).all()) if node_ids else set()
    candidates = [n for n in nodes if n.get("id") and n["id"] not in claimed and _after(n, since)]
    for asset_id in reversed(asset_ids):
        alt = _alt(assets[asset_id])
        match = next((n for n in reversed(candidates) if (n.get("alt") or "") == alt), None)
        if match is None:
            continue
        candidates.remove(match)
        assets[asset_id].shopify_media_id = match["id"]
        _set_entry(push, asset_id, media_id=match["id"], status=match.get("status"))
    # No flush: the next push's `claimed` query autoflushes, and the step commits.


def _after(node: dict[str, Any], since: dt.datetime | None) -> bool:
    if since is None or not node.get("createdAt"):
        return True
    created = dt.datetime.fromisoformat(str(node["createdAt"]).replace("Z", "+00:00"))
    return created >= since


# ------------------------------------------------------------------ status and variants

def _poll(session: Session, client: AdminClient, pushes: list[MediaPush], progress: Progress,
          every: dict[str, Asset]) -> None:
    ids = [e["media_id"] for p in pushes for e in _entries(p).values()
           if e.get("media_id") and e.get("status") not in ("READY", "FAILED")]
    statuses: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 250):
        data = client.query(MEDIA_STATUS, {"ids": ids[start:start + 250]})
        statuses.update({n["id"]: n for n in data.get("nodes") or [] if n})
    for push in pushes:
        push.polls += 1
        assets = {i: every[i] for i in _entries(push) if i in every}
        for asset_id, entry in _entries(push).items():
            if entry.get("status") in ("READY", "FAILED") or not entry.get("media_id"):
                continue
            node = statuses.get(entry["media_id"])
            if node is None:
                # Deleted by the merchant while processing.
                _set_entry(push, asset_id, status="FAILED", error="the media was deleted on Shopify")
                assets[asset_id].push_state = PushState.FAILED
                continue
            status = node.get("status")
            if status == "READY":
                _set_entry(push, asset_id, status="READY")
                assets[asset_id].push_state = PushState.READY
            elif status == "FAILED":
                errors = node.get("mediaErrors") or []
                message = "; ".join(e.get("message") or e.get("code") or "" for e in errors) or "processing failed"
                _set_entry(push, asset_id, status="FAILED", error=message[:500])
                assets[asset_id].push_state = PushState.FAILED
            else:
                _set_entry(push, asset_id, status=status)
        unfinished = [e for e in _entries(push).values() if e.get("status") not in ("READY", "FAILED")]
        if unfinished:
            if push.polls >= MAX_POLLS:
                for asset_id, entry in _entries(push).items():
                    if entry.get("status") not in ("READY", "FAILED"):
                        _set_entry(push, asset_id, status="FAILED", error="media processing timed out")
                        assets[asset_id].push_state = PushState.FAILED
            else:
                progress.again_in(POLL_DELAYS[min(push.polls, len(POLL_DELAYS) - 1)])
                continue
        try:
            _attach_variants(session, client, push, assets)
        except AdminUserError as exc:
            # The images are published; only the variant link failed. Say so, don't undo.
            push.error_message = f"variant images not set: {exc}"[:2000]
        _finish_push(push)


def _finish_push(push: MediaPush) -> None:
    entries = _entries(push).values()
    ready = [e for e in entries if e.get("status") == "READY"]
    push.state = PushState.READY if ready else PushState.FAILED
    if not ready:
        push.error_message = push.error_message or "; ".join(sorted({e.get("error") or "failed" for e in entries}))
    push.finished_at = utcnow()


def _attach_variants(session: Session, client: AdminClient, push: MediaPush, assets: dict[str, Asset]) -> None:
    """Give each requested variant our image; a variant holds one media item, so one it already
    has is detached first and remembered for undo."""
    todo = {}
    for asset_id, entry in _entries(push).items():
        if entry.get("variant_id") and entry.get("status") == "READY" and not entry.get("variant_attached"):
            todo.setdefault(entry["variant_id"], asset_id)  # one image per variant: the first wins
    if not todo:
        return
    data = client.query(VARIANT_MEDIA, {"ids": list(todo)})
    detach = []
    for node in data.get("nodes") or []:
        if not node:
            continue
        current = [m["id"] for m in ((node.get("media") or {}).get("nodes") or [])]
        ours = _entries(push)[todo[node["id"]]]["media_id"]
        others = [m for m in current if m != ours]
        if others:
            _set_entry(push, todo[node["id"]], replaced_variant_media=others[0])
            detach.append({"variantId": node["id"], "mediaIds": others})
        elif ours in current:
            _set_entry(push, todo[node["id"]], variant_attached=True)
    if detach:
        client.mutate(VARIANT_DETACH, {"productId": push.shopify_product_id, "variantMedia": detach},
                      payload="productVariantDetachMedia", idempotent=True)
    append = [{"variantId": v, "mediaIds": [_entries(push)[a]["media_id"]]} for v, a in todo.items()
              if not _entries(push)[a].get("variant_attached")]
    if append:
        client.mutate(VARIANT_APPEND, {"productId": push.shopify_product_id, "variantMedia": append},
                      payload="productVariantAppendMedia", idempotent=True)
        for item in append:
            _set_entry(push, todo[item["variantId"]], variant_attached=True)


# ------------------------------------------------------------------ undo

def _run_undo(session: Session, client: AdminClient, pushes: list[MediaPush], progress: Progress) -> None:
    from shopify_app.shopify.tokens import ReauthorizationRequired

    for push in pushes:
        try:
            _undo_push(session, client, push)
        except ReauthorizationRequired as exc:
            _fail_push(session, push, str(exc))
        except (AdminError, requests.RequestException) as exc:
            _handle(session, push, progress, exc)


def _undo_push(session: Session, client: AdminClient, push: MediaPush) -> None:
    entries = _entries(push)
    to_delete = [e["media_id"] for e in entries.values() if e.get("media_id") and not e.get("deleted")]
    if to_delete:
        # Only ids that still exist: the merchant may have deleted some already.
        data = client.query(EXISTING_NODES, {"ids": to_delete})
        existing = [n["id"] for n in data.get("nodes") or [] if n]
        if existing:
            client.mutate(FILE_DELETE, {"fileIds": existing}, payload="fileDelete", idempotent=True)
        for asset_id, entry in entries.items():
            if entry.get("media_id") in to_delete:
                _set_entry(push, asset_id, deleted=True, status="REMOVED")
    restore = [(e["variant_id"], e["replaced_variant_media"]) for e in _entries(push).values()
               if e.get("variant_id") and e.get("replaced_variant_media") and not e.get("restored")]
    if restore:
        data = client.query(VARIANT_MEDIA, {"ids": [v for v, _ in restore]})
        has_media = {n["id"] for n in data.get("nodes") or [] if n and (n.get("media") or {}).get("nodes")}
        exists = {n["id"] for n in client.query(EXISTING_NODES, {"ids": [m for _, m in restore]}).get("nodes") or [] if n}
        append = [{"variantId": v, "mediaIds": [m]} for v, m in restore if v not in has_media and m in exists]
        if append:
            client.mutate(VARIANT_APPEND, {"productId": push.shopify_product_id, "variantMedia": append},
                          payload="productVariantAppendMedia", idempotent=True)
        for asset_id, entry in _entries(push).items():
            if entry.get("replaced_variant_media"):
                _set_entry(push, asset_id, restored=True)
    for asset in session.scalars(select(Asset).where(Asset.id.in_(list(entries)))):
        asset.push_state = PushState.REMOVED
    push.state = PushState.REMOVED
    push.finished_at = utcnow()
