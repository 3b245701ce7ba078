"""Fixtures for the workflow engine: the dev shop installed with credits, generation models,
a ready catalog model made through the model-generator workflow, and dev shop products."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shopify_app import credits
from shopify_app.devshop import control
from shopify_app.models import (
    CatalogModel,
    CatalogModelStatus,
    CreditLedger,
    GenerationJob,
    GenerationModel,
    LedgerKind,
    Shop,
)
from shopify_app.settings import Settings
from shopify_app.workflows import service
from tests.support.devshop import install_dev_shop
from tests.support.worker import drain

SPEC = {"gender": "FEMALE", "ethnicity": "East African", "body_type": "athletic", "age_range": "25-34"}
HANDLES = ("linen-camp-shirt", "classic-crew-tee", "wrap-midi-dress")
STARTING_CREDITS = 100


@dataclass
class Studio:
    """The dev shop as a merchant who installed the app, and helpers to run workflows."""

    app: Flask
    session: Session
    settings: Settings
    shop: Shop

    def create(self, workflow: str, **inputs: Any) -> GenerationJob:
        job = service.create_job(self.session, self.shop, workflow, inputs)
        self.session.commit()
        return job

    def run(self) -> None:
        drain(self.app, include_future=True, max_rounds=200)
        self.session.expire_all()

    def job(self, job_id: str) -> GenerationJob:
        self.session.expire_all()
        job = self.session.get(GenerationJob, job_id)
        assert job is not None
        return job

    def balance(self) -> int:
        return credits.balance(self.session, self.shop.id)

    def ledger(self, kind: LedgerKind) -> list[CreditLedger]:
        return list(self.session.scalars(
            select(CreditLedger).where(CreditLedger.shop_id == self.shop.id, CreditLedger.kind == kind)
            .order_by(CreditLedger.id)))

    def product(self, handle: str) -> str:
        row = next(p for p in control.products(self.settings) if p["handle"] == handle)
        return f"gid://shopify/Product/{row['id']}"

    def products(self, handles: tuple[str, ...] = HANDLES) -> list[str]:
        return [self.product(h) for h in handles]

    def our_media(self, product_gid: str) -> list[dict[str, Any]]:
        return [m for m in control.product_media(product_gid, self.settings) if m["by_app"]]

    def children(self, job_id: str) -> list[GenerationJob]:
        """A shoot's products (its try-on jobs; not the push jobs that publish them)."""
        self.session.expire_all()
        return list(self.session.scalars(
            select(GenerationJob).where(GenerationJob.parent_job_id == job_id, GenerationJob.workflow == "try-on")
            .order_by(GenerationJob.shopify_product_id)))

    def refunds(self) -> int:
        return int(self.session.scalar(select(func.count()).select_from(CreditLedger).where(
            CreditLedger.shop_id == self.shop.id, CreditLedger.kind == LedgerKind.REFUND)) or 0)


def local_model(session: Session, name: str = "Preview renderer (built in)", **config: Any) -> GenerationModel:
    model = GenerationModel(
        name=name, provider="local", provider_config={"null_latency": True, **config},
        provider_capabilities=["model_generation", "try_on"], tool_types=["BASE_GENERATION", "TRY_ON"],
        recommended=True,
    )
    session.add(model)
    session.commit()
    return model


@pytest.fixture
def studio(app: Flask, session: Session) -> Studio:
    settings: Settings = app.config["STUDIO_SETTINGS"]
    shop = install_dev_shop(session, settings)
    credits.grant(session, shop.id, STARTING_CREDITS, "test credits", LedgerKind.GRANT)
    session.commit()
    return Studio(app, session, settings, shop)


@pytest.fixture
def preview_model(session: Session) -> GenerationModel:
    return local_model(session)


@pytest.fixture
def ready_model(studio: Studio, preview_model: GenerationModel) -> Callable[..., CatalogModel]:
    """A catalog model made through the model-generator workflow (the local renderer)."""

    def make(**spec: Any) -> CatalogModel:
        job = studio.create("model-generator", **{**SPEC, "display_name": "", **spec})
        studio.run()
        job = studio.job(job.id)
        assert job.status == "SUCCESS", (job.error_code, job.error_message)
        model = studio.session.get(CatalogModel, job.catalog_model_id)
        assert model is not None and model.status == CatalogModelStatus.READY
        return model

    return make
