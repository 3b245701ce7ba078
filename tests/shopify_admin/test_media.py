"""Publishing images to product media against the dev shop, end to end through RQ steps."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from rq import SimpleWorker
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from shopify_app.devshop import control
from shopify_app.models import Asset, GenerationJob, JobStatus, MediaPush, PushState
from shopify_app.queues import QUEUE_NAMES, get_broker
from shopify_app.shopify import admin, media
from tests.support.devshop import (
    first_product,
    graphql_calls,
    install_dev_shop,
    make_asset,
    publishing_job,
)
from tests.support.worker import drain, release_scheduled, work_queued


def _setup(app: Flask, session, n: int = 3, handle: str = "linen-camp-shirt", **asset_options):  # noqa: ANN001, ANN202
    settings = app.config["STUDIO_SETTINGS"]
    shop = install_dev_shop(session, settings)
    product = first_product(app, handle)
    assets = [make_asset(session, settings, shop, product, alt=f"Olive linen shirt on Maya, look {i + 1}",
                         color=(40 * i, 90, 60), **asset_options) for i in range(n)]
    job = publishing_job(session, shop)
    return settings, shop, product, assets, job


def drain_skipping_time(app: Flask, settings, max_rounds: int = 50) -> None:  # noqa: ANN001
    """`drain(include_future=True)` runs a step handed back for later at once; the shop's cost
    bucket would have refilled in the time skipped, so it is refilled (and the app's mirror of it
    forgotten) before each round too. Steps never sleep for the bucket: without this, a step the
    drained bucket sent away would come back before any points had."""
    broker = get_broker(app)
    queues = [broker.queue(name) for name in QUEUE_NAMES]
    for _ in range(max_rounds):
        control.set_bucket(available=float("inf"), settings=settings)
        broker.redis.delete(admin.CostBudget(broker.redis, settings.dev_shop_domain).key)
        release_scheduled(app, include_future=True)
        if not any(q.count for q in queues):
            return
        SimpleWorker(queues, connection=broker.redis).work(burst=True, with_scheduler=False)
    raise AssertionError(f"queues still busy after {max_rounds} rounds")


def test_three_images_one_staged_upload_one_attach_then_ready(app: Flask, session) -> None:  # noqa: ANN001
    settings, shop, product, assets, job = _setup(app, session)
    merchant_media = control.product_media(product, settings)
    control.clear_calls(settings)

    pushes = media.publish_assets(session, shop, job, [a.id for a in assets])
    session.commit()
    assert len(pushes) == 1
    drain(app, include_future=True)

    assert len(graphql_calls(settings, "stagedUploadsCreate")) == 1
    assert len(graphql_calls(settings, "productUpdate")) == 1
    session.expire_all()
    job = session.get(GenerationJob, job.id)
    assert job.status == JobStatus.SUCCESS, job.error_message
    after = control.product_media(product, settings)
    ours = [m for m in after if m["by_app"]]
    assert [m["alt"] for m in ours] == [a.alt_text for a in assets]
    assert all(m["status"] == "READY" for m in ours)
    assert [m["id"] for m in after[:len(merchant_media)]] == [m["id"] for m in merchant_media]
    for asset in assets:
        session.refresh(asset)
        assert asset.push_state == PushState.READY
        assert asset.shopify_media_id in {m["gid"] for m in ours}
    assert {r["status"] for r in job.outputs["media"]} == {"READY"}
    # Admin calls for the whole publish: stage + attach + status polls (2 in the dev shop).
    all_calls = graphql_calls(settings, outcome=None)
    assert len(all_calls) == 4
    assert admin.call_count(get_broker(app).redis, shop.domain) == 4


def _two_products(app: Flask, session):  # noqa: ANN001, ANN202
    settings, shop, product, assets, job = _setup(app, session, n=2)
    other = first_product(app, "wrap-midi-dress")
    assets.append(make_asset(session, settings, shop, other, alt="Wrap dress on Maya", color=(200, 40, 90)))
    pushes = media.publish_assets(session, shop, job, [a.id for a in assets])
    session.commit()
    assert len(pushes) == 2
    return settings, job, product, other


def test_one_staged_upload_call_stages_every_product_of_a_step(app: Flask, session) -> None:  # noqa: ANN001
    settings, job, product, other = _two_products(app, session)
    control.clear_calls(settings)
    drain(app, include_future=True)

    staged = graphql_calls(settings, "stagedUploadsCreate")
    assert len(staged) == 1
    assert len(graphql_calls(settings, "productUpdate")) == 2
    session.expire_all()
    assert session.get(GenerationJob, job.id).status == JobStatus.SUCCESS
    for gid, count in ((product, 2), (other, 1)):
        ours = [m for m in control.product_media(gid, settings) if m["by_app"]]
        assert len(ours) == count and all(m["status"] == "READY" for m in ours)


def test_an_image_shopify_refuses_to_stage_fails_only_its_product(app: Flask, session, monkeypatch) -> None:  # noqa: ANN001
    settings, job, product, other = _two_products(app, session)
    real = media._image_bytes

    def refused_for_the_dress(settings, asset):  # noqa: ANN001, ANN202
        data, filename, mime = real(settings, asset)
        return (data, filename, "application/pdf") if asset.shopify_product_id == other else (data, filename, mime)

    monkeypatch.setattr(media, "_image_bytes", refused_for_the_dress)
    control.clear_calls(settings)
    drain(app, include_future=True)

    # The step's one call was refused (a userError names the dress's input); then each product
    # was staged on its own: the shirt's images published, the dress's push failed with the reason.
    assert len(graphql_calls(settings, "stagedUploadsCreate", outcome=None)) == 3
    assert len([m for m in control.product_media(product, settings) if m["by_app"] and m["status"] == "READY"]) == 2
    assert not [m for m in control.product_media(other, settings) if m["by_app"]]
    pushes = {p.shopify_product_id: p for p in session.scalars(__import__("sqlalchemy").select(MediaPush))}
    assert pushes[product].state == PushState.READY
    assert pushes[other].state == PushState.FAILED and "mime type" in (pushes[other].error_message or "").lower()
    session.expire_all()
    assert session.get(GenerationJob, job.id).status == JobStatus.SUCCESS


def test_publishing_twice_pushes_nothing_twice(app: Flask, session) -> None:  # noqa: ANN001
    settings, shop, product, assets, job = _setup(app, session, n=2)
    media.publish_assets(session, shop, job, [a.id for a in assets])
    session.commit()
    drain(app, include_future=True)
    again = publishing_job(session, shop)
    assert media.publish_assets(session, shop, again, [a.id for a in assets]) == []
    assert len([m for m in control.product_media(product, settings) if m["by_app"]]) == 2


def test_a_publish_under_throttling_and_5xx_faults_ends_ready_without_duplicates(app: Flask, session) -> None:  # noqa: ANN001
    settings, shop, product, assets, job = _setup(app, session)
    before = len(control.product_media(product, settings))
    control.inject_fault("THROTTLED", operation="stagedUploadsCreate", settings=settings)
    control.inject_fault("HTTP_5XX", status=503, operation="stagedUploadsCreate", settings=settings)
    control.inject_fault("HTTP_5XX", status=503, operation="upload", settings=settings)
    control.inject_fault("THROTTLED", operation="productUpdate", settings=settings)
    # The attach is applied, then its answer is lost: the next attempt must reconcile, not re-attach.
    control.inject_fault("HTTP_5XX_AFTER", status=502, operation="productUpdate", settings=settings)
    control.inject_fault("HTTP_429", retry_after=0.2, operation="nodes", settings=settings)
    control.inject_fault("HTTP_5XX", status=500, count=2, operation="nodes", settings=settings)

    media.publish_assets(session, shop, job, [a.id for a in assets])
    session.commit()
    drain_skipping_time(app, settings)

    session.expire_all()
    job = session.get(GenerationJob, job.id)
    assert job.status == JobStatus.SUCCESS, job.error_message
    after = control.product_media(product, settings)
    ours = [m for m in after if m["by_app"]]
    assert len(after) == before + 3 and len(ours) == 3
    assert all(m["status"] == "READY" for m in ours)
    assert sorted(m["gid"] for m in ours) == sorted(session.get(Asset, a.id).shopify_media_id for a in assets)
    outcomes = [c["outcome"] for c in control.calls(settings)]
    for expected in ("throttled", "http_5xx", "http_5xx_after", "http_429"):
        assert expected in outcomes
    assert control.store(settings).pending_faults() == []
    # productUpdate ran (succeeded) exactly once; the lost answer was reconciled by a query.
    assert len([c for c in control.calls(settings) if "productUpdate" in c["root_fields"]
                and c["outcome"] in ("ok", "http_5xx_after")]) == 1


def test_a_crash_after_the_attach_is_reconciled_from_the_product(app: Flask, session, monkeypatch) -> None:  # noqa: ANN001
    settings, shop, product, assets, job = _setup(app, session, n=2)
    media.publish_assets(session, shop, job, [a.id for a in assets])
    session.commit()

    real_claim = media._claim_media
    crashed = []

    def crash_once(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if not crashed:
            crashed.append(True)
            raise SystemExit("worker killed between attach and record")
        return real_claim(*args, **kwargs)

    monkeypatch.setattr(media, "_claim_media", crash_once)
    try:
        drain(app)
    except SystemExit:
        pass
    session.rollback()
    session.expire_all()
    push = session.scalars(__import__("sqlalchemy").select(MediaPush)).one()
    assert push.attach_requested_at is not None  # committed before the call
    assert push.state == PushState.UPLOADED
    # The reconciler would put the lost step back; here we reschedule it as it would.
    from shopify_app.steps import schedule_step

    job = session.get(GenerationJob, job.id)
    schedule_step(session, job, media.PUBLISH_STEP, "media")
    session.commit()
    drain(app, include_future=True)
    session.expire_all()
    assert session.get(GenerationJob, job.id).status == JobStatus.SUCCESS
    assert len([m for m in control.product_media(product, settings) if m["by_app"]]) == 2
    assert len(graphql_calls(settings, "productUpdate")) == 1


def test_undo_removes_only_our_media(app: Flask, session) -> None:  # noqa: ANN001
    settings, shop, product, assets, job = _setup(app, session, n=2)
    merchant = control.product_media(product, settings)
    media.publish_assets(session, shop, job, [a.id for a in assets])
    session.commit()
    drain(app, include_future=True)
    assert len(control.product_media(product, settings)) == len(merchant) + 2

    undo_job = publishing_job(session, shop, workflow="undo-push")
    pushes = media.undo_publish(session, shop, undo_job, source_job_id=job.id)
    session.commit()
    assert len(pushes) == 1
    drain(app, include_future=True)
    session.expire_all()
    assert session.get(GenerationJob, undo_job.id).status == JobStatus.SUCCESS
    remaining = control.product_media(product, settings)
    assert [m["id"] for m in remaining] == [m["id"] for m in merchant]
    assert all(session.get(Asset, a.id).push_state == PushState.REMOVED for a in assets)
    # Published again after the undo: pushed anew, once.
    again = publishing_job(session, shop)
    assert len(media.publish_assets(session, shop, again, [assets[0].id])) == 1


def test_variant_attachment_and_undo_restores_the_merchants_variant_image(app: Flask, session) -> None:  # noqa: ANN001
    settings = app.config["STUDIO_SETTINGS"]
    shop = install_dev_shop(session, settings)
    product = first_product(app, "classic-crew-tee")
    variant = control.variants(product, settings)[0]  # Heather Grey / S, has the merchant's grey photo
    merchant_media = [m for m in control.product_media(product, settings) if variant["gid"] in m["variant_ids"]]
    assert len(merchant_media) == 1
    asset = make_asset(session, settings, shop, product, alt="Grey tee on Kai", variant_gid=variant["gid"])
    job = publishing_job(session, shop)
    media.publish_assets(session, shop, job, [asset.id])
    session.commit()
    drain(app, include_future=True)
    session.expire_all()
    assert session.get(GenerationJob, job.id).status == JobStatus.SUCCESS
    ours = session.get(Asset, asset.id).shopify_media_id
    by_gid = {m["gid"]: m for m in control.product_media(product, settings)}
    assert by_gid[ours]["variant_ids"] == [variant["gid"]]
    assert variant["gid"] not in by_gid[merchant_media[0]["gid"]]["variant_ids"]  # replaced on this variant only
    assert len(by_gid[merchant_media[0]["gid"]]["variant_ids"]) == 2  # the M and L variants keep it

    undo_job = publishing_job(session, shop, workflow="undo-push")
    media.undo_publish(session, shop, undo_job, asset_ids=[asset.id])
    session.commit()
    drain(app, include_future=True)
    by_gid = {m["gid"]: m for m in control.product_media(product, settings)}
    assert ours not in by_gid
    assert variant["gid"] in by_gid[merchant_media[0]["gid"]]["variant_ids"]
    assert len(by_gid[merchant_media[0]["gid"]]["variant_ids"]) == 3


def test_failed_processing_fails_the_job_with_a_reason(app: Flask, session) -> None:  # noqa: ANN001
    settings, shop, product, assets, job = _setup(app, session, n=1)
    control.inject_fault("MEDIA_FAILED", settings=settings)
    media.publish_assets(session, shop, job, [assets[0].id])
    session.commit()
    drain(app, include_future=True)
    session.expire_all()
    job = session.get(GenerationJob, job.id)
    assert job.status == JobStatus.FAILURE and job.error_code == "media_failed"
    assert "processing failed" in (job.error_message or "").lower()
    assert session.get(Asset, assets[0].id).push_state == PushState.FAILED


def test_publish_is_scoped_to_the_shop(app: Flask, session) -> None:  # noqa: ANN001
    import pytest

    from shopify_app.models import Shop

    settings, shop, product, assets, job = _setup(app, session, n=1)
    other = Shop(domain="other-shop.myshopify.com", scopes="")
    session.add(other)
    session.commit()
    with pytest.raises(media.PublishError, match="unknown assets"):
        media.publish_assets(session, other, publishing_job(session, other), [assets[0].id])


def test_a_spent_budget_hands_the_attaches_back_to_the_scheduler_and_they_attach_once_later(
        app: Flask, session, monkeypatch) -> None:  # noqa: ANN001
    settings, job, product, other = _two_products(app, session)
    redis = get_broker(app).redis
    # Enough points for the staged upload (10), not for an attach after it: at 1 point/s the
    # attach's 10 points are 5 s away, far more than a job step may wait.
    control.set_bucket(maximum=2000, restore_rate=1, available=15, settings=settings)
    control.clear_calls(settings)
    reservations: list[int] = []
    reserve = admin.CostBudget.reserve

    def counted(budget: admin.CostBudget, cost: int) -> float:
        reservations.append(cost)
        return reserve(budget, cost)

    monkeypatch.setattr(admin.CostBudget, "reserve", counted)
    work_queued(app)

    session.expire_all()
    pushes = session.scalars(select(MediaPush)).all()
    assert [p.state for p in pushes] == [PushState.UPLOADED] * 2
    assert [p.attach_requested_at for p in pushes] == [None, None]  # not sent: nothing to reconcile
    assert graphql_calls(settings, "productUpdate", outcome=None) == []
    # The staged upload, then the first attach: the second product's attach comes back with it
    # instead of asking the spent bucket again.
    assert len(reservations) == 2
    # The step comes back when the points will be there, instead of sleeping for them.
    scheduled = ScheduledJobRegistry(queue=get_broker(app).queue("media"))
    [rq_job_id] = scheduled.get_job_ids()
    assert rq_job_id == session.get(GenerationJob, job.id).rq_job_id
    assert (scheduled.get_scheduled_time(rq_job_id) - dt.datetime.now(dt.UTC)).total_seconds() > 2

    # The bucket refills (and the app's mirror of it is forgotten): the next run attaches.
    control.set_bucket(restore_rate=100, available=2000, settings=settings)
    redis.delete(admin.CostBudget(redis, settings.dev_shop_domain).key)
    drain(app, include_future=True)
    session.expire_all()
    assert session.get(GenerationJob, job.id).status == JobStatus.SUCCESS
    assert len(graphql_calls(settings, "productUpdate")) == 2  # once per product
    assert graphql_calls(settings, "product", outcome=None) == []  # no reconcile query
    for gid, count in ((product, 2), (other, 1)):
        ours = [m for m in control.product_media(gid, settings) if m["by_app"]]
        assert len(ours) == count and all(m["status"] == "READY" for m in ours)
