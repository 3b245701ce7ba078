"""Helpers for tests that run against the dev shop: an installed shop with a real dev-shop token,
assets with image files, and a publishing job."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from typing import Any

from flask import Flask
from PIL import Image

from shopify_app.devshop import control
from shopify_app.models import Asset, AssetKind, GenerationJob, JobStatus, Shop, utcnow
from shopify_app.settings import Settings


def install_dev_shop(session: Any, settings: Settings) -> Shop:
    """The dev shop installed with an expiring offline token the dev shop really issued."""
    grant = control.mint_token(settings)
    shop = Shop(
        domain=settings.dev_shop_domain,
        access_token=grant["access_token"],
        access_token_expires_at=utcnow() + dt.timedelta(seconds=grant["expires_in"]),
        refresh_token=grant["refresh_token"],
        refresh_token_expires_at=utcnow() + dt.timedelta(seconds=grant["refresh_token_expires_in"]),
        scopes=grant["scope"],
    )
    session.add(shop)
    session.commit()
    return shop


def publishing_job(session: Any, shop: Shop, workflow: str = "push-media") -> GenerationJob:
    job = GenerationJob(shop_id=shop.id, workflow=workflow, status=JobStatus.IN_PROGRESS, stage="started")
    session.add(job)
    session.commit()
    return job


def make_asset(session: Any, settings: Settings, shop: Shop, product_gid: str, *, alt: str = "",
               variant_gid: str | None = None, color: tuple[int, int, int] = (180, 60, 60),
               size: tuple[int, int] = (600, 750), fmt: str = "jpeg") -> Asset:
    """A try-on result asset whose image file is in the media directory."""
    image = Image.new("RGB", size, color)
    out = io.BytesIO()
    image.save(out, "JPEG" if fmt == "jpeg" else fmt.upper())
    data = out.getvalue()
    asset = Asset(shop_id=shop.id, kind=AssetKind.TRY_ON, storage_key="pending", sha256=hashlib.sha256(data).hexdigest(),
                  width=size[0], height=size[1], format=fmt, byte_size=len(data), alt_text=alt,
                  shopify_product_id=product_gid, shopify_variant_id=variant_gid)
    session.add(asset)
    session.flush()
    asset.storage_key = f"{shop.id}/try_on/{asset.id}/image.{'jpg' if fmt == 'jpeg' else fmt}"
    path = settings.media_root / asset.storage_key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    session.commit()
    return asset


def first_product(app: Flask, handle: str = "linen-camp-shirt") -> str:
    """The gid of a seeded dev shop product."""
    row = next(p for p in control.products(app.config["STUDIO_SETTINGS"]) if p["handle"] == handle)
    return f"gid://shopify/Product/{row['id']}"


def graphql_calls(settings: Settings, root_field: str | None = None, outcome: str | None = "ok") -> list[dict[str, Any]]:
    """Dev shop GraphQL calls, optionally only those touching `root_field` / with `outcome`."""
    return [c for c in control.calls(settings)
            if (root_field is None or root_field in c["root_fields"])
            and (outcome is None or c["outcome"] == outcome)]
