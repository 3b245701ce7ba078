"""What each webhook topic does, run by `jobs.webhooks.process_delivery` from a recorded delivery.

Every handler is idempotent: the job may run twice (a lost message re-enqueued, support pressing
"run again"), and running it again leaves the same state as running it once. Each returns the
delivery's outcome and a short note for the support console.
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from shopify_app.models import (
    DeliveryOutcome,
    GenerationJob,
    JobStatus,
    Product,
    Shop,
    WebhookDelivery,
    utcnow,
)
from shopify_app.settings import Settings
from shopify_app.shopify import tokens
from shopify_app.steps import fail_job

log = logging.getLogger(__name__)

AUTOSHOOT_MODULE = "shopify_app.workflows.autoshoot"
PENDING_ENGINE = "pending_engine"


@dataclass(frozen=True)
class Outcome:
    outcome: DeliveryOutcome
    note: str


def processed(note: str) -> Outcome:
    return Outcome(DeliveryOutcome.PROCESSED, note)


def skipped(note: str) -> Outcome:
    return Outcome(DeliveryOutcome.SKIPPED, note)


Handler = Callable[[Session, WebhookDelivery, "Shop | None"], Outcome]
HANDLERS: dict[str, Handler] = {}
COMPLIANCE_TOPICS = ("customers/data_request", "customers/redact", "shop/redact")


def handles(topic: str) -> Callable[[Handler], Handler]:
    def register(func: Handler) -> Handler:
        HANDLERS[topic] = func
        return func

    return register


def _settings() -> Settings:
    return current_app.config["STUDIO_SETTINGS"]


def _payload(delivery: WebhookDelivery) -> dict[str, Any]:
    return delivery.payload if isinstance(delivery.payload, dict) else {}


def _triggered_at(delivery: WebhookDelivery) -> dt.datetime:
    """When Shopify says the event happened (X-Shopify-Triggered-At), else when we received it."""
    if delivery.triggered_at:
        try:
            value = dt.datetime.fromisoformat(delivery.triggered_at.replace("Z", "+00:00"))
            return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        except ValueError:
            pass
    return delivery.received_at


def _reinstalled_since(shop: Shop, delivery: WebhookDelivery) -> bool:
    return shop.installed_at > _triggered_at(delivery)


# --------------------------------------------------------------------------- products


def product_gid(payload: dict[str, Any]) -> str | None:
    gid = payload.get("admin_graphql_api_id")
    if isinstance(gid, str) and gid.startswith("gid://shopify/Product/") and gid[22:].isdigit():
        return gid
    raw = payload.get("id")
    if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
        return f"gid://shopify/Product/{raw}"
    if isinstance(raw, str) and raw.isdigit():
        return f"gid://shopify/Product/{raw}"
    return None


def _image_url(payload: dict[str, Any]) -> str | None:
    image = payload.get("image")
    src = image.get("src") if isinstance(image, dict) else None
    images = payload.get("images")
    if src is None and isinstance(images, list) and images and isinstance(images[0], dict):
        src = images[0].get("src")
    return src.replace("\x00", "") if isinstance(src, str) else None


def _upsert_product(session: Session, shop: Shop, gid: str, payload: dict[str, Any]) -> Product:
    product = session.scalar(
        select(Product).where(Product.shop_id == shop.id, Product.shopify_product_id == gid)
        .with_for_update()
    )
    if product is None:
        product = Product(shop_id=shop.id, shopify_product_id=gid)
        session.add(product)
    title = payload.get("title")
    if isinstance(title, str):
        # PostgreSQL text cannot hold NUL; Shopify titles never need it.
        product.title = title.replace("\x00", "")
    product.image_url = _image_url(payload)
    session.flush()
    return product


def _autoshoot_entry() -> Callable[..., Any] | None:
    try:
        spec = importlib.util.find_spec(AUTOSHOOT_MODULE)
    except ModuleNotFoundError:
        return None
    if spec is None:
        return None
    return importlib.import_module(AUTOSHOOT_MODULE).on_product_created


@handles("products/create")
def products_create(session: Session, delivery: WebhookDelivery, shop: Shop | None) -> Outcome:
    if shop is None or shop.uninstalled_at is not None:
        return skipped("shop not installed")
    gid = product_gid(_payload(delivery))
    if gid is None:
        return skipped("payload has no product id")
    product = _upsert_product(session, shop, gid, _payload(delivery))
    if product.deleted_at is not None:
        return skipped("product was deleted before its create was processed")
    if product.auto_shoot_status not in (None, PENDING_ENGINE):
        # Already handed to the engine (a re-run): the engine's record stands.
        return processed(f"product recorded; auto-shoot already {product.auto_shoot_status}")
    entry = _autoshoot_entry()
    if entry is None:
        product.auto_shoot_status = PENDING_ENGINE
        product.auto_shoot_reason = "the workflow engine's auto-shoot is not available"
        return processed("product recorded; auto-shoot engine not available")
    entry(session, shop, product)
    return processed(f"product recorded; auto-shoot {product.auto_shoot_status or 'handed over'}")


@handles("products/update")
def products_update(session: Session, delivery: WebhookDelivery, shop: Shop | None) -> Outcome:
    if shop is None or shop.uninstalled_at is not None:
        return skipped("shop not installed")
    gid = product_gid(_payload(delivery))
    if gid is None:
        return skipped("payload has no product id")
    product = _upsert_product(session, shop, gid, _payload(delivery))
    if product.deleted_at is not None:
        return skipped("product is deleted")
    return processed("product updated")


@handles("products/delete")
def products_delete(session: Session, delivery: WebhookDelivery, shop: Shop | None) -> Outcome:
    if shop is None:
        return skipped("unknown shop")
    payload = _payload(delivery)
    gid = product_gid(payload)
    if gid is None:
        return skipped("payload has no product id")
    product = session.scalar(
        select(Product).where(Product.shop_id == shop.id, Product.shopify_product_id == gid)
        .with_for_update()
    )
    if product is None:
        # A tombstone, so a late products/create for it does not start an auto-shoot.
        product = Product(shop_id=shop.id, shopify_product_id=gid)
        session.add(product)
    if product.deleted_at is None:
        product.deleted_at = _triggered_at(delivery)
    numeric = gid.rsplit("/", 1)[-1]
    cancelled = _fail_pending_jobs(
        session, shop, "product_deleted", "The product was deleted in Shopify.",
        GenerationJob.shopify_product_id.in_((gid, numeric)),
    )
    return processed(f"product marked deleted; {cancelled} pending job(s) cancelled")


def _fail_pending_jobs(session: Session, shop: Shop, code: str, message: str, *where: Any) -> int:
    jobs = session.scalars(
        select(GenerationJob)
        .where(
            GenerationJob.shop_id == shop.id,
            GenerationJob.status.in_((JobStatus.NOT_STARTED, JobStatus.IN_PROGRESS)),
            *where,
        )
        .order_by(GenerationJob.id)
        .with_for_update()
    ).all()
    for job in jobs:
        job.cancel_requested = True
        fail_job(session, job, code, message)  # refunds what the job was charged, once
    session.flush()
    return len(jobs)


# --------------------------------------------------------------------------- app lifecycle


@handles("app/uninstalled")
def app_uninstalled(session: Session, delivery: WebhookDelivery, shop: Shop | None) -> Outcome:
    if shop is None:
        return skipped("unknown shop")
    shop = session.scalar(select(Shop).where(Shop.id == shop.id).with_for_update()) or shop
    if _reinstalled_since(shop, delivery):
        return skipped("the shop re-installed after this uninstall")
    tokens.clear_tokens(shop)
    if shop.uninstalled_at is None:
        shop.uninstalled_at = _triggered_at(delivery)
    stopped = _fail_pending_jobs(session, shop, "app_uninstalled",
                                 "Catalog Studio was uninstalled from the shop.")
    log.info("shop uninstalled: %s (%s pending jobs stopped)", shop.domain, stopped)
    return processed(f"tokens wiped; {stopped} pending job(s) stopped and refunded")


@handles("app/scopes_update")
def app_scopes_update(session: Session, delivery: WebhookDelivery, shop: Shop | None) -> Outcome:
    if shop is None:
        return skipped("unknown shop")
    current = _payload(delivery).get("current")
    if not isinstance(current, list) or not all(isinstance(s, str) for s in current):
        return skipped("payload has no current scopes")
    shop.scopes = ",".join(sorted(set(current)))
    return processed("scopes now " + (shop.scopes or "(none)"))


# --------------------------------------------------------------------------- compliance


@handles("customers/data_request")
def customers_data_request(session: Session, delivery: WebhookDelivery, shop: Shop | None) -> Outcome:
    # We hold no customer data (docs/compliance.md): there is nothing to report to the merchant.
    # The delivery row itself is the record that the request was received and answered.
    return processed("no customer data held; nothing to report")


@handles("customers/redact")
def customers_redact(session: Session, delivery: WebhookDelivery, shop: Shop | None) -> Outcome:
    # No customer data is held, so there is nothing to erase. Drop the payload (it names the
    # customer) from our own record of the request.
    delivery.payload = None
    return processed("no customer data held; nothing to erase")


@handles("shop/redact")
def shop_redact(session: Session, delivery: WebhookDelivery, shop: Shop | None) -> Outcome:
    """Delete everything we hold for the shop: its row (cascades remove products, catalog
    models, assets, jobs, ledger, logs), its image files, and its webhook deliveries. This
    delivery stays, without payload or shop link, as the record that the redaction was done."""
    domain = delivery.shop_domain
    if shop is not None:
        shop = session.scalar(select(Shop).where(Shop.id == shop.id).with_for_update()) or shop
        if shop.uninstalled_at is None and _reinstalled_since(shop, delivery):
            return skipped("the shop re-installed after this redaction request")
    delivery.payload = None
    delivery.shop_id = None
    session.flush()
    session.execute(
        delete(WebhookDelivery).where(
            WebhookDelivery.id != delivery.id,
            or_(WebhookDelivery.shop_domain == domain,
                WebhookDelivery.shop_id == (shop.id if shop is not None else None)),
        )
    )
    removed_files = False
    if shop is not None:
        shop_id = shop.id
        session.delete(shop)
        session.flush()
        removed_files = remove_shop_files(_settings(), shop_id)
    log.info("shop redacted: %s", domain)
    return processed("shop data deleted" + (" with its image files" if removed_files else ""))


def remove_shop_files(settings: Settings, shop_id: str) -> bool:
    """Delete `media_root/<shop id>/`; True when something was there. Idempotent."""
    root = Path(settings.media_root).resolve()
    target = (root / shop_id).resolve()
    if target.parent != root:  # a shop id is a ULID; anything else must not steer the delete
        raise ValueError(f"refusing to delete outside the media root: {target}")
    if not target.exists():
        return False
    shutil.rmtree(target)
    return True


__all__ = ["COMPLIANCE_TOPICS", "HANDLERS", "Outcome", "product_gid", "remove_shop_files"]
