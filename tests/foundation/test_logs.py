"""Structured logs carry context and never carry secrets."""

from __future__ import annotations

import json
import logging

import pytest
from flask import Flask, request

from shopify_app.logs import JsonFormatter, log_context, redact


def test_json_lines_carry_request_shop_and_job_context() -> None:
    record = logging.LogRecord("studio", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    with log_context(request_id="01J0000000000000000000000A", shop="x.myshopify.com", job_id="j1"):
        line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "hello world"
    assert line["request_id"] == "01J0000000000000000000000A"
    assert line["shop"] == "x.myshopify.com"
    assert line["job_id"] == "j1"


@pytest.mark.parametrize(
    "leak",
    [
        "shpat_1a2b3c4d5e6f7a8b9c0d",
        "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
        "access_token=abcdef123456",
        '{"refresh_token": "shprt_abcdefabcdef1234"}',
    ],
)
def test_redaction_masks_token_shapes(leak: str) -> None:
    masked = redact(f"calling shopify with {leak} now")
    for secret in ("1a2b3c4d5e6f7a8b9c0d", "c2lnbmF0dXJl", "abcdef123456", "shprt_abcdefabcdef1234"):
        assert secret not in masked


def test_a_token_passed_through_a_request_never_reaches_the_log(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    token = "shpat_f00dfacecafebabe1234567890"
    session_token = "eyJhbGciOiJIUzI1NiJ9.eyJkZXN0IjoiaHR0cHM6Ly94In0.sIgNaTuReValue"

    @app.post("/_test/echo")
    def echo() -> dict[str, str]:
        # Handlers that log carelessly: the header, the body and an exception message.
        log = logging.getLogger("careless")
        log.info("auth header %s", request.headers.get("Authorization"))
        log.info("body %s", request.get_data(as_text=True))
        try:
            raise RuntimeError(f"upstream refused token {token}")
        except RuntimeError:
            log.exception("failed")
        return {"ok": "yes"}

    response = app.test_client().post(
        "/_test/echo",
        headers={"Authorization": f"Bearer {session_token}"},
        data=json.dumps({"access_token": token, "client_secret": app.config["STUDIO_SETTINGS"].shopify_api_secret}),
    )
    assert response.status_code == 200
    records = [r for r in caplog.records if r.name == "careless"]
    # Every handler sees the same redacted record: render them as our JSON lines would.
    output = "\n".join(JsonFormatter().format(r) for r in records) + caplog.text
    assert len(records) == 3  # the lines were written…
    assert token not in output  # …without the access token,
    assert session_token not in output and "sIgNaTuReValue" not in output  # the session token,
    assert app.config["STUDIO_SETTINGS"].shopify_api_secret not in output  # or the app secret.
    assert "Bearer [REDACTED]" in output and "RuntimeError: upstream refused token [REDACTED]" in output


def test_a_database_error_logs_its_statement_but_not_its_values(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    """A failed INSERT's values (a request body, a signed URL in a job's inputs) stay out of the
    traceback an unhandled error logs; the statement stays for debugging."""
    from sqlalchemy import text

    from shopify_app import db

    signed = "https://bucket.example/garment.jpg?X-Amz-Signature=9f86d081884c7d659a2feaa0c55ad015"

    @app.get("/_test/db-error")
    def db_error() -> dict[str, str]:
        db.session.execute(text("INSERT INTO no_such_table (url) VALUES (:url)"), {"url": signed})
        return {"ok": "no"}

    response = app.test_client().get("/_test/db-error")
    assert response.status_code == 500
    assert "no_such_table" in caplog.text
    assert "X-Amz-Signature" not in caplog.text and "9f86d081884c7d659a2feaa0c55ad015" not in caplog.text
