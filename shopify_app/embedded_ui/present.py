"""What the merchant sees of our rows: JSON shapes for the embedded UI, and failure reasons in
the merchant's words (never a provider's raw error text, which can carry internals)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from shopify_app.embedded_ui.images import image_url
from shopify_app.models import (
    Asset,
    CatalogModel,
    GenerationJob,
    GenerationModel,
    JobStatus,
)

WORKFLOW_LABELS = {
    "model-generator": "Catalog model",
    "try-on": "Try-on",
    "catalog-shoot": "Catalog shoot",
    "push-media": "Publish to products",
    "undo-push": "Undo publish",
}

STAGE_LABELS = {
    "queued": "Waiting to start",
    "started": "Starting",
    "submitted": "Sent to the generator",
    "generating": "Generating images",
    "polling": "Generating images",
    "training": "Training the model (this can take 20–30 minutes)",
    "storing": "Saving images",
    "preparing": "Preparing the product photos",
    "shooting": "Shooting the products",
    "evaluating": "Checking the images",
    "review": "Ready for review",
    "publishing": "Publishing to your products",
    "removing": "Removing from your products",
    "done": "Done",
    "failed": "Failed",
}

# Error codes written by the engine (`fail_job(code, …)`) → what a merchant can understand and do.
FAILURE_REASONS = {
    "provider_technical": "The image generator had a technical problem and could not finish.",
    "provider_content": "The image generator declined this request (for example, the product "
                        "photo could not be used). Try a different product photo.",
    "provider_configuration": "This generation model is not set up correctly. Choose another "
                              "model or contact support.",
    "provider_quota": "The image generator is at capacity right now. Try again later.",
    "provider_output_invalid": "The generated image was unusable (wrong size or blank).",
    "deadline_exceeded": "This took far longer than expected, so we stopped it.",
    "media_failed": "Shopify could not add the images to your products.",
    "media_removal_failed": "Shopify could not remove the images from your products.",
    "cancelled_by_support": "Cancelled by Catalog Studio support.",
    "cancelled": "Cancelled.",
    "shoot_stopped": "The catalog shoot this product belonged to was stopped.",
    "app_uninstalled": "Catalog Studio was uninstalled from the shop.",
    "catalog_model_missing": "The catalog model no longer exists.",
    "catalog_model_not_ready": "The catalog model is not ready yet. Wait until it shows Ready.",
    "catalog_model_has_no_portrait": "The catalog model has no usable portrait. Create the model again.",
    "shopify_unavailable": "Shopify could not be reached for the product details. Try again later.",
    "product_not_found": "The product no longer exists in your shop.",
    "product_has_no_image": "The product has no photo to dress the model in. Add a product photo "
                            "in Shopify and try again.",
    "garment_missing": "There was no product photo to dress the model in.",
    "garment_unavailable": "The product photo could not be downloaded. Try again later.",
    "garment_unusable": "The product photo could not be used (format or size). Try another photo.",
    "no_usable_images": "None of the generated images passed our quality checks.",
    "no_products_to_shoot": "None of the selected products could be shot (deleted, or without a photo).",
    "shoot_failed": "No product could be shot.",
    "unsupported_workflow": "This kind of job is not supported.",
    "product_deleted": "The product was deleted in Shopify.",
    "shop_uninstalled": "The app was uninstalled.",
    "insufficient_credits": "Not enough credits.",
}
GENERIC_FAILURE = "Something went wrong while generating."

PRESET_LOCAL = "local"


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def failure_reason(job: GenerationJob) -> str | None:
    if JobStatus(job.status) is not JobStatus.FAILURE:
        return None
    code = job.error_code or ""
    reason = FAILURE_REASONS.get(code)
    if reason is None and code.startswith("provider_"):
        reason = FAILURE_REASONS["provider_technical"]
    return reason or GENERIC_FAILURE


def generation_model_json(model: GenerationModel) -> dict[str, Any]:
    capabilities = model.provider_capabilities
    if isinstance(capabilities, dict):
        capabilities = [k for k, v in capabilities.items() if v]
    is_preview = model.provider == PRESET_LOCAL
    return {
        "id": str(model.id),
        "name": model.name,
        # The built-in Pillow renderer draws a preview; it must never be passed off as AI.
        "label": _label(model.name, is_preview),
        "preview_renderer": is_preview,
        "recommended": bool(model.recommended),
        "beta": bool(model.beta),
        "capabilities": list(capabilities) if capabilities is not None else None,
        "credit_multiplier": float(model.credit_multiplier or 1.0),
    }


def _label(name: str, is_preview: bool) -> str:
    if not is_preview:
        return name
    if "preview renderer" in name.lower():
        return f"{name} · not AI"
    return f"{name} · preview renderer, not AI"


def catalog_model_json(model: CatalogModel, portrait: Asset | None) -> dict[str, Any]:
    return {
        "id": model.id,
        "display_name": model.display_name,
        "status": str(getattr(model.status, "value", model.status)),
        "gender": str(getattr(model.gender, "value", model.gender)),
        "ethnicity": model.ethnicity,
        "body_type": model.body_type,
        "age_range": model.age_range,
        "image_model": model.image_model,
        "resolution": model.resolution,
        "aspect_ratio": model.aspect_ratio,
        "seed": model.seed,
        "provider": model.provider,
        "preview_renderer": model.provider == PRESET_LOCAL,
        "error": "We could not create this model." if model.error_message else None,
        "portrait_url": image_url(portrait) if portrait is not None else None,
        "created_at": iso(model.created_at),
    }


def job_json(job: GenerationJob, *, catalog_model_name: str | None = None,
             results: int | None = None) -> dict[str, Any]:
    status = JobStatus(job.status)
    inputs = job.inputs or {}
    products = inputs.get("product_ids") or ([inputs["product_id"]] if inputs.get("product_id") else [])
    return {
        "id": job.id,
        "workflow": job.workflow,
        "workflow_label": WORKFLOW_LABELS.get(job.workflow, job.workflow),
        "status": status.value,
        "terminal": status.terminal,
        "stage": job.stage,
        "stage_label": STAGE_LABELS.get(job.stage, job.stage.replace("_", " ").capitalize()),
        "progress": max(0, min(100, int(job.progress or 0))),
        "catalog_model_id": job.catalog_model_id,
        "catalog_model_name": catalog_model_name or inputs.get("display_name"),
        "generation_model": inputs.get("generation_model"),
        "product_count": len(products),
        "results": results,
        "failure": failure_reason(job),
        "credits_cost": int(job.credits_cost or 0),
        "credits_refunded": int(job.credits_refunded or 0),
        "reviewable": job.workflow in ("catalog-shoot", "try-on"),
        "created_at": iso(job.created_at),
        "finished_at": iso(job.finished_at),
    }


def progress_json(job: GenerationJob) -> dict[str, Any]:
    """The few fields the jobs page polls for."""
    status = JobStatus(job.status)
    return {
        "id": job.id, "status": status.value, "terminal": status.terminal, "stage": job.stage,
        "stage_label": STAGE_LABELS.get(job.stage, job.stage.replace("_", " ").capitalize()),
        "progress": max(0, min(100, int(job.progress or 0))), "failure": failure_reason(job),
        "credits_cost": int(job.credits_cost or 0), "credits_refunded": int(job.credits_refunded or 0),
    }


def asset_json(asset: Asset) -> dict[str, Any]:
    return {
        "id": asset.id,
        "job_id": asset.job_id,
        "url": None if asset.held_reason else image_url(asset),
        "held": bool(asset.held_reason),
        "width": asset.width,
        "height": asset.height,
        "review_state": str(getattr(asset.review_state, "value", asset.review_state)),
        "alt_text": asset.alt_text or "",
        "product_id": asset.shopify_product_id,
        "variant_id": asset.shopify_variant_id,
        "push_state": str(getattr(asset.push_state, "value", asset.push_state)),
        "published": bool(asset.shopify_media_id) and str(getattr(asset.push_state, "value", asset.push_state)) != "removed",
    }
