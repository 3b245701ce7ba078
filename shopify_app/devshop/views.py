"""`/_devshop`: browse the dev shop's products and media, inject faults, send webhooks.

Mounted only when the dev shop is enabled in a development or test configuration; `init_app`
raises in production. These pages are for the developer at the keyboard, not for merchants.
"""

from __future__ import annotations

from typing import Any

from flask import (Blueprint, Flask, Response, abort, current_app, jsonify, redirect, render_template,
                   request, url_for)

from shopify_app.devshop import control, ensure_allowed
from shopify_app.devshop.admin_graphql import gid
from shopify_app.devshop.catalog import CATALOG

bp = Blueprint("devshop", __name__, url_prefix="/_devshop")

WEBHOOK_TOPICS = ("products/create", "products/update", "products/delete")


def init_app(app: Flask) -> None:
    from shopify_app.cli import register
    from shopify_app.devshop.cli import devshop_cli

    ensure_allowed(app.config["STUDIO_SETTINGS"])
    app.register_blueprint(bp)
    register(devshop_cli)


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(Response('{"error": "a JSON object body is required"}', 400, mimetype="application/json"))
    return body


@bp.get("/")
def index() -> str:
    store = control.store()
    products = []
    for row in control.products():
        product_gid = gid("Product", int(row["id"]))
        products.append({"row": row, "gid": product_gid, "media": control.product_media(product_gid),
                         "variants": control.variants(product_gid)})
    return render_template(
        "devshop/index.html", products=products, catalog=CATALOG, faults=store.pending_faults(),
        calls=list(reversed(control.calls()))[:30], fault_kinds=control.FAULT_KINDS,
        domain=store.domain, topics=WEBHOOK_TOPICS,
    )


@bp.get("/files/<int:media_id>.jpg")
def media_file(media_id: int) -> Response:
    data = control.store().media_bytes(media_id)
    if data is None:
        abort(404)
    return Response(data, mimetype="image/jpeg", headers={"Cache-Control": "max-age=300"})


# ----------------------------------------------------------------------------- forms (the page)

@bp.post("/products")
def create_product_form() -> Response:
    handle = request.form.get("handle", "")
    if not any(p.handle == handle for p in CATALOG):
        abort(400)
    product_gid = control.create_product(handle, request.form.get("title") or None)
    control.send_webhook("products/create", control.product_payload(product_gid))
    return redirect(url_for("devshop.index"))


@bp.post("/faults")
def fault_form() -> Response:
    try:
        control.inject_fault(request.form.get("kind", ""), int(request.form.get("count") or 1),
                             request.form.get("operation") or None)
    except ValueError:
        abort(400)
    return redirect(url_for("devshop.index"))


@bp.post("/webhooks")
def webhook_form() -> Response:
    topic = request.form.get("topic", "")
    if topic not in WEBHOOK_TOPICS:
        abort(400)
    product_gid = request.form.get("product_id", "")
    payload = ({"id": int(product_gid.rsplit("/", 1)[-1])} if topic == "products/delete"
               else control.product_payload(product_gid))
    control.send_webhook(topic, payload, header_family=request.form.get("family", "X-Shopify-"))
    return redirect(url_for("devshop.index"))


# ----------------------------------------------------------------------------- JSON control API

@bp.post("/api/faults")
def api_inject_fault() -> tuple[Response, int]:
    body = _json_body()
    try:
        control.inject_fault(str(body.get("kind", "")), int(body.get("count", 1)), body.get("operation"),
                             body.get("status"), body.get("retry_after"), body.get("delay"))
    except (ValueError, TypeError) as exc:
        return jsonify(error=str(exc)), 422
    return jsonify(faults=control.store().pending_faults()), 201


@bp.delete("/api/faults")
def api_clear_faults() -> tuple[Response, int]:
    control.clear_faults()
    return jsonify(faults=[]), 200


@bp.post("/api/bucket")
def api_bucket() -> tuple[Response, int]:
    body = _json_body()
    try:
        values = {k: (None if body.get(k) is None else float(body[k]))
                  for k in ("maximum", "restore_rate", "available")}
    except (TypeError, ValueError):
        return jsonify(error="maximum, restore_rate and available are numbers"), 422
    if any(v is not None and v < 0 for v in values.values()):
        return jsonify(error="values must not be negative"), 422
    control.set_bucket(**values)
    return jsonify(ok=True), 200


@bp.get("/api/calls")
def api_calls() -> Response:
    return jsonify(calls=control.calls())


@bp.post("/api/products")
def api_create_product() -> tuple[Response, int]:
    body = _json_body()
    handle = str(body.get("handle", ""))
    if not any(p.handle == handle for p in CATALOG):
        return jsonify(error=f"handle must be one of {', '.join(p.handle for p in CATALOG)}"), 422
    product_gid = control.create_product(handle, body.get("title"))
    status = None
    if body.get("notify", True):
        status = control.send_webhook("products/create", control.product_payload(product_gid),
                                      app=current_app._get_current_object())  # type: ignore[attr-defined]
    return jsonify(id=product_gid, webhook_status=status), 201
