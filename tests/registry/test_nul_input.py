"""A NUL character in a registry write is a 422 at its location (PostgreSQL cannot store it)."""

from __future__ import annotations

from flask.testing import FlaskClient

from shopify_app.models import StaffUser
from tests.staff.helpers import api_token

BASE = "/api/v1/generation-models/"
BODY = {"name": "Preview", "provider": "local", "provider_config": {}, "provider_capabilities": ["try_on"],
        "tool_types": ["TRY_ON"]}


def test_nul_in_a_name_or_config_key_is_a_422(client: FlaskClient, admin: StaffUser) -> None:
    headers = {"Authorization": f"Bearer {api_token(client)}"}
    named = client.post(BASE, json={**BODY, "name": "Pre\x00view"}, headers=headers)
    assert named.status_code == 422
    assert named.json["detail"][0]["loc"] == ["body", "name"]
    assert named.json["detail"][0]["type"] == "string_nul"
    keyed = client.post(BASE, json={**BODY, "provider_config": {"k\x00": 1}}, headers=headers)
    assert keyed.status_code == 422
    assert keyed.json["detail"][0]["loc"] == ["body", "provider_config", "k\x00"]
    assert client.get(BASE).json["count"] == 0
