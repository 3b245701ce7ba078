"""Install → products/create → work enqueued, end to end against the dev shop.

No mocks: the session token is minted for the dev shop and verified as any other, the token
exchange is answered by the dev shop's OAuth endpoint (in-process, through the transport), and
the signed webhook is sent by the dev shop to the app's `/webhooks`."""

from __future__ import annotations

import importlib.util

from rq import SimpleWorker
from sqlalchemy import select

from jobs.runtime import bind_app
from shopify_app import seed
from shopify_app.devshop import control
from shopify_app.models import (
    CatalogModel,
    CatalogModelStatus,
    DeliveryOutcome,
    Gender,
    GenerationJob,
    Product,
    Shop,
    WebhookDelivery,
)
from shopify_app.queues import get_broker
from shopify_app.shopify.session_tokens import mint_session_token
from tests.webhooks.conftest import queued_webhook_jobs


def _engine_present() -> bool:
    try:
        return importlib.util.find_spec("shopify_app.workflows.autoshoot") is not None
    except ModuleNotFoundError:
        return False


def test_install_then_products_create_enqueues_work(app, client, settings, session) -> None:
    list(seed.seed_defaults())  # as `make run` does: the local generation model, the dev shop row
    token = mint_session_token(settings, settings.dev_shop_domain)
    response = client.get("/app/api/session", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.json
    shop = session.scalar(select(Shop).where(Shop.domain == settings.dev_shop_domain))
    assert shop.access_token and shop.refresh_token and shop.access_token_expires_at
    if _engine_present():
        # The merchant has turned auto-shoot on with a ready default catalog model.
        model = CatalogModel(shop_id=shop.id, display_name="Ines", gender=Gender.FEMALE,
                             ethnicity="Mediterranean", body_type="athletic", age_range="25-34",
                             status=CatalogModelStatus.READY)
        session.add(model)
        session.flush()
        shop.auto_shoot = True
        shop.default_catalog_model_id = model.id
        session.commit()

    product_gid = control.create_product("linen-camp-shirt", settings=settings)
    # The dev shop signs the delivery exactly as Shopify would; it is posted like any other.
    body, headers = control.webhook_request("products/create",
                                            control.product_payload(product_gid, settings), settings)
    assert client.post("/webhooks", data=body, headers=headers).status_code == 200
    [job] = queued_webhook_jobs(app)
    assert job.func_name == "jobs.webhooks.process_delivery"

    bind_app(app)
    broker = get_broker(app)
    SimpleWorker([broker.queue("webhooks")], connection=broker.redis).work(burst=True)

    session.expire_all()
    delivery = session.scalar(select(WebhookDelivery))
    assert delivery.outcome == DeliveryOutcome.PROCESSED, delivery.note
    product = session.scalar(select(Product).where(Product.shopify_product_id == product_gid))
    assert product is not None and product.shop_id == shop.id
    assert product.title.startswith("Linen Camp Shirt")
    if _engine_present():
        assert product.auto_shoot_status == "started", product.auto_shoot_reason
        job = session.scalar(select(GenerationJob).where(GenerationJob.shop_id == shop.id))
        assert job is not None and job.next_step
        queue_name = job.next_step.partition("/")[0]
        assert job.rq_job_id in broker.queue(queue_name).get_job_ids()  # work enqueued
    else:
        assert product.auto_shoot_status == "pending_engine"
