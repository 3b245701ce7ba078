"""Image URLs for the embedded pages: `/app/images/<token>`.

An `<img>` cannot send the session token, so each image the JSON endpoints list carries a signed
URL: holding it is the permission to see that one asset of that one shop. Unlike /v1's file links
(one timed signature per call, and a request-log row per download) the token here signs an expiry
rounded to the hour, so the same image keeps the same URL across polls and re-renders, and the
browser's cache serves it. A token lives between one and two TTLs.
"""

from __future__ import annotations

import io
import math
import time

from flask import Blueprint, Response, abort, current_app, send_file
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select

from shopify_app import db
from shopify_app.api import files
from shopify_app.models import Asset
from shopify_app.settings import Settings

bp = Blueprint("embedded_images", __name__, url_prefix="/app/images")
SALT = "studio.app.images"
PATH = "/app/images/"


def _serializer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(settings.secret_key, salt=SALT)


def image_url(asset: Asset, settings: Settings | None = None, now: float | None = None) -> str:
    """A same-origin URL for the asset's image, stable within an hour."""
    settings = settings or current_app.config["STUDIO_SETTINGS"]
    ttl = max(60, settings.file_url_ttl_seconds)
    expires = (math.floor((now or time.time()) / ttl) + 2) * ttl
    return PATH + _serializer(settings).dumps([asset.id, asset.shop_id, expires])


@bp.get("/<token>")
def serve(token: str) -> Response:
    settings: Settings = current_app.config["STUDIO_SETTINGS"]
    try:
        asset_id, shop_id, expires = _serializer(settings).loads(token)
    except (BadSignature, ValueError, TypeError):
        abort(404)
    if not isinstance(expires, int) or expires < time.time():
        abort(410)
    asset = db.session.scalar(select(Asset).where(Asset.id == asset_id, Asset.shop_id == shop_id))
    if asset is None:
        abort(404)
    try:
        data = files.read_asset(asset, settings)
    except FileNotFoundError:
        abort(404)
    response = send_file(
        io.BytesIO(data),
        mimetype=files.MEDIA_TYPES.get(asset.format.lower(), "application/octet-stream"),
    )
    response.headers["Cache-Control"] = f"private, max-age={max(0, int(expires - time.time()))}, immutable"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
