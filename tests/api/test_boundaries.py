"""The API's guard rails: idempotency, rate limits, credits (402) and a request log for every call."""

from __future__ import annotations

import threading

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shopify_app import credits, db
from shopify_app.api import idempotency
from shopify_app.models import ApiClient, CatalogModel, CreditLedger, GenerationJob, LedgerKind, RequestLog
from tests.api.conftest import SPEC, ApiUser, make_user, ready_catalog_model


def _count(session: Session, column) -> int:  # noqa: ANN001
    session.expire_all()
    return int(session.scalar(select(func.count(column))) or 0)


# ----------------------------------------------------------------------------- idempotency


def test_same_key_and_body_replays_the_answer_and_charges_once(user: ApiUser, session: Session) -> None:
    first = user.post("/v1/model-generator", SPEC, **{"Idempotency-Key": "order-42"})
    # Same body, other key order and spacing: the same request.
    again = user.client.post("/v1/model-generator", headers={**user.headers(), "Idempotency-Key": "order-42",
                             "Content-Type": "application/json"},
                             data=b'{ "age_range": "25-34", "body_type": "athletic", "ethnicity": "East African",'
                                  b' "gender": "FEMALE" }')

    assert first.status_code == again.status_code == 202
    assert again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["X-Request-Id"] != first.headers["X-Request-Id"]
    assert _count(session, GenerationJob.id) == 1
    assert _count(session, CatalogModel.id) == 1
    assert credits.balance(session, user.shop.id) == 100 - 4
    replay_log = session.get(RequestLog, again.headers["X-Request-Id"])
    assert replay_log.status_code == 202 and replay_log.job_id == first.json["job_id"]
    assert first.json["request_id"] in replay_log.error


def test_same_key_other_body_is_422(user: ApiUser, session: Session) -> None:
    assert user.post("/v1/model-generator", SPEC, **{"Idempotency-Key": "k1"}).status_code == 202
    other = user.post("/v1/model-generator", {**SPEC, "age_range": "35-44"}, **{"Idempotency-Key": "k1"})
    assert other.status_code == 422
    assert other.json["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert other.json["detail"][0]["type"] == "idempotency_key_reused"
    assert _count(session, GenerationJob.id) == 1


def test_keys_are_scoped_per_client(user: ApiUser, other_user: ApiUser, session: Session) -> None:
    a = user.post("/v1/model-generator", SPEC, **{"Idempotency-Key": "shared"})
    b = other_user.post("/v1/model-generator", SPEC, **{"Idempotency-Key": "shared"})
    assert a.status_code == b.status_code == 202
    assert a.json["job_id"] != b.json["job_id"]


def test_a_refused_request_does_not_bind_its_key(client: FlaskClient, session: Session, generation_model) -> None:  # noqa: ANN001
    poor = make_user(client, session, "poor-shop.myshopify.com", balance=2)
    assert poor.post("/v1/model-generator", SPEC, **{"Idempotency-Key": "retry-me"}).status_code == 402
    credits.grant(session, poor.shop.id, 10, "top-up", LedgerKind.PURCHASE)
    session.commit()
    assert poor.post("/v1/model-generator", SPEC, **{"Idempotency-Key": "retry-me"}).status_code == 202


def test_bad_idempotency_keys_are_422(user: ApiUser) -> None:
    response = user.post("/v1/model-generator", SPEC, **{"Idempotency-Key": "x" * 256})
    assert response.status_code == 422 and response.json["detail"][0]["loc"] == ["header", "Idempotency-Key"]


def test_concurrent_duplicates_make_one_job(
    app: Flask, user: ApiUser, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight threads send the same keyed request at once. Every one of them looks the key up
    before any inserts it (forced with a barrier), so all eight race on the unique constraint:
    one job, one charge, eight equal answers."""
    threads_n = 8
    looked_up = threading.Barrier(threads_n)
    seen: set[int] = set()
    lost_races: list[int] = []
    original_find = idempotency._find

    def find_then_wait(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        found = original_find(*args, **kwargs)
        me = threading.get_ident()
        if me not in seen:  # the first lookup of each request: hold until all have looked
            seen.add(me)
            looked_up.wait(timeout=20)
        else:
            lost_races.append(me)  # the lookup after losing the insert race
        return found

    monkeypatch.setattr(idempotency, "_find", find_then_wait)
    results: list[tuple[int, dict]] = []
    errors: list[BaseException] = []

    def send() -> None:
        try:
            with app.app_context():
                response = app.test_client().post(
                    "/v1/model-generator", json=SPEC, headers=user.headers(**{"Idempotency-Key": "burst"}))
                results.append((response.status_code, response.json))
                db.session.remove()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert [status for status, _ in results] == [202] * threads_n
    assert all(body == results[0][1] for _, body in results)
    assert len(lost_races) == threads_n - 1
    assert _count(session, GenerationJob.id) == 1
    assert session.scalar(
        select(func.count(CreditLedger.id)).where(CreditLedger.kind == LedgerKind.CHARGE)) == 1
    assert credits.balance(session, user.shop.id) == 96


# ----------------------------------------------------------------------------- credits


def test_402_when_short_loses_nothing(client: FlaskClient, session: Session, generation_model) -> None:  # noqa: ANN001
    poor = make_user(client, session, "poor-shop.myshopify.com", balance=3)
    response = poor.post("/v1/model-generator", SPEC)

    assert response.status_code == 402
    assert response.json["credits_needed"] == 4 and response.json["credits_balance"] == 3
    assert "nothing was charged" in response.json["detail"]
    assert _count(session, GenerationJob.id) == 0
    assert _count(session, CatalogModel.id) == 0
    assert credits.balance(session, poor.shop.id) == 3
    log = session.get(RequestLog, response.headers["X-Request-Id"])
    assert log is not None and log.status_code == 402 and log.job_id is None
    assert log.shop_id == poor.shop.id and "not enough credits" in log.error


def test_try_on_short_on_credits_for_many_images(client: FlaskClient, session: Session, generation_model) -> None:  # noqa: ANN001
    poor = make_user(client, session, "poor-shop.myshopify.com", balance=3)
    model = ready_catalog_model(session, poor.shop)
    assert poor.post("/v1/try-on", {"catalog_model_id": model.id, "product_id": "1", "num_images": 4}).status_code == 402
    assert poor.post("/v1/try-on", {"catalog_model_id": model.id, "product_id": "1", "num_images": 3}).status_code == 202
    assert credits.balance(session, poor.shop.id) == 0


# ----------------------------------------------------------------------------- rate limit


def test_rate_limit_answers_429_with_retry_after(user: ApiUser, session: Session) -> None:
    row = session.get(ApiClient, user.api_client.id)
    row.rate_limit_per_minute = 3
    session.commit()
    statuses = [user.get("/v1/catalog-models").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = user.get("/v1/catalog-models")
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert "rate limit" in limited.json["detail"]
    log = session.get(RequestLog, limited.headers["X-Request-Id"])
    assert log.status_code == 429


def test_rate_limits_are_per_client(user: ApiUser, other_user: ApiUser, session: Session) -> None:
    row = session.get(ApiClient, user.api_client.id)
    row.rate_limit_per_minute = 1
    session.commit()
    assert user.get("/v1/catalog-models").status_code == 200
    assert user.get("/v1/catalog-models").status_code == 429
    assert other_user.get("/v1/catalog-models").status_code == 200


# ----------------------------------------------------------------------------- request log


@pytest.mark.parametrize("case", ["unauthenticated", "bad_key", "validation", "not_found", "unknown_path",
                                  "wrong_method", "success_read", "docs"])
def test_every_call_writes_a_request_log_row(client: FlaskClient, user: ApiUser, session: Session, case: str) -> None:
    calls = {
        "unauthenticated": lambda: client.post("/v1/model-generator", json=SPEC),
        "bad_key": lambda: client.get("/v1/catalog-models", headers={"Authorization": "Bearer csk_x"}),
        "validation": lambda: user.post("/v1/model-generator", {"gender": "MALE"}),
        "not_found": lambda: user.get("/v1/jobs/01JC0000000000000000000000"),
        "unknown_path": lambda: client.get("/v1/does-not-exist"),
        "wrong_method": lambda: client.get("/v1/model-generator"),
        "success_read": lambda: user.get("/v1/catalog-models"),
        "docs": lambda: client.get("/v1/openapi.json"),
    }
    response = calls[case]()
    session.expire_all()
    log = session.get(RequestLog, response.headers["X-Request-Id"])
    assert log is not None, case
    assert log.status_code == response.status_code
    assert log.path == response.request.path
    assert log.duration_ms is not None
    if response.status_code >= 400:
        assert log.error
    if case in ("validation", "not_found", "success_read"):
        assert log.shop_id == user.shop.id and log.api_client_id == user.api_client.id
        assert log.auth_kind == "api_key"
    if case == "unauthenticated":
        assert log.shop_id is None and log.auth_kind == "none"
