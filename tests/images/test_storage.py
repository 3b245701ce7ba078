"""Storage keys cannot escape the root; `store_image` validates, normalises, stores, dedupes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from shopify_app.images.errors import InvalidImage
from shopify_app.images.storage import (
    InvalidKey,
    LocalStorage,
    Storage,
    get_storage,
    review_key,
    store_image,
)
from shopify_app.models import Asset, Shop
from shopify_app.models.enums import AssetKind
from tests.images.conftest import encode


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "media")


def test_put_read_open_delete(storage: LocalStorage) -> None:
    stored = storage.put("shop1/garment/a/full.jpg", b"abc", "image/jpeg")
    assert (stored.key, stored.size, stored.content_type) == ("shop1/garment/a/full.jpg", 3, "image/jpeg")
    assert storage.read("shop1/garment/a/full.jpg") == b"abc"
    with storage.open("shop1/garment/a/full.jpg") as fh:
        assert fh.read() == b"abc"
    assert storage.exists("shop1/garment/a/full.jpg")
    assert storage.path_for("shop1/garment/a/full.jpg") == storage.root / "shop1/garment/a/full.jpg"
    assert storage.url("shop1/garment/a/full.jpg") is None
    storage.delete("shop1/garment/a/full.jpg")
    storage.delete("shop1/garment/a/full.jpg")  # deleting twice is fine (retried deletes)
    assert not storage.exists("shop1/garment/a/full.jpg")


def test_put_replaces_atomically_and_leaves_no_temp_files(storage: LocalStorage) -> None:
    storage.put("s/k.png", b"one", "image/png")
    storage.put("s/k.png", b"two", "image/png")
    assert storage.read("s/k.png") == b"two"
    assert sorted(p.name for p in (storage.root / "s").iterdir()) == ["k.png"]


def test_delete_prefix_removes_one_shop_only(storage: LocalStorage) -> None:
    for key in ("shopA/garment/1/full.jpg", "shopA/portrait/2/full.jpg", "shopA/portrait/2/review.jpg", "shopB/garment/3/full.jpg"):
        storage.put(key, b"x", "image/jpeg")
    assert storage.delete_prefix("shopA/") == 3
    assert not (storage.root / "shopA").exists()
    assert storage.exists("shopB/garment/3/full.jpg")
    assert storage.delete_prefix("nobody/") == 0


@pytest.mark.parametrize(
    "key",
    ["../escape.jpg", "a/../../escape.jpg", "/etc/passwd", "a//b.jpg", "a/./b.jpg", "a\\..\\b.jpg", "a/%2e%2e/b",
     "", "a/", "shop/..", "x" * 300, "a/b c.jpg", "a/\x00.jpg"],
)
def test_unsafe_keys_are_refused(storage: LocalStorage, key: str) -> None:
    with pytest.raises(InvalidKey):
        storage.put(key, b"x", "image/jpeg")
    with pytest.raises(InvalidKey):
        storage.read(key)


def test_a_symlink_cannot_lead_out_of_the_root(storage: LocalStorage, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    storage.root.mkdir(parents=True, exist_ok=True)
    os.symlink(outside, storage.root / "shopX")
    with pytest.raises(InvalidKey):
        storage.put("shopX/secret.jpg", b"x", "image/jpeg")
    assert list(outside.iterdir()) == []


def test_get_storage_follows_settings(settings) -> None:  # noqa: ANN001
    storage = get_storage(settings)
    assert isinstance(storage, LocalStorage) and isinstance(storage, Storage)
    assert storage.root == Path(settings.media_root).resolve()
    with pytest.raises(ValueError, match="unknown media storage"):
        get_storage(settings.replace(media_storage="ftp"))


def test_review_key_sits_beside_the_full_image() -> None:
    assert review_key("s/garment/01H/full.jpg") == "s/garment/01H/review.jpg"
    assert review_key("s/try_on/01H/full.png") == "s/try_on/01H/review.png"


# ------------------------------------------------------------------------------ store_image


@pytest.fixture
def shop(session) -> Shop:  # noqa: ANN001
    shop = Shop(domain="images-test.myshopify.com")
    session.add(shop)
    session.flush()
    return shop


def _photo(colour: tuple[int, int, int] = (200, 60, 40), size: tuple[int, int] = (5000, 3000)) -> bytes:
    return encode(Image.new("RGB", size, colour), "JPEG", quality=90)


def test_store_image_creates_a_normalised_asset_under_the_shop(app, session, shop: Shop) -> None:  # noqa: ANN001
    asset = store_image(session, shop.id, AssetKind.GARMENT, _photo(), shopify_product_id="gid://shopify/Product/1")
    storage = get_storage(app.config["STUDIO_SETTINGS"])
    assert asset.storage_key == f"{shop.id}/garment/{asset.id}/full.jpg"
    assert (asset.width, asset.height, asset.format) == (4472, 2683, "jpeg")
    assert asset.shopify_product_id == "gid://shopify/Product/1"
    data = storage.read(asset.storage_key)
    assert len(data) == asset.byte_size
    assert hashlib.sha256(data).hexdigest() == asset.sha256
    with storage.open(review_key(asset.storage_key)) as fh, Image.open(fh) as review:
        assert max(review.size) == 2048


def test_store_image_dedupes_the_same_picture_within_a_job(app, session, shop: Shop) -> None:  # noqa: ANN001
    from shopify_app.models import GenerationJob

    job = GenerationJob(shop_id=shop.id, workflow="try-on")
    session.add(job)
    session.flush()
    first = store_image(session, shop.id, "try_on", _photo(size=(800, 600)), job_id=job.id)
    again = store_image(session, shop.id, "try_on", _photo(size=(800, 600)), job_id=job.id)
    other = store_image(session, shop.id, "try_on", _photo((10, 10, 200), (800, 600)), job_id=job.id)
    assert again.id == first.id
    assert other.id != first.id
    assert session.scalar(select(func.count()).select_from(Asset).where(Asset.job_id == job.id)) == 2


def test_store_image_refuses_what_is_not_an_image(app, session, shop: Shop) -> None:  # noqa: ANN001
    with pytest.raises(InvalidImage):
        store_image(session, shop.id, "garment", b"GIF89a not really")
    assert session.scalar(select(func.count()).select_from(Asset)) == 0
