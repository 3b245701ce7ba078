"""Requests no handler could read are refused at the edge with 400, never a 500: a raw query
string that is not UTF-8 (Werkzeug decodes it strictly) and NUL characters (PostgreSQL text
cannot hold them)."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient


@pytest.mark.parametrize("path", ["/", "/app", "/auth", "/auth/callback", "/support/login", "/v1/catalog-models",
                                  "/app/api/jobs", "/api/v1/generation-models/"])
def test_a_query_string_that_is_not_utf8_is_a_400(client: FlaskClient, path: str) -> None:
    # A real server hands raw bytes through (WSGI strings are latin-1 decoded bytes).
    response = client.get(path, environ_overrides={"QUERY_STRING": "shop=\xff\xfe"})
    assert response.status_code == 400


def test_json_callers_get_the_reason_as_json(client: FlaskClient) -> None:
    response = client.get("/v1/catalog-models", environ_overrides={"QUERY_STRING": "cursor=\xff"})
    assert response.status_code == 400
    assert response.get_json() == {"detail": "the query string is not UTF-8"}
    nul = client.get("/app/api/jobs?before=%00")
    assert nul.status_code == 400 and "NUL" in nul.get_json()["detail"]


def test_percent_encoded_bytes_are_not_refused(client: FlaskClient) -> None:
    # %FF decodes with replacement characters: an ordinary (if odd) value, answered normally.
    shop = client.get("/auth?shop=%FF")
    assert shop.status_code == 400 and "myshopify.com domain" in shop.get_data(as_text=True)  # /auth's own answer
    assert client.get("/support/login?next=%FF").status_code == 200
