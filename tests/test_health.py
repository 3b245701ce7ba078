from __future__ import annotations

from flask.testing import FlaskClient


def test_healthz_answers_alive(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}
    assert len(response.headers["X-Request-Id"]) == 26


def test_readyz_reports_each_part_and_503_without_a_worker(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json["checks"]
    assert checks["database"]["status"] == "ok"
    assert checks["redis"]["status"] == "ok"
    assert checks["workers"]["status"] == "down"
    assert response.json["status"] == "unavailable"
