"""Building rows for the embedded UI tests."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from typing import Any

from PIL import Image
from sqlalchemy import select

from shopify_app import credits
from shopify_app.models import (
    Asset,
    AssetKind,
    CatalogModel,
    CatalogModelStatus,
    Gender,
    GenerationJob,
    JobStatus,
    Shop,
    utcnow,
)
from shopify_app.settings import Settings


def install_dev_shop_tokens(session: Any, settings: Settings, extra_credits: int = 0) -> Shop:
    """The seeded dev shop row, given an expiring offline token pair the dev shop issued."""
    from shopify_app.devshop import control

    shop = session.scalar(select(Shop).where(Shop.domain == settings.dev_shop_domain))
    grant = control.mint_token(settings)
    shop.access_token = grant["access_token"]
    shop.access_token_expires_at = utcnow() + dt.timedelta(seconds=grant["expires_in"])
    shop.refresh_token = grant["refresh_token"]
    shop.refresh_token_expires_at = utcnow() + dt.timedelta(seconds=grant["refresh_token_expires_in"])
    shop.scopes = grant["scope"]
    if extra_credits:
        credits.grant(session, shop.id, extra_credits, "test credits")
    session.commit()
    return shop


def installed_shop(session: Any, domain: str, credits_: int = 0) -> Shop:
    """A shop that has installed the app (an offline token that does not expire)."""
    shop = Shop(domain=domain, access_token=f"shpat_{domain[:6]}", scopes="read_products,write_products")
    session.add(shop)
    session.flush()
    if credits_:
        credits.grant(session, shop.id, credits_, "test credits")
    session.commit()
    return shop


def ready_model(session: Any, shop: Shop, name: str = "Amara in Linen", settings: Settings | None = None,
                portrait: bool = False) -> CatalogModel:
    model = CatalogModel(shop_id=shop.id, display_name=name, gender=Gender.FEMALE, ethnicity="East Asian",
                         body_type="Athletic", age_range="25-34", status=CatalogModelStatus.READY, provider="local")
    session.add(model)
    session.flush()
    if portrait and settings is not None:
        image_asset(session, settings, shop, kind=AssetKind.PORTRAIT, catalog_model_id=model.id)
    session.commit()
    return model


def shoot_job(session: Any, shop: Shop, model: CatalogModel | None, product_ids: list[str],
              status: JobStatus = JobStatus.SUCCESS, **fields: Any) -> GenerationJob:
    stage = fields.pop("stage", "done" if status == JobStatus.SUCCESS else "generating")
    progress = fields.pop("progress", 100 if status == JobStatus.SUCCESS else 40)
    job = GenerationJob(
        shop_id=shop.id, workflow="catalog-shoot", status=status, stage=stage, progress=progress,
        inputs={"product_ids": product_ids, "catalog_model_id": model.id if model else None,
                "generation_model": "Preview renderer (built in)", "num_images": 1},
        catalog_model_id=model.id if model else None,
        finished_at=utcnow() if status.terminal else None, **fields,
    )
    session.add(job)
    session.commit()
    return job


def image_asset(session: Any, settings: Settings, shop: Shop, *, job: GenerationJob | None = None,
                product_id: str | None = None, kind: AssetKind = AssetKind.TRY_ON,
                catalog_model_id: str | None = None, color: tuple[int, int, int] = (120, 90, 160),
                size: tuple[int, int] = (200, 300), created_at: dt.datetime | None = None) -> Asset:
    """An asset whose JPEG is really in the media directory."""
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG")
    data = out.getvalue()
    asset = Asset(shop_id=shop.id, job_id=job.id if job else None, catalog_model_id=catalog_model_id, kind=kind,
                  storage_key="pending", sha256=hashlib.sha256(data).hexdigest(), width=size[0], height=size[1],
                  format="jpeg", byte_size=len(data), shopify_product_id=product_id,
                  created_at=created_at or utcnow())
    session.add(asset)
    session.flush()
    asset.storage_key = f"{shop.id}/{kind.value}/{asset.id}/image.jpg"
    path = settings.media_root / asset.storage_key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    session.commit()
    return asset


def fast_preview_renderer(session: Any) -> None:
    """The seeded preview renderer without its pretend latency (tests drain the queues)."""
    from shopify_app.models import GenerationModel

    for model in session.scalars(select(GenerationModel).where(GenerationModel.provider == "local")):
        model.provider_config = {**(model.provider_config or {}), "null_latency": True}
    session.commit()


def populate(session: Any, settings: Settings, shop: Shop, product_gids: list[str], *,
             model_name: str = "Amara in Linen") -> dict[str, Any]:
    """A shop with history: a ready model with a portrait, a finished shoot of the products with
    one image each, a failed (refunded) shoot and one still running."""
    from shopify_app.models import CreditLedger, LedgerKind

    model = ready_model(session, shop, model_name, settings=settings, portrait=True)
    shop.default_catalog_model_id = model.id
    done = shoot_job(session, shop, model, product_gids, stage="review", credits_cost=len(product_gids))
    colors = [(150, 80, 80), (80, 130, 90), (70, 90, 150), (170, 150, 70)]
    assets = [image_asset(session, settings, shop, job=done, product_id=gid, color=colors[i % 4])
              for i, gid in enumerate(product_gids)]
    failed = shoot_job(session, shop, model, product_gids[:1], status=JobStatus.FAILURE,
                       error_code="product_has_no_image", error_message="internal detail",
                       credits_cost=1, credits_refunded=1)
    session.add(CreditLedger(shop_id=shop.id, job_id=failed.id, kind=LedgerKind.REFUND, amount=1, reason="refund"))
    running = shoot_job(session, shop, model, product_gids[:2], status=JobStatus.IN_PROGRESS,
                        stage="shooting", progress=45, credits_cost=2)
    session.commit()
    return {"model": model, "done": done, "failed": failed, "running": running, "assets": assets}
