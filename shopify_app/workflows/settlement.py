"""What a job owes back: refunds for images that were paid for and not delivered.

A job is charged once, when it is created (`service.create_job`), for `paid` units (images, or
one catalog model). It is refunded at most once (the ledger's unique (job, kind)), so the refund
is computed once, when the job ends, from what it delivered:

    refund = cost − ceil(cost × delivered / paid)

- a try-on delivers the images that passed evaluation (held-back images are not delivered);
- a catalog shoot delivers the sum over its child try-on jobs (children are never charged:
  the parent holds the one charge, so the parent holds the one refund); in direct mode a
  child's images count once they are READY on the product (`children_delivered`);
- a failed job delivers what it delivered before failing (usually nothing: a full refund).

`steps.fail_job` asks `refund_due` on every failure path (provider failure, timeout,
cancellation, product deleted, shop uninstalled, the reconciler giving up), so the same rule
holds whoever ends the job.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shopify_app.models import (
    Asset,
    AssetKind,
    CatalogModel,
    CatalogModelStatus,
    GenerationJob,
    JobStatus,
    PushState,
    Workflow,
)


def paid_units(job: GenerationJob) -> int:
    inputs = job.inputs or {}
    if job.workflow == Workflow.TRY_ON:
        return max(1, int(inputs.get("num_images") or 1))
    if job.workflow == Workflow.CATALOG_SHOOT:
        return max(1, len(inputs.get("product_ids") or ()) * int(inputs.get("num_images") or 1))
    return 1


def delivered_units(session: Session, job: GenerationJob) -> int:
    if job.workflow == Workflow.CATALOG_SHOOT:
        return sum(children_delivered(session, job).values())
    return int((job.outputs or {}).get("delivered") or 0)


def children_delivered(session: Session, parent: GenerationJob) -> dict[str, int]:
    """Images delivered by each product (child try-on job) of a catalog shoot.

    A child in review mode records what it offered (`outputs["delivered"]`); in direct mode a
    child ends once its images are offered and the shoot publishes them in batches, so it
    delivered the images that are READY on its product, or being published (a publish runs to
    the end even when the shoot is cancelled: never half-done)."""
    children = (
        select(GenerationJob.id)
        .where(GenerationJob.parent_job_id == parent.id, GenerationJob.shop_id == parent.shop_id,
               GenerationJob.workflow == Workflow.TRY_ON.value)
    )
    # READY on the product, or on its way there (a publish runs to the end once started).
    published = (PushState.READY, PushState.QUEUED, PushState.UPLOADED, PushState.PROCESSING)
    ready: dict[str, int] = {
        job_id: int(count) for job_id, count in session.execute(
            select(Asset.job_id, func.count()).where(Asset.job_id.in_(children), Asset.kind == AssetKind.TRY_ON,
                                                     Asset.push_state.in_(published))
            .group_by(Asset.job_id)
        )
    }
    delivered = {}
    for child_id, status, stage, outputs in session.execute(
        select(GenerationJob.id, GenerationJob.status, GenerationJob.stage, GenerationJob.outputs)
        .where(GenerationJob.id.in_(children))
    ):
        delivered[child_id] = child_delivered(status, stage, outputs, ready.get(child_id, 0))
    return delivered


def child_delivered(status: Any, stage: str, outputs: dict[str, Any] | None, ready: int = 0) -> int:
    outputs = outputs or {}
    if JobStatus(status) is JobStatus.SUCCESS:
        return int(outputs["delivered"]) if "delivered" in outputs else ready
    if JobStatus(status) is JobStatus.IN_PROGRESS and stage == "publishing":
        return len(outputs.get("offered") or ())
    return 0


def amount_for(cost: int, delivered: int, paid: int) -> int:
    """What `delivered` of `paid` units cost, rounded up (a partial refund never over-refunds)."""
    if paid <= 0 or cost <= 0:
        return 0
    delivered = max(0, min(delivered, paid))
    return min(cost, math.ceil(cost * delivered / paid))


def refund_due(session: Session, job: GenerationJob) -> int:
    """Credits to give back for `job` as it stands now."""
    cost = int(job.credits_cost or 0)
    if cost <= 0:
        return 0
    return cost - amount_for(cost, delivered_units(session, job), paid_units(job))


def after_failure(session: Session, job: GenerationJob) -> None:
    """Side effects of a failed job beyond the job row: a catalog model that will never be
    ready says so (the UI stops waiting for it)."""
    if job.workflow == Workflow.MODEL_GENERATOR and job.catalog_model_id:
        model = session.get(CatalogModel, job.catalog_model_id)
        if model is not None and model.shop_id == job.shop_id and model.status != CatalogModelStatus.READY:
            model.status = CatalogModelStatus.FAILED
            model.error_message = job.error_message
