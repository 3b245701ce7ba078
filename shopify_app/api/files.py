"""Signed, expiring URLs for the images a job produced: `/v1/files/<token>`.

The token is an itsdangerous timed signature (the app's SECRET_KEY, a salt of its own) over the
asset id and its shop. Holding the URL is the permission, like a presigned S3 URL, so it can be
handed to a browser or an integrator's downloader without an API key; it stops working after
`settings.file_url_ttl_seconds`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from shopify_app.images.storage import MEDIA_TYPES, InvalidKey, get_storage
from shopify_app.models import Asset, utcnow
from shopify_app.settings import Settings

SALT = "studio.v1.files"
FILES_PATH = "/v1/files/"


@dataclass(frozen=True)
class SignedUrl:
    url: str
    expires_at: dt.datetime


class FileTokenInvalid(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt=SALT)


def sign(asset: Asset, settings: Settings | None = None) -> SignedUrl:
    settings = settings or current_app.config["STUDIO_SETTINGS"]
    token = _serializer(settings).dumps({"a": asset.id, "s": asset.shop_id})
    # Built by hand rather than url_for: workers and the CLI sign URLs outside any request.
    url = f"{settings.app_url}{FILES_PATH}{token}"
    # The signature carries its own issue time; it expires ttl seconds after it.
    expires_at = utcnow().replace(microsecond=0) + dt.timedelta(seconds=settings.file_url_ttl_seconds)
    return SignedUrl(url=url, expires_at=expires_at)


def unsign(token: str, settings: Settings | None = None) -> tuple[str, str]:
    """(asset_id, shop_id) from a token; FileTokenInvalid 410 when expired, 403 when not ours."""
    settings = settings or current_app.config["STUDIO_SETTINGS"]
    try:
        data = _serializer(settings).loads(token, max_age=settings.file_url_ttl_seconds)
    except SignatureExpired:
        raise FileTokenInvalid(410, "this file link has expired; fetch the job again for a fresh one") from None
    except BadSignature:
        raise FileTokenInvalid(403, "this file link is not valid") from None
    if not isinstance(data, dict) or not isinstance(data.get("a"), str) or not isinstance(data.get("s"), str):
        raise FileTokenInvalid(403, "this file link is not valid")
    return data["a"], data["s"]


def read_asset(asset: Asset, settings: Settings | None = None) -> bytes:
    """The asset's bytes from image storage; FileNotFoundError when they are gone.

    Read whole (images are capped at a few MB by the image pipeline) so the file is closed
    before the response leaves, whatever the server does with the body."""
    settings = settings or current_app.config["STUDIO_SETTINGS"]
    try:
        return get_storage(settings).read(asset.storage_key)
    except InvalidKey:
        # Never ours to serve: storage refuses keys that could leave its root.
        raise FileNotFoundError(asset.storage_key) from None


__all__ = ["FILES_PATH", "MEDIA_TYPES", "FileTokenInvalid", "SignedUrl", "read_asset", "sign", "unsign"]
