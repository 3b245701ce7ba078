"""Read-only console pages: the dashboard, shops and a shop's records, the audit log."""

from __future__ import annotations

from flask import abort, render_template, request
from sqlalchemy import select

from shopify_app import credits, db
from shopify_app.models import (
    ApiClient,
    AuditLog,
    CatalogModel,
    CreditLedger,
    GenerationJob,
    GenerationModel,
    JobStatus,
    Product,
    Shop,
    WebhookDelivery,
)
from shopify_app.support import bp, paging

SECTION_SIZE = 10  # rows per section on the shop page; each section links to its full list


def _cursor() -> str | None:
    return request.args.get("cursor") or None


def get_shop_or_404(shop_id: str) -> Shop:
    shop = db.session().get(Shop, shop_id)
    if shop is None:
        abort(404)
    return shop


@bp.get("/")
def dashboard() -> str:
    session = db.session()
    failed = paging.keyset(
        session,
        select(GenerationJob).where(GenerationJob.status == JobStatus.FAILURE),
        GenerationJob.created_at, GenerationJob.id, None, size=SECTION_SIZE,
    )
    return render_template("support/dashboard.html", failed_jobs=failed.rows)


@bp.get("/shops")
def shops() -> str:
    query = request.args.get("q", "").strip().lower()
    stmt = select(Shop)
    if query:
        if len(query) == 26 and query.isalnum():  # a shop id (ULID)
            stmt = stmt.where((Shop.id == query.upper()) | (Shop.domain == query))
        else:
            # A prefix range on the unique domain index (domains are lowercase ASCII).
            stmt = stmt.where(Shop.domain >= query, Shop.domain < query + "\U0010ffff")
    page = paging.by_key(db.session(), stmt, Shop.domain, _cursor(), descending=False)
    return render_template("support/shops.html", page=page, q=query)


@bp.get("/shops/<shop_id>")
def shop_detail(shop_id: str) -> str:
    session = db.session()
    shop = get_shop_or_404(shop_id)

    def section(stmt, ts, key):  # noqa: ANN001, ANN202 - a short list for one section
        return paging.keyset(session, stmt, ts, key, None, size=SECTION_SIZE)

    return render_template(
        "support/shop.html",
        shop=shop,
        balance=credits.balance(session, shop.id),
        default_model=(session.get(GenerationModel, shop.default_generation_model_id)
                       if shop.default_generation_model_id else None),
        ledger=section(select(CreditLedger).where(CreditLedger.shop_id == shop.id),
                       CreditLedger.created_at, CreditLedger.id),
        catalog_models=section(select(CatalogModel).where(CatalogModel.shop_id == shop.id),
                               CatalogModel.created_at, CatalogModel.id),
        jobs=section(select(GenerationJob).where(GenerationJob.shop_id == shop.id),
                     GenerationJob.created_at, GenerationJob.id),
        deliveries=section(select(WebhookDelivery).where(WebhookDelivery.shop_domain == shop.domain),
                           WebhookDelivery.received_at, WebhookDelivery.id),
        skips=section(_skips_stmt(shop), Product.created_at, Product.id),
        api_clients=session.scalars(
            select(ApiClient).where(ApiClient.shop_id == shop.id).order_by(ApiClient.created_at.desc())
            .limit(50)
        ).all(),
    )


def _skips_stmt(shop: Shop):  # noqa: ANN202
    return select(Product).where(Product.shop_id == shop.id, Product.auto_shoot_status.is_not(None))


@bp.get("/shops/<shop_id>/ledger")
def shop_ledger(shop_id: str) -> str:
    shop = get_shop_or_404(shop_id)
    page = paging.keyset(db.session(), select(CreditLedger).where(CreditLedger.shop_id == shop.id),
                         CreditLedger.created_at, CreditLedger.id, _cursor())
    return render_template("support/ledger.html", shop=shop, page=page,
                           balance=credits.balance(db.session(), shop.id))


@bp.get("/shops/<shop_id>/catalog-models")
def shop_catalog_models(shop_id: str) -> str:
    shop = get_shop_or_404(shop_id)
    page = paging.keyset(db.session(), select(CatalogModel).where(CatalogModel.shop_id == shop.id),
                         CatalogModel.created_at, CatalogModel.id, _cursor())
    return render_template("support/catalog_models.html", shop=shop, page=page)


@bp.get("/shops/<shop_id>/auto-shoot")
def shop_auto_shoot(shop_id: str) -> str:
    shop = get_shop_or_404(shop_id)
    page = paging.keyset(db.session(), _skips_stmt(shop), Product.created_at, Product.id, _cursor())
    return render_template("support/auto_shoot.html", shop=shop, page=page)


@bp.get("/audit")
def audit_log() -> str:
    stmt = select(AuditLog)
    target_type = request.args.get("target_type", "").strip()
    target_id = request.args.get("target_id", "").strip()
    if target_type and target_id:  # the (target_type, target_id) index
        stmt = stmt.where(AuditLog.target_type == target_type, AuditLog.target_id == target_id)
    page = paging.keyset(db.session(), stmt, AuditLog.created_at, AuditLog.id, _cursor())
    return render_template("support/audit.html", page=page, target_type=target_type,
                           target_id=target_id)
