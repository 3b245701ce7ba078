"""Seed 000's contract: fields, required fields, defaults, enums, the 202 and 422 shapes."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from shopify_app.models import CatalogModel, CreditLedger, GenerationJob, JobStatus, LedgerKind, RequestLog
from shopify_app.workflows.names import coin_name
from tests.api.conftest import SPEC, ApiUser, ready_catalog_model

ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def test_model_generator_answers_202_with_the_seed_shape(user: ApiUser, session: Session) -> None:
    response = user.post("/v1/model-generator", SPEC)

    assert response.status_code == 202, response.json
    body = response.json
    assert set(body) == {"request_id", "job_id", "status", "credits_cost"}
    assert ULID.match(body["request_id"])
    assert body["request_id"] == response.headers["X-Request-Id"]
    assert ULID.match(body["job_id"])
    assert body["status"] == "NOT_STARTED"
    assert body["credits_cost"] == 4  # DEFAULT_CREDIT_PRICES["model-generator"]
    assert response.headers["Location"] == f"/v1/jobs/{body['job_id']}"

    session.expire_all()
    job = session.get(GenerationJob, body["job_id"])
    assert job is not None and job.shop_id == user.shop.id
    assert job.request_id == body["request_id"]
    assert job.status == JobStatus.NOT_STARTED
    assert job.next_step == "generation/jobs.workflows:start"
    log = session.get(RequestLog, body["request_id"])
    assert log is not None and log.status_code == 202 and log.job_id == job.id
    assert log.response_body == body


def test_model_generator_defaults_and_catalog_model_row(user: ApiUser, session: Session) -> None:
    body = user.post("/v1/model-generator", SPEC).json
    job = session.get(GenerationJob, body["job_id"])
    assert job is not None
    inputs = job.inputs
    # Seed 000 defaults (null / "" / {}), then the resolved engine defaults.
    for name in ("image_model", "resolution", "aspect_ratio", "seed", "pilot_brand"):
        assert inputs[name] is None, name
    assert inputs["metadata"] == {}
    assert inputs["on_technical_failure"] == "fallback"
    assert inputs["eval_enabled"] is True
    assert inputs["generation_model"] == "Preview renderer (built in)"

    model = session.get(CatalogModel, job.catalog_model_id)
    assert model is not None and model.shop_id == user.shop.id
    assert model.display_name == coin_name(SPEC) == inputs["display_name"]
    assert re.match(r"^[A-Z][a-z]+ in [A-Z][\w\u00e9]+$", model.display_name)
    assert model.gender == "FEMALE" and model.status == "pending"


def test_display_name_is_kept_and_coined_names_do_not_repeat(user: ApiUser, session: Session) -> None:
    named = user.post("/v1/model-generator", {**SPEC, "display_name": "Spring Muse"}).json
    first = user.post("/v1/model-generator", SPEC).json
    second = user.post("/v1/model-generator", SPEC).json
    names = [
        session.get(CatalogModel, session.get(GenerationJob, b["job_id"]).catalog_model_id).display_name
        for b in (named, first, second)
    ]
    assert names[0] == "Spring Muse"
    assert names[1] == coin_name(SPEC)
    assert names[2] != names[1] and " in " in names[2]


@pytest.mark.parametrize("field", ["gender", "ethnicity", "body_type", "age_range"])
def test_required_fields_answer_422_in_fastapi_shape(user: ApiUser, session: Session, field: str) -> None:
    body = {k: v for k, v in SPEC.items() if k != field}
    response = user.post("/v1/model-generator", body)

    assert response.status_code == 422
    assert response.json == {"detail": [{"loc": ["body", field], "msg": "Field required", "type": "missing"}]}
    assert session.scalar(select(GenerationJob.id)) is None


def test_gender_enum_and_types(user: ApiUser) -> None:
    response = user.post("/v1/model-generator", {**SPEC, "gender": "OTHER", "seed": "abc", "eval_enabled": "maybe"})

    assert response.status_code == 422
    errors = {tuple(e["loc"]): e for e in response.json["detail"]}
    assert errors[("body", "gender")]["type"] == "enum"
    assert "MALE" in errors[("body", "gender")]["msg"] and "FEMALE" in errors[("body", "gender")]["msg"]
    assert errors[("body", "seed")]["type"] == "int_parsing"
    assert errors[("body", "eval_enabled")]["type"] == "bool_parsing"
    for error in response.json["detail"]:
        assert set(error) == {"loc", "msg", "type"}


def test_on_technical_failure_values(user: ApiUser) -> None:
    assert user.post("/v1/model-generator", {**SPEC, "on_technical_failure": "retry"}).status_code == 202
    bad = user.post("/v1/model-generator", {**SPEC, "on_technical_failure": "explode"})
    assert bad.status_code == 422
    assert bad.json["detail"][0]["loc"] == ["body", "on_technical_failure"]


def test_invalid_json_and_empty_body(user: ApiUser) -> None:
    broken = user.client.post("/v1/model-generator", data=b'{"gender": ', headers={
        **user.headers(), "Content-Type": "application/json"})
    assert broken.status_code == 422
    assert broken.json["detail"][0]["type"] == "json_invalid"
    assert broken.json["detail"][0]["loc"][0] == "body"

    empty = user.client.post("/v1/model-generator", data=b"", headers=user.headers())
    assert empty.status_code == 422
    assert empty.json == {"detail": [{"loc": ["body"], "msg": "Field required", "type": "missing"}]}

    not_object = user.post("/v1/model-generator", [1, 2])
    assert not_object.status_code == 422
    assert not_object.json["detail"][0]["loc"] == ["body"]


def test_overlong_strings_are_422_not_database_errors(user: ApiUser) -> None:
    response = user.post("/v1/model-generator", {**SPEC, "ethnicity": "x" * 81, "display_name": "y" * 121})
    assert response.status_code == 422
    assert {tuple(e["loc"]) for e in response.json["detail"]} == {("body", "ethnicity"), ("body", "display_name")}


def test_unknown_image_model_is_422_on_the_field(user: ApiUser) -> None:
    response = user.post("/v1/model-generator", {**SPEC, "image_model": "no-such-model"})
    assert response.status_code == 422
    assert response.json["detail"][0]["loc"] == ["body", "image_model"]


def test_image_model_by_name_and_multiplier_prices(user: ApiUser, session: Session) -> None:
    from shopify_app.models import GenerationModel

    session.add(GenerationModel(name="Premium", provider="local", provider_capabilities=["model_generation", "try_on"],
                                credit_multiplier=2.5))
    session.commit()
    body = user.post("/v1/model-generator", {**SPEC, "image_model": "premium"}).json
    assert body["credits_cost"] == 10  # 4 × 2.5


def test_try_on_prices_per_image_and_needs_one_garment(user: ApiUser, session: Session) -> None:
    model = ready_catalog_model(session, user.shop)
    ok = user.post("/v1/try-on", {"catalog_model_id": model.id, "product_id": 123, "num_images": 3})
    assert ok.status_code == 202, ok.json
    assert ok.json["credits_cost"] == 3
    job = session.get(GenerationJob, ok.json["job_id"])
    assert job.shopify_product_id == "gid://shopify/Product/123"
    assert job.catalog_model_id == model.id

    both = user.post("/v1/try-on", {"catalog_model_id": model.id, "product_id": "1",
                                    "garment_image_url": "https://cdn.example.com/a.png"})
    neither = user.post("/v1/try-on", {"catalog_model_id": model.id})
    assert both.status_code == neither.status_code == 422
    assert both.json["detail"][0]["loc"] == ["body"]

    too_many = user.post("/v1/try-on", {"catalog_model_id": model.id, "product_id": "1", "num_images": 5})
    assert too_many.status_code == 422 and too_many.json["detail"][0]["loc"] == ["body", "num_images"]
    bad_url = user.post("/v1/try-on", {"catalog_model_id": model.id, "garment_image_url": "ftp://x/y.png"})
    assert bad_url.status_code == 422 and bad_url.json["detail"][0]["loc"] == ["body", "garment_image_url"]


def test_catalog_shoot_prices_products_and_defaults_to_review(user: ApiUser, session: Session) -> None:
    model = ready_catalog_model(session, user.shop)
    response = user.post("/v1/catalog-shoot", {
        "catalog_model_id": model.id, "product_ids": ["gid://shopify/Product/1", "2", 3], "num_images": 2})
    assert response.status_code == 202, response.json
    assert response.json["credits_cost"] == 6
    job = session.get(GenerationJob, response.json["job_id"])
    assert job.inputs["publish"] == "review"
    assert job.inputs["product_ids"] == [f"gid://shopify/Product/{n}" for n in (1, 2, 3)]

    direct = user.post("/v1/catalog-shoot", {"catalog_model_id": model.id, "product_ids": ["9"], "publish": "direct"})
    assert direct.status_code == 202
    assert session.get(GenerationJob, direct.json["job_id"]).inputs["publish"] == "direct"

    repeated = user.post("/v1/catalog-shoot", {"catalog_model_id": model.id, "product_ids": ["1", "gid://shopify/Product/1"]})
    assert repeated.status_code == 422
    bad_publish = user.post("/v1/catalog-shoot", {"catalog_model_id": model.id, "product_ids": ["1"], "publish": "now"})
    assert bad_publish.status_code == 422 and bad_publish.json["detail"][0]["loc"] == ["body", "publish"]
    empty = user.post("/v1/catalog-shoot", {"catalog_model_id": model.id, "product_ids": []})
    assert empty.status_code == 422


def test_catalog_model_must_be_ready(user: ApiUser, session: Session) -> None:
    generating = user.post("/v1/model-generator", SPEC).json
    model_id = session.get(GenerationJob, generating["job_id"]).catalog_model_id
    response = user.post("/v1/try-on", {"catalog_model_id": model_id, "product_id": "1"})
    assert response.status_code == 409
    assert "not ready" in response.json["detail"]


def test_charge_is_in_the_same_transaction_as_the_job(user: ApiUser, session: Session) -> None:
    body = user.post("/v1/model-generator", SPEC).json
    charge = session.scalar(select(CreditLedger).where(CreditLedger.job_id == body["job_id"]))
    assert charge is not None and charge.kind == LedgerKind.CHARGE and charge.amount == -4


def test_oversized_bodies_are_413(user: ApiUser, session: Session) -> None:
    response = user.post("/v1/model-generator", {**SPEC, "metadata": {"blob": "x" * 300_000}})
    assert response.status_code == 413
    assert session.scalar(select(GenerationJob.id)) is None


def test_metadata_is_capped(user: ApiUser) -> None:
    response = user.post("/v1/model-generator", {**SPEC, "metadata": {"blob": "x" * 20_000}})
    assert response.status_code == 422 and response.json["detail"][0]["loc"] == ["body", "metadata"]
