"""Auto-shoot on products/create: started when everything holds, else the reason is recorded."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from shopify_app import credits
from shopify_app.devshop import control
from shopify_app.models import CatalogModelStatus, GenerationJob, LedgerKind, Product, PublishMode
from tests.workflows.conftest import Studio


def _create_product(studio: Studio, handle: str = "linen-camp-shirt") -> str:
    gid = control.create_product(handle, settings=studio.settings)
    status = control.send_webhook("products/create", control.product_payload(gid, studio.settings), app=studio.app)
    assert status == 200
    studio.run()
    return gid


def _product(studio: Studio, gid: str) -> Product:
    studio.session.expire_all()
    product = studio.session.scalar(select(Product).where(Product.shopify_product_id == gid))
    assert product is not None
    return product


def test_a_new_product_is_shot_and_published_when_the_shop_asked(studio: Studio, ready_model) -> None:  # noqa: ANN001
    model = ready_model()
    studio.shop.auto_shoot = True
    studio.shop.publish_mode = PublishMode.DIRECT
    studio.session.commit()

    gid = _create_product(studio)

    product = _product(studio, gid)
    assert product.auto_shoot_status == "started", product.auto_shoot_reason
    shoot = studio.session.scalar(select(GenerationJob).where(GenerationJob.workflow == "catalog-shoot"))
    assert shoot is not None and shoot.status == "SUCCESS", shoot and shoot.error_message
    assert shoot.catalog_model_id == model.id and shoot.inputs["product_ids"] == [gid]
    media = studio.our_media(gid)
    assert len(media) == 1 and media[0]["status"] == "READY"


@pytest.mark.parametrize("situation, reason", [
    ("off", "Auto-shoot is turned off"),
    ("no_default_model", "no default catalog model"),
    ("model_not_ready", "is not ready"),
    ("no_credits", "Not enough credits"),
])
def test_a_skipped_product_records_why(studio: Studio, ready_model, situation: str, reason: str) -> None:  # noqa: ANN001
    model = ready_model()
    studio.shop.auto_shoot = situation != "off"
    if situation == "no_default_model":
        studio.shop.default_catalog_model_id = None
    if situation == "model_not_ready":
        model.status = CatalogModelStatus.TRAINING
    if situation == "no_credits":
        credits.grant(studio.session, studio.shop.id, -studio.balance(), "spend it all", LedgerKind.ADJUSTMENT)
    studio.session.commit()
    jobs_before = len(studio.session.scalars(select(GenerationJob)).all())

    gid = _create_product(studio)

    product = _product(studio, gid)
    assert product.auto_shoot_status == "skipped"
    assert reason in (product.auto_shoot_reason or "")
    assert len(studio.session.scalars(select(GenerationJob)).all()) == jobs_before


def test_a_product_without_an_image_is_skipped(studio: Studio, ready_model) -> None:  # noqa: ANN001
    ready_model()
    studio.shop.auto_shoot = True
    studio.session.commit()
    gid = control.create_product("linen-camp-shirt", settings=studio.settings)
    payload = control.product_payload(gid, studio.settings)
    payload.update(image=None, images=[], media=[])
    assert control.send_webhook("products/create", payload, app=studio.app) == 200
    studio.run()
    product = _product(studio, gid)
    assert product.auto_shoot_status == "skipped"
    assert "no image" in (product.auto_shoot_reason or "")
