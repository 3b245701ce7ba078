"""What a fresh install needs: a recommended `local` generation model, and in dev the dev shop."""

from __future__ import annotations

from collections.abc import Iterator

from flask import current_app
from sqlalchemy import select

from shopify_app import credits, db
from shopify_app.models import GenerationModel, LedgerKind, Shop

LOCAL_MODEL_NAME = "Preview renderer (built in)"


def seed_defaults() -> Iterator[str]:
    settings = current_app.config["STUDIO_SETTINGS"]
    session = db.session()
    if session.scalar(select(GenerationModel.id).where(GenerationModel.provider == "local").limit(1)) is None:
        session.add(
            GenerationModel(
                name=LOCAL_MODEL_NAME,
                provider="local",
                provider_config={},
                provider_capabilities=["model_generation", "try_on"],
                tool_types=["BASE_GENERATION", "TRY_ON"],
                recommended=True,
                beta=False,
                max_output_width=4096,
                max_output_height=4096,
                max_size_pixels=16_777_216,
            )
        )
        yield f"seeded generation model: {LOCAL_MODEL_NAME}"
    if settings.dev_shop:
        shop = session.scalar(select(Shop).where(Shop.domain == settings.dev_shop_domain))
        if shop is None:
            shop = Shop(domain=settings.dev_shop_domain, scopes=",".join(settings.shopify_scopes))
            session.add(shop)
            session.flush()
            credits.grant(session, shop.id, settings.starter_credits, "starter credits", LedgerKind.GRANT)
            yield f"seeded dev shop: {settings.dev_shop_domain}"
    session.commit()
