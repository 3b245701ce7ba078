"""Jobs, request logs, catalog models and signed files: scoped to the caller's shop."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from PIL import Image
from sqlalchemy.orm import Session

from shopify_app import credits
from shopify_app.api import files
from shopify_app.models import Asset, AssetKind, GenerationJob, JobStatus
from shopify_app.steps import fail_job
from tests.api.conftest import SPEC, ApiUser, ready_catalog_model
from tests.support.worker import drain, work_queued


def _png_asset(session: Session, media_root: Path, job: GenerationJob | None, shop_id: str,
               kind: AssetKind = AssetKind.TRY_ON, catalog_model_id: str | None = None,
               held_reason: str | None = None) -> Asset:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 12), (200, 30, 30)).save(buffer, "PNG")
    data = buffer.getvalue()
    key = f"{shop_id}/{kind.value}-{time.perf_counter_ns()}.png"
    (media_root / key).parent.mkdir(parents=True, exist_ok=True)
    (media_root / key).write_bytes(data)
    asset = Asset(shop_id=shop_id, job_id=job.id if job else None, catalog_model_id=catalog_model_id, kind=kind,
                  storage_key=key, sha256="0" * 64, width=8, height=12, format="png", byte_size=len(data),
                  shopify_product_id="gid://shopify/Product/1" if kind is AssetKind.TRY_ON else None,
                  held_reason=held_reason)
    session.add(asset)
    session.commit()
    return asset


def test_job_shows_status_outputs_cost_and_refund(app: Flask, user: ApiUser, session: Session) -> None:
    model = ready_catalog_model(session, user.shop)
    accepted = user.post("/v1/try-on", {"catalog_model_id": model.id, "product_id": "1", "num_images": 2}).json
    job = session.get(GenerationJob, accepted["job_id"])
    settings = app.config["STUDIO_SETTINGS"]
    good = _png_asset(session, settings.media_root, job, user.shop.id)
    held = _png_asset(session, settings.media_root, job, user.shop.id, held_reason="garment colour differs")
    fail_job(session, job, "provider_failed", "The provider could not dress the model.")
    session.commit()

    response = user.get(f"/v1/jobs/{job.id}")
    assert response.status_code == 200
    body = response.json
    assert body["status"] == "FAILURE" and body["stage"] == "failed"
    assert body["error"] == {"code": "provider_failed", "message": "The provider could not dress the model."}
    assert body["credits_cost"] == 2 and body["credits_refunded"] == 2
    assert body["request_id"] == accepted["request_id"]
    outputs = {o["asset_id"]: o for o in body["outputs"]}
    assert outputs[held.id]["url"] is None and outputs[held.id]["held_reason"] == "garment colour differs"
    url = outputs[good.id]["url"]
    assert url.startswith("https://studio.test/v1/files/")
    assert outputs[good.id]["expires_at"] is not None

    download = user.client.get(url.removeprefix("https://studio.test"))
    assert download.status_code == 200
    assert download.mimetype == "image/png"
    assert Image.open(io.BytesIO(download.data)).size == (8, 12)


def test_signed_urls_expire_and_refuse_tampering(
    app: Flask, user: ApiUser, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = app.config["STUDIO_SETTINGS"]
    asset = _png_asset(session, settings.media_root, None, user.shop.id)
    path = files.sign(asset).url.removeprefix("https://studio.test")
    token = path.rsplit("/", 1)[1]

    assert user.client.get(path).status_code == 200
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert user.client.get(f"/v1/files/{tampered}").status_code == 403
    assert user.client.get("/v1/files/not-a-token").status_code == 403
    # Signed for another asset id by someone without the secret: a forged payload.
    forged = URLSafeTimedSerializer("guessed-secret", salt=files.SALT).dumps({"a": asset.id, "s": user.shop.id})
    assert user.client.get(f"/v1/files/{forged}").status_code == 403

    # A link signed one TTL (plus a second) ago.
    issued = int(time.time()) - settings.file_url_ttl_seconds - 1
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: issued)
    old_path = files.sign(asset).url.removeprefix("https://studio.test")
    monkeypatch.undo()
    expired = user.client.get(old_path)
    assert expired.status_code == 410
    assert "expired" in expired.json["detail"]


def test_signed_url_for_a_deleted_file_is_404(app: Flask, user: ApiUser, session: Session) -> None:
    settings = app.config["STUDIO_SETTINGS"]
    asset = _png_asset(session, settings.media_root, None, user.shop.id)
    path = files.sign(asset).url.removeprefix("https://studio.test")
    (settings.media_root / asset.storage_key).unlink()
    assert user.client.get(path).status_code == 404


def test_another_shops_ids_are_404(user: ApiUser, other_user: ApiUser, session: Session) -> None:
    theirs = ready_catalog_model(session, other_user.shop)
    their_job = other_user.post("/v1/try-on", {"catalog_model_id": theirs.id, "product_id": "5"}).json

    assert user.get(f"/v1/jobs/{their_job['job_id']}").status_code == 404
    assert user.get(f"/v1/requests/{their_job['request_id']}").status_code == 404
    assert user.get(f"/v1/catalog-models/{theirs.id}").status_code == 404
    assert user.get("/v1/catalog-models").json["items"] == []
    # Referencing their catalog model in a workflow is not found either (and charges nothing).
    attempt = user.post("/v1/try-on", {"catalog_model_id": theirs.id, "product_id": "5"})
    assert attempt.status_code == 404
    assert credits.balance(session, user.shop.id) == 100

    assert other_user.get(f"/v1/jobs/{their_job['job_id']}").status_code == 200
    assert other_user.get(f"/v1/requests/{their_job['request_id']}").status_code == 200
    assert other_user.get(f"/v1/catalog-models/{theirs.id}").status_code == 200


@pytest.mark.parametrize("bad_id", ["nope", "0" * 26, "01JC" + "U" * 22, "x" * 500])
def test_malformed_ids_are_404(user: ApiUser, bad_id: str) -> None:
    assert user.get(f"/v1/jobs/{bad_id}").status_code == 404
    assert user.get(f"/v1/catalog-models/{bad_id}").status_code == 404


def test_catalog_models_are_paged_newest_first(app: Flask, user: ApiUser, session: Session) -> None:
    created = [ready_catalog_model(session, user.shop, f"Model {i}").id for i in range(5)]
    portrait = _png_asset(session, app.config["STUDIO_SETTINGS"].media_root, None, user.shop.id,
                          kind=AssetKind.PORTRAIT, catalog_model_id=created[-1])

    first = user.get("/v1/catalog-models", query_string={"limit": 2}).json
    assert [m["id"] for m in first["items"]] == created[::-1][:2]
    assert first["items"][0]["portraits"][0]["asset_id"] == portrait.id
    second = user.get("/v1/catalog-models", query_string={"limit": 2, "cursor": first["next_cursor"]}).json
    third = user.get("/v1/catalog-models", query_string={"limit": 2, "cursor": second["next_cursor"]}).json
    assert [m["id"] for m in second["items"] + third["items"]] == created[::-1][2:]
    assert third["next_cursor"] is None

    bad = user.get("/v1/catalog-models", query_string={"limit": 0})
    assert bad.status_code == 422 and bad.json["detail"][0]["loc"] == ["query", "limit"]
    assert user.get("/v1/catalog-models", query_string={"cursor": "x"}).status_code == 422

    one = user.get(f"/v1/catalog-models/{created[0]}").json
    assert one["display_name"] == "Model 0" and one["gender"] == "FEMALE" and one["status"] == "ready"


def test_request_log_is_readable(user: ApiUser) -> None:
    accepted = user.post("/v1/model-generator", SPEC).json
    body = user.get(f"/v1/requests/{accepted['request_id']}").json
    assert body["status_code"] == 202 and body["job_id"] == accepted["job_id"]
    assert body["path"] == "/v1/model-generator" and body["response_body"] == accepted


def test_the_start_seam_marks_the_job_in_progress(app: Flask, user: ApiUser, session: Session) -> None:
    accepted = user.post("/v1/model-generator", SPEC).json
    # The start step only: its poll stays scheduled (drain() would run it once due, which a slow
    # machine reaches while still draining, and the job would be finished).
    work_queued(app)
    session.expire_all()
    job = session.get(GenerationJob, accepted["job_id"])
    assert job.status == JobStatus.IN_PROGRESS and job.started_at is not None
    assert user.get(f"/v1/jobs/{job.id}").json["status"] == "IN_PROGRESS"


def test_a_storage_key_outside_media_root_is_never_served(app: Flask, user: ApiUser, session: Session) -> None:
    settings = app.config["STUDIO_SETTINGS"]
    (settings.media_root.parent / "secret.txt").write_text("no")
    asset = _png_asset(session, settings.media_root, None, user.shop.id)
    asset.storage_key = "../secret.txt"
    session.commit()
    response = user.client.get(files.sign(asset).url.removeprefix("https://studio.test"))
    assert response.status_code == 404


def test_api_404_for_unknown_paths_is_json(client: FlaskClient) -> None:
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404 and response.is_json
