"""Image storage behind a small interface, and `store_image`, the one way an image becomes an
`Asset`.

Keys are relative, `/`-separated paths, namespaced by shop: `<shop_id>/<kind>/<asset_id>/full.jpg`
(and `review.jpg` beside it), so deleting a shop's data is `delete_prefix(f"{shop_id}/")`. Key
segments are restricted to `[A-Za-z0-9._-]` and may not be `.` or `..`, so a key can never leave
the storage root.

`LocalStorage` keeps files under `settings.media_root`. A multi-machine deployment needs a
shared store: an S3-compatible class implementing the same `Storage` protocol (`put` → PutObject,
`read`/`open` → GetObject, `delete_prefix` → ListObjectsV2 + DeleteObjects, `url` → a presigned
GET) is added to `get_storage` and chosen with `MEDIA_STORAGE`.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol, runtime_checkable

from shopify_app.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from shopify_app.models import Asset
    from shopify_app.models.enums import AssetKind

_SEGMENT = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
# Content types of the formats images are stored in (Asset.format, lower case).
MEDIA_TYPES = {"jpeg": "image/jpeg", "jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
MAX_KEY_LENGTH = 255  # Asset.storage_key


class InvalidKey(ValueError):
    """A storage key that is not a safe relative path."""


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    content_type: str
    sha256: str


@runtime_checkable
class Storage(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> StoredObject: ...

    def read(self, key: str) -> bytes: ...

    def open(self, key: str) -> IO[bytes]: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove `key`; a missing key is not an error (deletes are retried)."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Remove every key under the folder `prefix` (e.g. `"<shop_id>/"`); returns how many."""
        ...

    def path_for(self, key: str) -> Path | None:
        """A local file path for `key` when the backend has one (for `send_file`), else None."""
        ...

    def url(self, key: str) -> str | None:
        """A URL a browser or Shopify can fetch directly, when the backend offers one."""
        ...


def check_key(key: str) -> str:
    """`key` if it is a safe relative key, else InvalidKey."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidKey("a storage key must be 1-255 characters")
    segments = key.split("/")
    for segment in segments:
        if segment in (".", "..") or not _SEGMENT.match(segment):
            raise InvalidKey(f"unsafe storage key {key!r}")
    return key


class LocalStorage:
    """Files under one directory. Writes are atomic (temp file + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        # Belt and braces: check_key already forbids '..'; a symlink inside root must not lead out.
        if not path.is_relative_to(self.root):
            raise InvalidKey(f"unsafe storage key {key!r}")
        return path

    def put(self, key: str, data: bytes, content_type: str) -> StoredObject:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".put-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return StoredObject(key=key, size=len(data), content_type=content_type,
                            sha256=hashlib.sha256(data).hexdigest())

    def read(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def open(self, key: str) -> IO[bytes]:
        return self._path(key).open("rb")

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> int:
        folder = self._path(prefix.rstrip("/"))
        if not folder.is_dir():
            return 0
        count = sum(1 for p in folder.rglob("*") if p.is_file())
        shutil.rmtree(folder, ignore_errors=True)
        return count

    def path_for(self, key: str) -> Path | None:
        return self._path(key)

    def url(self, key: str) -> str | None:
        return None  # local files are served by the app, behind its own authentication


def get_storage(settings: Settings) -> Storage:
    if settings.media_storage == "local":
        return LocalStorage(settings.media_root)
    raise ValueError(f"unknown media storage {settings.media_storage!r}")


# ----------------------------------------------------------------------------- assets


def asset_prefix(shop_id: str, kind: str, asset_id: str) -> str:
    return f"{shop_id}/{kind}/{asset_id}/"


def review_key(storage_key: str) -> str:
    """The key of the 2048 px review copy stored beside an asset's full image."""
    folder, _, name = storage_key.rpartition("/")
    return f"{folder}/review.{name.rpartition('.')[2]}"


def store_image(
    session: Session,
    shop_id: str,
    kind: AssetKind | str,
    data: bytes,
    *,
    job_id: str | None = None,
    catalog_model_id: str | None = None,
    settings: Settings | None = None,
    storage: Storage | None = None,
    flush: bool = True,
    **links: Any,
) -> Asset:
    """Validate, normalise, hash and store `data`, and add its `Asset` row (flushed, not
    committed). Raises InvalidImage / TooLarge for unusable input.

    The same picture stored twice for one job (a provider that repeats an output, a retried
    step) returns the existing Asset instead of a duplicate, whether that one is in the database
    or still pending in the session. `links` are further Asset columns (`shopify_product_id`,
    `shopify_variant_id`, `alt_text`...).

    `flush=False` leaves the row pending (INSERTed with the session's next flush, together with
    the rest of the step's writes): the caller then may not look it up with a query or
    `session.get` before that flush.
    """
    from sqlalchemy import select

    from shopify_app.images.normalize import normalize_image
    from shopify_app.models import Asset
    from shopify_app.models.base import new_ulid
    from shopify_app.models.enums import AssetKind

    kind = AssetKind(kind)
    normalized = normalize_image(data)
    full = normalized.full
    if job_id is not None:
        for pending in session.new:
            if (isinstance(pending, Asset) and pending.shop_id == shop_id and pending.job_id == job_id
                    and pending.kind == kind and pending.sha256 == full.sha256):
                return pending
        existing = session.scalars(
            select(Asset).where(
                Asset.shop_id == shop_id, Asset.job_id == job_id, Asset.kind == kind,
                Asset.sha256 == full.sha256,
            )
        ).first()
        if existing is not None:
            return existing

    if storage is None:
        if settings is None:
            from flask import current_app

            settings = current_app.config["STUDIO_SETTINGS"]
        storage = get_storage(settings)
    asset_id = new_ulid()
    prefix = asset_prefix(shop_id, kind.value, asset_id)
    # Files first, row second: a rolled-back transaction leaves unreferenced files (swept by
    # maintenance), never a row pointing at nothing.
    stored = storage.put(f"{prefix}full.{full.extension}", full.data, full.content_type)
    storage.put(f"{prefix}review.{normalized.review.extension}", normalized.review.data,
                normalized.review.content_type)
    asset = Asset(
        id=asset_id,
        shop_id=shop_id,
        job_id=job_id,
        catalog_model_id=catalog_model_id,
        kind=kind,
        storage_key=stored.key,
        sha256=full.sha256,
        width=full.width,
        height=full.height,
        format=full.format.lower(),
        byte_size=len(full.data),
        **links,
    )
    session.add(asset)
    if flush:
        session.flush()
    return asset
