"""NUL characters, which PostgreSQL text cannot store: a 4xx at the edge, never a 500, and the
refused call still leaves its request-log row."""

from __future__ import annotations

from sqlalchemy.orm import Session

from shopify_app.models import RequestLog
from tests.api.conftest import SPEC, ApiUser


def test_nul_in_a_workflow_body_is_a_422_at_its_location(user: ApiUser, session: Session) -> None:
    response = user.post("/v1/model-generator", {**SPEC, "image_model": "local\x00"})
    assert response.status_code == 422
    assert response.json["detail"][0]["loc"] == ["body", "image_model"]
    nested = user.post("/v1/model-generator", {**SPEC, "metadata": {"tags": ["ok", "a\x00b"]}})
    assert nested.status_code == 422
    assert nested.json["detail"][0]["loc"] == ["body", "metadata", "tags", 1]


def test_nul_in_a_path_is_a_400_and_is_logged(user: ApiUser, session: Session) -> None:
    response = user.get("/v1/jobs/01ARZ3NDEKTSV4RRFFQ69G5FA%00")
    assert response.status_code == 400
    row = session.get(RequestLog, response.headers["X-Request-Id"])
    assert row is not None and row.status_code == 400
    assert row.path == "/v1/jobs/01ARZ3NDEKTSV4RRFFQ69G5FA\ufffd"


def test_nul_in_a_query_is_a_400(user: ApiUser) -> None:
    assert user.get("/v1/catalog-models", query_string={"cursor": "a\x00"}).status_code == 400
