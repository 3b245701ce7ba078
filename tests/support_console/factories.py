"""Rows a support case is made of: a shop with jobs, provider attempts, images, deliveries."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from pathlib import Path

from flask import current_app
from PIL import Image

from shopify_app import credits, db
from shopify_app.models import (
    ApiClient,
    Asset,
    AssetKind,
    GenerationJob,
    JobStatus,
    Product,
    ProviderTask,
    ProviderTaskStatus,
    Shop,
    WebhookDelivery,
    utcnow,
)
from shopify_app.steps import fail_job

SHOP_DOMAIN = "acme-apparel.myshopify.com"
ACCESS_TOKEN = "shpat_0123456789abcdef0123456789abcdef"
FAILED_STEP = "generation/jobs.generation:run_try_on"


def make_shop(domain: str = SHOP_DOMAIN, balance: int = 20) -> Shop:
    session = db.session()
    shop = Shop(domain=domain, access_token=ACCESS_TOKEN, scopes="read_products,write_products",
                access_token_expires_at=utcnow() + dt.timedelta(hours=1))
    session.add(shop)
    session.flush()
    if balance:
        credits.grant(session, shop.id, balance, "starter credits")
    session.commit()
    return shop


def make_failed_job(shop: Shop, cost: int = 2) -> GenerationJob:
    """A try-on job whose primary provider failed technically, whose fallback failed too, and
    which was failed and refunded (as the runner would)."""
    session = db.session()
    job = GenerationJob(shop_id=shop.id, workflow="try-on", status=JobStatus.IN_PROGRESS,
                        stage="generating", inputs={"product_id": "gid://shopify/Product/1"},
                        started_at=utcnow(), next_step=FAILED_STEP, rq_job_id="old-rq-id")
    session.add(job)
    session.flush()
    credits.charge(session, job, cost)
    session.add_all([
        ProviderTask(job_id=job.id, provider="fal_standard", role="primary", operation="try-on",
                     upstream_id="req-123", status=ProviderTaskStatus.FAILED, attempt=3,
                     request_summary={"url": "https://queue.fal.run/fal-ai/fashn",
                                      "headers": {"Authorization": "Key fal-secret-0123456789"}},
                     response_summary={"status": 503, "body": "upstream unavailable"},
                     error_kind="technical", error_message="503 from upstream", finished_at=utcnow()),
        ProviderTask(job_id=job.id, provider="local", role="fallback", operation="try-on",
                     status=ProviderTaskStatus.FAILED, attempt=1,
                     request_summary={"seed": 7}, response_summary={},
                     error_kind="technical", error_message="renderer crashed", finished_at=utcnow()),
    ])
    fail_job(session, job, "provider_failed", "the provider and its fallback failed")
    session.commit()
    return job


def make_running_job(shop: Shop, cost: int = 1) -> GenerationJob:
    session = db.session()
    job = GenerationJob(shop_id=shop.id, workflow="try-on", status=JobStatus.IN_PROGRESS,
                        stage="generating", next_step=FAILED_STEP, rq_job_id="running-rq-id")
    session.add(job)
    session.flush()
    credits.charge(session, job, cost)
    session.commit()
    return job


def png_bytes(size: tuple[int, int] = (32, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 180, 160)).save(buffer, "PNG")
    return buffer.getvalue()


def make_asset(job: GenerationJob, media_id: str | None = "gid://shopify/MediaImage/77") -> Asset:
    data = png_bytes()
    key = f"shops/{job.shop_id}/jobs/{job.id}/out.png"
    path = Path(current_app.config["STUDIO_SETTINGS"].media_root) / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    asset = Asset(shop_id=job.shop_id, job_id=job.id, kind=AssetKind.TRY_ON, storage_key=key,
                  sha256=hashlib.sha256(data).hexdigest(), width=32, height=48, format="png",
                  byte_size=len(data), shopify_media_id=media_id)
    db.session().add(asset)
    db.session().commit()
    return asset


def make_delivery(shop: Shop, webhook_id: str = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
                  topic: str = "products/create") -> WebhookDelivery:
    delivery = WebhookDelivery(webhook_id=webhook_id, topic=topic, shop_domain=shop.domain,
                               shop_id=shop.id, api_version="2026-10",
                               payload={"id": 1, "title": "Linen shirt"})
    db.session().add(delivery)
    db.session().commit()
    return delivery


def make_api_client(shop: Shop) -> ApiClient:
    client = ApiClient(shop_id=shop.id, name="PIM sync", key_prefix="cs_live_abcd",
                       key_hash=hashlib.sha256(b"k").hexdigest())
    db.session().add(client)
    db.session().commit()
    return client


def make_skipped_product(shop: Shop) -> Product:
    product = Product(shop_id=shop.id, shopify_product_id="gid://shopify/Product/9", title="Gift card",
                      auto_shoot_status="skipped", auto_shoot_reason="no product image")
    db.session().add(product)
    db.session().commit()
    return product

