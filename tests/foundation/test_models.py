"""The invariants the database itself holds."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shopify_app import credits
from shopify_app.models import (
    Asset,
    AssetKind,
    CatalogModel,
    CreditLedger,
    Gender,
    GenerationJob,
    LedgerKind,
    Product,
    Shop,
    WebhookDelivery,
)


def make_shop(session: Session, domain: str = "a-shop.myshopify.com") -> Shop:
    shop = Shop(domain=domain, access_token="shpat_0123456789abcdef0123", scopes="read_products")
    session.add(shop)
    session.flush()
    return shop


def test_shop_domain_is_unique(session: Session) -> None:
    make_shop(session)
    session.commit()
    session.add(Shop(domain="a-shop.myshopify.com"))
    with pytest.raises(IntegrityError):
        session.commit()


def test_webhook_id_is_unique(session: Session) -> None:
    for _ in range(2):
        session.add(WebhookDelivery(webhook_id="wh-1", topic="products/create", shop_domain="x"))
    with pytest.raises(IntegrityError):
        session.commit()


def test_one_charge_and_one_refund_per_job(session: Session) -> None:
    shop = make_shop(session)
    credits.grant(session, shop.id, 10, "starter")
    job = GenerationJob(shop_id=shop.id, workflow="try-on")
    session.add(job)
    session.flush()
    credits.charge(session, job, 3)
    session.commit()

    assert credits.refund(session, job) == 3
    assert credits.refund(session, job) == 0  # the second refund is a no-op
    session.commit()
    assert credits.balance(session, shop.id) == 10

    session.add(CreditLedger(shop_id=shop.id, job_id=job.id, kind=LedgerKind.CHARGE, amount=-3))
    with pytest.raises(IntegrityError):
        session.commit()


def test_a_charge_below_zero_is_refused(session: Session) -> None:
    shop = make_shop(session)
    credits.grant(session, shop.id, 2, "starter")
    job = GenerationJob(shop_id=shop.id, workflow="try-on")
    session.add(job)
    session.flush()
    with pytest.raises(credits.InsufficientCredits) as exc:
        credits.charge(session, job, 3)
    assert exc.value.balance == 2


def test_deleting_a_shop_removes_everything_it_owns(session: Session) -> None:
    shop = make_shop(session)
    other = make_shop(session, "b-shop.myshopify.com")
    model = CatalogModel(shop_id=shop.id, gender=Gender.FEMALE, ethnicity="any", body_type="slim",
                         age_range="25-34")
    session.add(model)
    session.flush()
    shop.default_catalog_model_id = model.id
    job = GenerationJob(shop_id=shop.id, workflow="try-on", catalog_model_id=model.id)
    session.add_all([job, Product(shop_id=shop.id, shopify_product_id="gid://shopify/Product/1")])
    session.flush()
    session.add(Asset(shop_id=shop.id, job_id=job.id, kind=AssetKind.TRY_ON, storage_key="k", sha256="0" * 64,
                      width=1, height=1, format="PNG", byte_size=1))
    credits.grant(session, shop.id, 5, "starter")
    credits.grant(session, other.id, 5, "starter")
    session.commit()

    session.delete(shop)
    session.commit()
    for table in ("catalog_models", "generation_jobs", "assets", "products"):
        assert session.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0, table
    remaining = session.scalars(select(CreditLedger.shop_id)).all()
    assert remaining == [other.id]


def test_tokens_are_encrypted_at_rest_and_never_in_repr(session: Session) -> None:
    shop = make_shop(session)
    shop.refresh_token = "shprt_refresh_secret_value_1234"
    session.commit()
    raw = session.execute(text("SELECT access_token, refresh_token FROM shops")).one()
    assert "shpat_" not in raw[0] and "shprt_" not in raw[1]
    session.expire_all()
    loaded = session.scalar(select(Shop))
    assert loaded.access_token == "shpat_0123456789abcdef0123"
    assert "shpat_" not in repr(loaded) and "shprt_" not in repr(loaded)
    assert "a-shop.myshopify.com" in repr(loaded)


def test_datetimes_come_back_in_utc(session: Session) -> None:
    shop = make_shop(session)
    shop.access_token_expires_at = dt.datetime(2030, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    session.commit()
    session.expire_all()
    loaded = session.scalar(select(Shop))
    assert loaded.access_token_expires_at == dt.datetime(2030, 1, 1, 10, tzinfo=dt.UTC)
    with pytest.raises(Exception, match="naive"):
        loaded.installed_at = dt.datetime(2030, 1, 1)
        session.flush()
