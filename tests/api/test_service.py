"""`workflows.service.create_job` on its own: model choice, pricing, refusal before any write."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shopify_app import credits
from shopify_app.models import (
    CatalogModel,
    CreditLedger,
    GenerationJob,
    GenerationModel,
    Workflow,
)
from shopify_app.settings import Settings
from shopify_app.workflows import service
from shopify_app.workflows.names import coin_name, coin_unique_name
from tests.api.conftest import SPEC, make_shop, ready_catalog_model


def _model(session: Session, name: str, **kwargs) -> GenerationModel:  # noqa: ANN003
    model = GenerationModel(name=name, provider="local", provider_capabilities=["model_generation", "try_on"], **kwargs)
    session.add(model)
    session.flush()
    return model


def test_model_choice_requested_then_shop_default_then_recommended(app: Flask, session: Session) -> None:
    recommended = _model(session, "Recommended", recommended=True)
    other = _model(session, "Other")
    shop = make_shop(session, "choice.myshopify.com")
    assert service.pick_generation_model(session, shop, None, Workflow.TRY_ON) is recommended
    shop.default_generation_model_id = other.id
    assert service.pick_generation_model(session, shop, None, Workflow.TRY_ON) is other
    assert service.pick_generation_model(session, shop, "RECOMMENDED", Workflow.TRY_ON) is recommended
    assert service.pick_generation_model(session, shop, str(recommended.id), Workflow.TRY_ON) is recommended
    with pytest.raises(service.WorkflowRefused) as refused:
        service.pick_generation_model(session, shop, "nope", Workflow.TRY_ON)
    assert refused.value.field == "image_model" and refused.value.status == 422


def test_a_model_without_the_capability_is_refused(app: Flask, session: Session) -> None:
    _model(session, "Portraits only", recommended=True)
    session.scalar(select(GenerationModel).where(GenerationModel.name == "Portraits only")).provider_capabilities = [
        "model_generation"]
    shop = make_shop(session, "cap.myshopify.com")
    assert service.pick_generation_model(session, shop, None, Workflow.MODEL_GENERATOR).name == "Portraits only"
    with pytest.raises(service.WorkflowRefused, match="does not support try-on"):
        service.pick_generation_model(session, shop, None, Workflow.TRY_ON)


def test_no_generation_model_is_a_503(app: Flask, session: Session) -> None:
    shop = make_shop(session, "empty.myshopify.com")
    with pytest.raises(service.NoGenerationModel) as refused:
        service.create_job(session, shop, "model-generator", SPEC)
    assert refused.value.status == 503


@pytest.mark.parametrize(("workflow", "inputs", "multiplier", "expected"), [
    ("model-generator", {}, 1.0, 4),
    ("try-on", {"num_images": 3}, 1.0, 3),
    ("try-on", {"num_images": 3}, 1.1, 4),  # 3.3 rounds up, and 3 × 1.1 is not 4.000…1 → 5
    ("catalog-shoot", {"product_ids": ["a", "b", "c"], "num_images": 2}, 1.0, 6),
    ("catalog-shoot", {"product_ids": ["a"], "num_images": 1}, 0.0, 0),
    ("try-on", {"num_images": 2}, 2.5, 5),
])
def test_price(app: Flask, session: Session, workflow: str, inputs: dict, multiplier: float, expected: int) -> None:
    settings: Settings = app.config["STUDIO_SETTINGS"]
    model = _model(session, f"m{multiplier}", credit_multiplier=multiplier)
    assert service.price(settings, Workflow(workflow), inputs, model) == expected


def test_insufficient_credits_leaves_the_session_untouched(app: Flask, session: Session) -> None:
    _model(session, "Recommended", recommended=True)
    shop = make_shop(session, "short.myshopify.com", balance=3)
    session.commit()
    with pytest.raises(credits.InsufficientCredits):
        service.create_job(session, shop, "model-generator", SPEC)
    assert not session.new and not session.dirty
    session.commit()
    assert session.scalar(select(func.count(GenerationJob.id))) == 0
    assert session.scalar(select(func.count(CatalogModel.id))) == 0
    assert session.scalar(select(func.count(CreditLedger.id)).where(CreditLedger.job_id.is_not(None))) == 0


def test_create_job_for_try_on_links_model_and_charges(app: Flask, session: Session) -> None:
    _model(session, "Recommended", recommended=True)
    shop = make_shop(session, "ok.myshopify.com", balance=10)
    model = ready_catalog_model(session, shop)
    job = service.create_job(session, shop, "try-on", {"catalog_model_id": model.id, "product_id": "gid://shopify/Product/7",
                                                      "num_images": 2}, request_id="R" * 26)
    session.commit()
    assert job.catalog_model_id == model.id and job.credits_cost == 2 and job.request_id == "R" * 26
    assert credits.balance(session, shop.id) == 8
    assert job.next_step == f"{service.FIRST_STEP_QUEUE}/{service.FIRST_STEP}"


def test_coined_names_are_deterministic_and_gendered() -> None:
    assert coin_name(SPEC) == coin_name(dict(SPEC))
    assert len({coin_name({**SPEC, "seed": seed}) for seed in range(20)}) > 10
    male = coin_name({**SPEC, "gender": "MALE"})
    from shopify_app.workflows.names import FEMININE, MASCULINE

    assert male.split(" in ")[0] in MASCULINE
    assert coin_name(SPEC).split(" in ")[0] in FEMININE
    taken = {coin_name(SPEC, attempt) for attempt in range(8)}
    assert coin_unique_name(SPEC, taken) == f"{coin_name(SPEC)} 2"
