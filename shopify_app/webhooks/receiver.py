"""`POST /webhooks`: verify, record, enqueue, answer. Nothing else happens here.

Shopify waits about 5 s and retries failures for hours, so the endpoint only does what makes a
delivery safe to acknowledge: read the body (capped, before any parsing), check the HMAC over
those raw bytes, and hand the delivery to the process's group-commit writer
(`shopify_app.webhooks.writer`), which INSERTs one `WebhookDelivery` row per webhook id — many
deliveries per statement and commit under load — and enqueues their processing once committed.
A duplicate delivery (Shopify delivers at least once, and may deliver the same id ten times at
once) conflicts on the unique webhook id and is acknowledged with 200 and nothing more.

Statuses, as Shopify and App Review expect: 405 for other methods (routing), 413 over
`settings.webhook_max_bytes`, 400 when a required header is missing, 401 when the HMAC does not
match the current or the previous client secret, 503 when the delivery could not be recorded
(Shopify retries; a 200 always means the row is committed).

The endpoint is served ahead of Flask's request machinery (`WebhookEndpoint`, installed by
`init_app` around `app.wsgi_app`): it needs no cookie session, no routing table, no app-wide
hooks and no Response object, and on a busy shop it is the hottest path in the app. It still
stamps a request id on its log lines and on the answer (`X-Request-Id`), and turns an
unexpected error into a JSON 500. Other methods fall through to Flask, whose route for
`/webhooks` answers 405 with `Allow: POST`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING

from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.wsgi import get_content_length, get_input_stream

from shopify_app.logs import request_id_var
from shopify_app.models import new_ulid, utcnow
from shopify_app.requestctx import REQUEST_ID_HEADER
from shopify_app.settings import Settings
from shopify_app.shopify import sdk
from shopify_app.webhooks.writer import Delivery, DeliveryNotRecorded, get_writer

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__)

PATH = "/webhooks"
# Both header families: the classic `X-Shopify-…` and the newer unprefixed `shopify-…`
# (Shopify Events), as WSGI names them (upper case, `-` → `_`; case never matters).
_PREFIXES = ("HTTP_X_SHOPIFY_", "HTTP_SHOPIFY_")
_REQUIRED = ("Hmac-Sha256", "Topic", "Shop-Domain", "Webhook-Id", "API-Version")

# Pre-built answers: the endpoint is hot, and these never change.
_JSON = "application/json"
_OK = b'{"status":"received"}'
_DUPLICATE = b'{"status":"duplicate"}'
_STATUS_LINES = {200: "200 OK", 400: "400 Bad Request", 401: "401 Unauthorized", 405: "405 Method Not Allowed",
                 413: "413 Content Too Large", 500: "500 Internal Server Error",
                 503: "503 Service Unavailable"}


def _detail(message: str) -> bytes:
    return json.dumps({"detail": message}).encode()


def _environ_keys(name: str) -> tuple[str, ...]:
    key = name.upper().replace("-", "_")
    return tuple(prefix + key for prefix in _PREFIXES)


_KEYS = {name: _environ_keys(name) for name in (*_REQUIRED, "Triggered-At")}


def _header(environ: WSGIEnvironment, name: str) -> str | None:
    for key in _KEYS.get(name) or _environ_keys(name):
        value = environ.get(key)
        if value:
            return value
    return None


def _read_capped_body(environ: WSGIEnvironment, limit: int) -> bytes | None:
    """The raw body, or None when it is larger than `limit`. With a Content-Length, exactly that
    many bytes from the server's stream (PEP 3333 lets an application read that far; werkzeug's
    limiting wrapper cost more than the read). Without one (chunked) at most limit + 1 bytes, and
    the server must have terminated the input (`wsgi.input_terminated`, as gunicorn does), else
    the body reads as empty."""
    declared = get_content_length(environ)
    if declared is not None:
        return None if declared > limit else environ["wsgi.input"].read(declared)
    body = get_input_stream(environ).read(limit + 1)
    return None if len(body) > limit else body


def receive(environ: WSGIEnvironment, app: Flask) -> tuple[int, bytes]:
    """Handle one `POST /webhooks`; returns the status and the JSON body of the answer."""
    settings: Settings = app.config["STUDIO_SETTINGS"]
    body = _read_capped_body(environ, settings.webhook_max_bytes)
    if body is None:
        return 413, _detail("webhook body too large")

    values = {name: _header(environ, name) for name in _REQUIRED}
    missing = [name for name, value in values.items() if not value]
    if missing:
        return 400, _detail("missing headers: " + ", ".join(f"X-Shopify-{m}" for m in missing))

    verdict = sdk.verify_webhook(settings, "POST", {"X-Shopify-Hmac-Sha256": values["Hmac-Sha256"]}, body)
    if not verdict.ok:
        # 401 for a wrong signature (App Review checks this on the compliance topics).
        return verdict.status, _detail("invalid webhook signature" if verdict.status == 401
                                       else "malformed webhook")

    shop_domain = sdk.sanitize_shop(values["Shop-Domain"])
    webhook_id = values["Webhook-Id"] or ""
    topic = (values["Topic"] or "").strip().lower()
    if shop_domain is None or len(webhook_id) > 255 or len(topic) > 80:
        return 400, _detail("malformed webhook headers")

    delivery = Delivery(
        webhook_id=webhook_id,
        topic=topic,
        shop_domain=shop_domain,
        api_version=(values["API-Version"] or "")[:20],
        triggered_at=(_header(environ, "Triggered-At") or "")[:64] or None,
        # Verified UTF-8 already (a non-UTF-8 body is a 400). Stored as received; whether it is
        # JSON is for the database to say (the writer stores NULL when it is not).
        payload=body.decode("utf-8"),
        received_at=utcnow(),
    )
    try:
        # Waits until the row is committed (its processing is enqueued by the batch's leader), or raises.
        delivery_id = get_writer(app).record(delivery)
    except DeliveryNotRecorded as exc:
        log.warning("webhook %s %s not recorded: %s", topic, webhook_id, exc)
        return 503, _detail("delivery not recorded; retry later")
    return 200, (_DUPLICATE if delivery_id is None else _OK)


class WebhookEndpoint:
    """WSGI middleware: `POST /webhooks` here, everything else to the wrapped Flask app."""

    def __init__(self, app: Flask, wrapped: WSGIApplication):
        self.app = app
        self.wrapped = wrapped

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH or environ.get("REQUEST_METHOD") != "POST":
            return self.wrapped(environ, start_response)
        request_id = new_ulid()
        token = request_id_var.set(request_id)
        try:
            status, body = receive(environ, self.app)
        except Exception:
            log.exception("unhandled error on POST %s", PATH)
            status, body = 500, _detail("Internal server error")
        finally:
            request_id_var.reset(token)
        status_line = _STATUS_LINES.get(status) or f"{status} {HTTPStatus(status).phrase}"
        start_response(status_line, [
            ("Content-Type", _JSON), ("Content-Length", str(len(body))), (REQUEST_ID_HEADER, request_id),
        ])
        return [body]


@bp.post(PATH)
def receive_view() -> Response:
    """The same endpoint through Flask, for an app without the middleware; with it, Flask sees
    only the other methods here and answers 405."""
    status, body = receive(request.environ, current_app._get_current_object())  # type: ignore[attr-defined]
    return Response(body, status=status, content_type=_JSON)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.wsgi_app = WebhookEndpoint(app, app.wsgi_app)  # type: ignore[method-assign]


__all__ = ["PATH", "WebhookEndpoint", "bp", "init_app", "receive"]
