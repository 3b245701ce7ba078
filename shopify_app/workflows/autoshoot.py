"""Auto-shoot: a product created in Shopify is shot on the shop's default catalog model.

`on_product_created` is called by the `products/create` webhook handler with the product row it
just recorded. It starts a one-product catalog shoot when every condition holds, and otherwise
records on the product *why* it did not (`auto_shoot_status` "skipped", `auto_shoot_reason`),
which the support console shows. It never raises for a business reason: a webhook must not be
retried because a merchant is out of credits.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from shopify_app import credits
from shopify_app.models import CatalogModel, CatalogModelStatus, Product, PublishMode, Shop, Workflow
from shopify_app.workflows import service

log = logging.getLogger(__name__)

STARTED = "started"
SKIPPED = "skipped"
IMAGES_PER_PRODUCT = 1


def on_product_created(session: Session, shop: Shop, product: Product) -> str:
    """Start a catalog shoot for `product`, or record why not; returns the status recorded."""
    reason = _skip_reason(session, shop, product)
    if reason is None:
        try:
            job = service.create_job(session, shop, Workflow.CATALOG_SHOOT, {
                "catalog_model_id": shop.default_catalog_model_id,
                "product_ids": [product.shopify_product_id],
                "num_images": IMAGES_PER_PRODUCT,
                "publish": PublishMode(shop.publish_mode or PublishMode.REVIEW).value,
            })
        except credits.InsufficientCredits as exc:
            reason = f"Not enough credits: {exc}."
        except service.WorkflowRefused as exc:
            reason = f"The shoot was refused: {exc.message}."
        else:
            product.auto_shoot_status = STARTED
            product.auto_shoot_reason = f"Catalog shoot {job.id} started ({job.credits_cost} credits)."
            log.info("auto-shoot started for %s: job %s", product.shopify_product_id, job.id)
            return STARTED
    product.auto_shoot_status = SKIPPED
    product.auto_shoot_reason = reason
    log.info("auto-shoot skipped for %s: %s", product.shopify_product_id, reason)
    return SKIPPED


def _skip_reason(session: Session, shop: Shop, product: Product) -> str | None:
    if not shop.auto_shoot:
        return "Auto-shoot is turned off for this shop."
    if product.deleted_at is not None:
        return "The product was deleted."
    if not product.image_url:
        return "The product has no image to dress the model in."
    if not shop.default_catalog_model_id:
        return "The shop has no default catalog model."
    model = session.get(CatalogModel, shop.default_catalog_model_id)
    if model is None or model.shop_id != shop.id:
        return "The shop's default catalog model no longer exists."
    if model.status != CatalogModelStatus.READY:
        return f"The default catalog model {model.display_name!r} is not ready ({model.status})."
    return None
