"""The registry API against seed 002's contract."""

from __future__ import annotations

import uuid
from typing import Any

import jwt
import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from shopify_app import db
from shopify_app.models import AuditLog, GenerationModel, StaffUser
from shopify_app.seed import seed_defaults
from tests.conftest import CLIENT_ID, CLIENT_SECRET
from tests.staff.helpers import VIEWER_EMAIL, api_token

BASE = "/api/v1/generation-models/"
PUBLIC_FIELDS = {
    "id", "name", "icon", "provider", "provider_config", "provider_capabilities",
    "fallback_provider", "fallback_provider_config", "fallback_provider_capabilities",
    "tool_types", "recommended", "beta", "max_output_width", "max_output_height", "max_size_pixels",
}
FAL_BODY: dict[str, Any] = {
    "name": "FASHN on fal",
    "provider": "fal_standard",
    "provider_config": {"fal_app_id": "fal-ai/fashn/tryon/v1.6"},
    "provider_capabilities": ["try_on"],
    "fallback_provider": "local",
    "fallback_provider_config": {},
    "tool_types": ["TRY_ON"],
    "max_output_width": 2048,
    "max_output_height": 2048,
    "max_size_pixels": 4_000_000,
}


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _assert_validation_error(body: dict[str, Any]) -> list[dict[str, Any]]:
    assert set(body) == {"detail"} and body["detail"]
    for item in body["detail"]:
        assert set(item) == {"loc", "msg", "type", "input", "ctx"}
        assert isinstance(item["loc"], list) and isinstance(item["msg"], str)
        assert isinstance(item["type"], str) and isinstance(item["ctx"], dict)
    return body["detail"]


@pytest.fixture
def token(client: FlaskClient, admin: StaffUser) -> str:
    return api_token(client)


def test_fresh_install_lists_the_recommended_local_model(client: FlaskClient) -> None:
    list(seed_defaults())
    response = client.get(BASE)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"data", "count"} and body["count"] == 1
    model = body["data"][0]
    assert set(model) == PUBLIC_FIELDS
    assert model["provider"] == "local" and model["recommended"] is True
    assert model["provider_capabilities"] == ["model_generation", "try_on"]
    uuid.UUID(model["id"])


def test_list_pages_with_skip_and_limit(client: FlaskClient, token: str) -> None:
    for i in range(5):
        assert client.post(BASE, json={**FAL_BODY, "name": f"m{i}"}, headers=_auth(token)).status_code == 200
    page = client.get(BASE, query_string={"skip": 1, "limit": 2}).get_json()
    assert page["count"] == 5 and [m["name"] for m in page["data"]] == ["m1", "m2"]
    assert client.get(BASE, query_string={"skip": 10}).get_json() == {"data": [], "count": 5}


@pytest.mark.parametrize("query,loc,type_", [
    ({"limit": "abc"}, ["query", "limit"], "int_parsing"),
    ({"skip": "-1"}, ["query", "skip"], "greater_than_equal"),
    ({"limit": "0"}, ["query", "limit"], "greater_than_equal"),
    ({"limit": "100000"}, ["query", "limit"], "less_than_equal"),
])
def test_bad_query_params_are_422(client: FlaskClient, query: dict[str, str], loc: list[str],
                                  type_: str) -> None:
    response = client.get(BASE, query_string=query)
    assert response.status_code == 422
    [error] = _assert_validation_error(response.get_json())
    assert error["loc"] == loc and error["type"] == type_


def test_create_get_update_delete_as_admin(client: FlaskClient, token: str) -> None:
    created = client.post(BASE, json=FAL_BODY, headers=_auth(token))
    assert created.status_code == 200
    model = created.get_json()
    assert set(model) == PUBLIC_FIELDS
    assert model["provider_config"] == {"fal_app_id": "fal-ai/fashn/tryon/v1.6"}
    assert model["fallback_provider"] == "local" and model["recommended"] is False

    fetched = client.get(f"{BASE}{model['id']}")
    assert fetched.status_code == 200 and fetched.get_json() == model

    updated = client.put(f"{BASE}{model['id']}", json={"beta": True, "max_size_pixels": None},
                         headers=_auth(token))
    assert updated.status_code == 200
    body = updated.get_json()
    assert body["beta"] is True and body["max_size_pixels"] is None and body["name"] == FAL_BODY["name"]

    deleted = client.delete(f"{BASE}{model['id']}", headers=_auth(token))
    assert deleted.status_code == 200 and set(deleted.get_json()) == {"message"}
    assert client.get(f"{BASE}{model['id']}").status_code == 404
    actions = db.session().scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
    assert actions == ["generation_model.create", "generation_model.update", "generation_model.delete"]


def test_writes_without_a_token_are_401(client: FlaskClient) -> None:
    for method, path in (("post", BASE), ("put", f"{BASE}{uuid.uuid4()}"), ("delete", f"{BASE}{uuid.uuid4()}")):
        response = getattr(client, method)(path, json=FAL_BODY)
        assert response.status_code == 401, (method, response.get_data(as_text=True))
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert "detail" in response.get_json()


def test_invalid_tokens_are_401(client: FlaskClient, token: str, admin: StaffUser) -> None:
    for bad in ("not-a-jwt", token[:-4] + "AAAA",
                jwt.encode({"sub": str(admin.id), "exp": 4102444800}, "a guessed secret of thirty-two+ bytes", algorithm="HS256")):
        response = client.post(BASE, json=FAL_BODY, headers=_auth(bad))
        assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"


def test_a_merchant_session_token_opens_nothing(client: FlaskClient, admin: StaffUser) -> None:
    # A well-formed Shopify session token (signed with the app secret, aud = client id).
    shopify_token = jwt.encode({
        "iss": "https://shop.myshopify.com/admin", "dest": "https://shop.myshopify.com",
        "aud": CLIENT_ID, "sub": str(admin.id), "exp": 4102444800, "nbf": 0, "iat": 0,
        "jti": "x", "sid": "y",
    }, CLIENT_SECRET, algorithm="HS256")
    response = client.post(BASE, json=FAL_BODY, headers=_auth(shopify_token))
    assert response.status_code == 401
    page = client.get("/support/", headers=_auth(shopify_token))
    assert page.status_code == 302 and "/support/login" in page.headers["Location"]


def test_revoked_tokens_stop_working(client: FlaskClient, token: str, admin: StaffUser) -> None:
    from shopify_app.staff import accounts

    accounts.revoke_sessions(admin)
    db.session().commit()
    assert client.post(BASE, json=FAL_BODY, headers=_auth(token)).status_code == 401


def test_viewer_is_403(client: FlaskClient, viewer: StaffUser) -> None:
    token = api_token(client, VIEWER_EMAIL)
    response = client.post(BASE, json=FAL_BODY, headers=_auth(token))
    assert response.status_code == 403 and response.get_json() == {
        "detail": "The user doesn't have enough privileges"}
    assert db.session().scalar(select(GenerationModel.id)) is None


def test_unknown_ids_are_404(client: FlaskClient, token: str) -> None:
    for model_id in (uuid.uuid4(), "not-a-uuid"):
        assert client.get(f"{BASE}{model_id}").status_code == 404
        assert client.put(f"{BASE}{model_id}", json={"beta": True}, headers=_auth(token)).status_code == 404
        assert client.delete(f"{BASE}{model_id}", headers=_auth(token)).status_code == 404


@pytest.mark.parametrize("body,loc,type_", [
    ({k: v for k, v in FAL_BODY.items() if k != "name"}, ["body", "name"], "missing"),
    ({**FAL_BODY, "provider": "midjourney"}, ["body", "provider"], "enum"),
    ({**FAL_BODY, "provider_config": {}}, ["body", "provider_config", "fal_app_id"], "missing"),
    ({**FAL_BODY, "provider_config": {"fal_app_id": "x/y", "colour": 1}},
     ["body", "provider_config", "colour"], "extra_forbidden"),
    ({**FAL_BODY, "fallback_provider": "fashn", "fallback_provider_config": {"mode": "fastest"}},
     ["body", "fallback_provider_config", "mode"], "literal_error"),
    ({**FAL_BODY, "fallback_provider": None, "fallback_provider_config": {"x": 1}},
     ["body", "fallback_provider_config"], "value_error"),
    ({**FAL_BODY, "tool_types": ["PAINTING"]}, ["body", "tool_types", 0], "enum"),
    ({**FAL_BODY, "provider_capabilities": ["teleport"]}, ["body", "provider_capabilities", 0], "enum"),
    ({**FAL_BODY, "max_output_width": 0}, ["body", "max_output_width"], "greater_than_equal"),
    ({**FAL_BODY, "max_size_pixels": 2**40}, ["body", "max_size_pixels"], "less_than_equal"),
    ({**FAL_BODY, "provider_typo": 1}, ["body", "provider_typo"], "extra_forbidden"),
])
def test_bad_bodies_are_422_in_the_seed_shape(client: FlaskClient, token: str, body: dict[str, Any],
                                               loc: list[Any], type_: str) -> None:
    response = client.post(BASE, json=body, headers=_auth(token))
    assert response.status_code == 422, response.get_data(as_text=True)
    errors = _assert_validation_error(response.get_json())
    assert any(e["loc"] == loc and e["type"] == type_ for e in errors), errors
    assert db.session().scalar(select(GenerationModel.id)) is None


def test_malformed_json_and_empty_body_are_422(client: FlaskClient, token: str) -> None:
    bad = client.post(BASE, data="{nope", content_type="application/json", headers=_auth(token))
    assert bad.status_code == 422
    assert _assert_validation_error(bad.get_json())[0]["type"] == "json_invalid"
    empty = client.post(BASE, data="", content_type="application/json", headers=_auth(token))
    assert empty.status_code == 422
    assert _assert_validation_error(empty.get_json())[0] == {
        "loc": ["body"], "msg": "Field required", "type": "missing", "input": None, "ctx": {}}


def test_update_checks_config_against_the_new_provider(client: FlaskClient, token: str) -> None:
    model = client.post(BASE, json=FAL_BODY, headers=_auth(token)).get_json()
    # Switching provider keeps the old config, which fashn does not accept.
    response = client.put(f"{BASE}{model['id']}", json={"provider": "fashn"}, headers=_auth(token))
    assert response.status_code == 422
    errors = _assert_validation_error(response.get_json())
    assert errors[0]["loc"][:2] == ["body", "provider_config"]
    ok = client.put(f"{BASE}{model['id']}", json={"provider": "fashn", "provider_config": {"mode": "quality"}},
                    headers=_auth(token))
    assert ok.status_code == 200 and ok.get_json()["provider_config"] == {"mode": "quality"}
    cleared = client.put(f"{BASE}{model['id']}", json={"fallback_provider": None}, headers=_auth(token))
    assert cleared.get_json()["fallback_provider"] is None
    assert cleared.get_json()["fallback_provider_config"] is None


def test_login_access_token_contract(client: FlaskClient, admin: StaffUser) -> None:
    ok = client.post("/api/v1/login/access-token", data={"username": admin.email, "password": "correct horse battery staple"})
    assert ok.status_code == 200 and ok.get_json()["token_type"] == "bearer"
    assert ok.headers["Cache-Control"] == "no-store"
    wrong = client.post("/api/v1/login/access-token", data={"username": admin.email, "password": "nope nope nope"})
    assert wrong.status_code == 400 and wrong.get_json() == {"detail": "Incorrect email or password"}
    missing = client.post("/api/v1/login/access-token", data={"username": admin.email})
    assert missing.status_code == 422
    assert _assert_validation_error(missing.get_json())[0]["loc"] == ["body", "password"]
