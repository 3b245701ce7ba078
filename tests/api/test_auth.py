"""Authentication: Bearer API keys (hashed, prefix lookup, disabled refused) and Shopify Flow HMAC."""

from __future__ import annotations

import datetime as dt
import hashlib

from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from shopify_app.api import keys
from shopify_app.api.flow import FLOW_CLIENT_NAME
from shopify_app.models import ApiClient, GenerationJob, RequestLog, utcnow
from tests.api.conftest import SPEC, ApiUser, flow_body, flow_signature, ready_catalog_model
from tests.conftest import PREVIOUS_SECRET


def test_missing_credentials_is_401_with_a_challenge(client: FlaskClient, user: ApiUser) -> None:
    response = client.post("/v1/model-generator", json=SPEC)
    assert response.status_code == 401
    assert "Authorization: Bearer" in response.json["detail"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert len(response.headers["X-Request-Id"]) == 26


def test_bad_keys_are_401(client: FlaskClient, user: ApiUser) -> None:
    prefix_right_secret_wrong = user.key[:17] + "A" * 43
    for value in ("Bearer nope", "Basic abc", "Bearer ", f"Bearer {prefix_right_secret_wrong}", user.key):
        response = client.get("/v1/catalog-models", headers={"Authorization": value})
        assert response.status_code == 401, value
        assert response.json["detail"]


def test_key_is_stored_only_as_a_hash(user: ApiUser, session: Session) -> None:
    row = session.get(ApiClient, user.api_client.id)
    assert row.key_hash == hashlib.sha256(user.key.encode()).hexdigest()
    assert user.key.split("_")[1] == row.key_prefix
    assert user.key not in repr(row)


def test_disabled_key_is_refused(user: ApiUser, session: Session) -> None:
    row = session.get(ApiClient, user.api_client.id)
    row.disabled_at = utcnow()
    session.commit()
    response = user.get("/v1/catalog-models")
    assert response.status_code == 401
    assert "disabled" in response.json["detail"]


def test_uninstalled_shop_is_403(user: ApiUser, session: Session) -> None:
    user.shop.uninstalled_at = utcnow()
    session.merge(user.shop)
    session.commit()
    assert user.get("/v1/catalog-models").status_code == 403


def test_last_used_at_is_written_at_most_once_a_minute(user: ApiUser, session: Session) -> None:
    assert user.get("/v1/catalog-models").status_code == 200
    session.expire_all()
    first = session.get(ApiClient, user.api_client.id).last_used_at
    assert first is not None
    assert user.get("/v1/catalog-models").status_code == 200
    session.expire_all()
    assert session.get(ApiClient, user.api_client.id).last_used_at == first

    client = session.get(ApiClient, user.api_client.id)
    later = first + keys.LAST_USED_RESOLUTION + dt.timedelta(seconds=1)
    keys.touch(client, now=later)
    assert client.last_used_at == later


def test_create_api_key_command_prints_a_working_key_once(app: Flask, user: ApiUser, session: Session) -> None:
    runner = app.test_cli_runner()
    result: Result = runner.invoke(args=["studio", "create-api-key", "--shop", user.shop.domain, "--name", "ERP"])
    assert result.exit_code == 0, result.output
    key = next(line for line in result.output.splitlines() if line.startswith("csk_"))
    row = session.scalar(select(ApiClient).where(ApiClient.name == "ERP"))
    assert row is not None and row.key_hash == keys.hash_key(key)
    response = user.client.get("/v1/catalog-models", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200

    missing = runner.invoke(args=["studio", "create-api-key", "--shop", "nobody.myshopify.com"])
    assert missing.exit_code != 0 and "nobody.myshopify.com" in missing.output


# ----------------------------------------------------------------------------- Shopify Flow


def _flow_post(client: FlaskClient, path: str, body: bytes, signature: str, **headers: str):  # noqa: ANN202
    return client.post(path, data=body, headers={
        "Content-Type": "application/json", "X-Shopify-Hmac-Sha256": signature, **headers})


def test_flow_action_with_a_valid_signature_starts_the_workflow(
    client: FlaskClient, user: ApiUser, session: Session
) -> None:
    model = ready_catalog_model(session, user.shop)
    body = flow_body(user.shop.domain, {"catalog_model_id": model.id, "product_id": 987654})
    response = _flow_post(client, "/v1/catalog-shoot", body, flow_signature(body))

    # 200, not 202: Flow re-sends actions answered 202.
    assert response.status_code == 200, response.json
    assert response.json["status"] == "NOT_STARTED" and response.json["credits_cost"] == 1
    job = session.get(GenerationJob, response.json["job_id"])
    assert job.shop_id == user.shop.id
    assert job.inputs["product_ids"] == ["gid://shopify/Product/987654"]
    flow_client = session.get(ApiClient, job.api_client_id)
    assert flow_client.name == FLOW_CLIENT_NAME and flow_client.shop_id == user.shop.id
    log = session.get(RequestLog, response.json["request_id"])
    assert log.auth_kind == "flow" and log.idempotency_key.startswith("flow:")


def test_flow_signed_with_the_previous_secret_is_accepted(client: FlaskClient, user: ApiUser) -> None:
    body = flow_body(user.shop.domain, SPEC)
    response = _flow_post(client, "/v1/model-generator", body, flow_signature(body, PREVIOUS_SECRET))
    assert response.status_code == 200


def test_flow_bad_signature_is_401_and_creates_nothing(client: FlaskClient, user: ApiUser, session: Session) -> None:
    body = flow_body(user.shop.domain, SPEC)
    altered = body.replace(b"athletic", b"petite")
    attempts = [
        (body, flow_signature(body, "wrong-secret")),  # signed with another app's secret
        (altered, flow_signature(body)),  # signed, then changed in transit
        (body, "w7K" + "é" * 10),  # not even ASCII
    ]
    for data, signature in attempts:
        response = client.post("/v1/model-generator", data=data, headers={
            "Content-Type": "application/json",
            "X-Shopify-Hmac-Sha256": signature.encode().decode("latin-1")})
        assert response.status_code == 401, signature
        assert "X-Shopify-Hmac-Sha256" in response.json["detail"]
    assert session.scalar(select(GenerationJob.id)) is None
    assert session.scalar(select(ApiClient).where(ApiClient.name == FLOW_CLIENT_NAME)) is None


def test_flow_for_an_unknown_shop_is_401(client: FlaskClient, user: ApiUser) -> None:
    body = flow_body("stranger.myshopify.com", SPEC)
    assert _flow_post(client, "/v1/model-generator", body, flow_signature(body)).status_code == 401


def test_flow_shop_header_must_match_the_body(client: FlaskClient, user: ApiUser, other_user: ApiUser) -> None:
    body = flow_body(user.shop.domain, SPEC)
    response = _flow_post(client, "/v1/model-generator", body, flow_signature(body),
                          **{"X-Shopify-Shop-Domain": other_user.shop.domain})
    assert response.status_code == 401


def test_flow_properties_are_validated_under_body_properties(client: FlaskClient, user: ApiUser) -> None:
    body = flow_body(user.shop.domain, {"gender": "FEMALE"})
    response = _flow_post(client, "/v1/model-generator", body, flow_signature(body))
    assert response.status_code == 422
    assert ["body", "properties", "ethnicity"] in [e["loc"] for e in response.json["detail"]]


def test_flow_signature_does_not_authenticate_reads(client: FlaskClient, user: ApiUser) -> None:
    response = client.get("/v1/catalog-models", headers={"X-Shopify-Hmac-Sha256": flow_signature(b"")})
    assert response.status_code == 401


def test_disabled_flow_client_refuses_flow(client: FlaskClient, user: ApiUser, session: Session) -> None:
    body = flow_body(user.shop.domain, SPEC, run_id="run-1")
    assert _flow_post(client, "/v1/model-generator", body, flow_signature(body)).status_code == 200
    flow_client = session.scalar(select(ApiClient).where(ApiClient.name == FLOW_CLIENT_NAME))
    flow_client.disabled_at = utcnow()
    session.commit()
    body = flow_body(user.shop.domain, SPEC, run_id="run-2")
    response = _flow_post(client, "/v1/model-generator", body, flow_signature(body))
    assert response.status_code == 401 and "Flow" in response.json["detail"]


def test_flow_retry_of_the_same_run_is_charged_once(client: FlaskClient, user: ApiUser, session: Session) -> None:
    body = flow_body(user.shop.domain, SPEC, run_id="same-run")
    first = _flow_post(client, "/v1/model-generator", body, flow_signature(body))
    again = _flow_post(client, "/v1/model-generator", body, flow_signature(body))
    assert first.status_code == again.status_code == 200
    assert again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(session.scalars(select(GenerationJob.id)).all()) == 1
