"""Every failure point of a catalog shoot: exactly one refund, of exactly what was not delivered,
and nothing half-published (a product has all of its delivered images READY, or none of ours).

The shoot is 3 products × 2 images, published directly (6 credits). Faults are injected in the
local provider (monkeypatched: the steps run in this process), the dev shop (its fault API), and
by webhooks, the merchant, and the reconciler arriving mid-run.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image
from rq import SimpleWorker
from sqlalchemy import select

from jobs.maintenance import reconcile
from shopify_app.devshop import control
from shopify_app.models import (
    Asset,
    AssetKind,
    CreditLedger,
    GenerationJob,
    JobStatus,
    LedgerKind,
    MediaPush,
    PushState,
    utcnow,
)
from shopify_app.providers import local
from shopify_app.providers.base import ContentError, OutputImage, PollResult, TechnicalError
from shopify_app.models.enums import ProviderTaskStatus
from shopify_app.queues import QUEUE_NAMES, get_broker
from shopify_app.workflows import review
from tests.support.shopify import fixture
from tests.workflows.conftest import HANDLES, Studio

COST = 6
PER_PRODUCT = 2


class Target:
    """Which provider tasks belong to the first product (product A), found from the task's
    idempotency key (`{job}:{role}:{attempt}`) at submit time."""

    def __init__(self, studio: Studio) -> None:
        self.studio = studio
        self.product = studio.product(HANDLES[0])
        self.upstream_ids: set[str] = set()

    def wrap_submit(self, monkeypatch: pytest.MonkeyPatch, fail: Exception | None = None) -> None:
        original = local.LocalProvider.submit_try_on
        target = self

        def submit(provider: Any, person: Any, garment: Any, options: Any) -> Any:
            job_id = (options.idempotency_key or "").split(":")[0]
            job = target.studio.session.get(GenerationJob, job_id)
            mine = job is not None and job.shopify_product_id == target.product
            if mine and fail is not None:
                raise fail
            submitted = original(provider, person, garment, options)
            if mine:
                target.upstream_ids.add(submitted.upstream_id)
            return submitted

        monkeypatch.setattr(local.LocalProvider, "submit_try_on", submit)


def blank_jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (1024, 1536), (200, 200, 200)).save(out, "JPEG")
    return out.getvalue()


def run_jobs(studio: Studio, count: int) -> None:
    """Run exactly `count` queued steps (to stop a shoot part-way)."""
    broker = get_broker(studio.app)
    SimpleWorker([broker.queue(q) for q in QUEUE_NAMES], connection=broker.redis).work(
        burst=True, max_jobs=count, with_scheduler=False)
    studio.session.expire_all()


# ----------------------------------------------------------------------------- the failure points

def provider_submit_fails(studio: Studio, target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    target.wrap_submit(monkeypatch, TechnicalError("upstream 503", code="http_503"))


def provider_reports_failure(studio: Studio, target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    target.wrap_submit(monkeypatch)
    original = local.LocalProvider.poll

    def poll(provider: Any, task: Any) -> PollResult:
        if task.upstream_id in target.upstream_ids:
            return PollResult(status=ProviderTaskStatus.FAILED,
                              error=ContentError("We couldn't find a pose in the model photo.", code="pose"))
        return original(provider, task)

    monkeypatch.setattr(local.LocalProvider, "poll", poll)


def fewer_images_than_paid(studio: Studio, target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    original = local.LocalProvider.fetch_outputs
    monkeypatch.setattr(local.LocalProvider, "fetch_outputs", lambda p, t: original(p, t)[:1])


def corrupt_output(studio: Studio, target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    target.wrap_submit(monkeypatch)
    original = local.LocalProvider.fetch_outputs

    def fetch(provider: Any, task: Any) -> list[OutputImage]:
        outputs = original(provider, task)
        if task.upstream_id in target.upstream_ids:
            outputs[1] = OutputImage(data=b"\xff\xd8\xff\xe0 not really a jpeg", content_type="image/jpeg")
        return outputs

    monkeypatch.setattr(local.LocalProvider, "fetch_outputs", fetch)


def blank_outputs_held_back(studio: Studio, target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    target.wrap_submit(monkeypatch)
    original = local.LocalProvider.fetch_outputs

    def fetch(provider: Any, task: Any) -> list[OutputImage]:
        outputs = original(provider, task)
        if task.upstream_id in target.upstream_ids:
            return [OutputImage(data=blank_jpeg(), content_type="image/jpeg")] * 2
        return outputs

    monkeypatch.setattr(local.LocalProvider, "fetch_outputs", fetch)


def product_without_image(studio: Studio, target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    from shopify_app.devshop.control import parse_gid

    with control.store(studio.settings).write() as conn:
        conn.execute("DELETE FROM variant_media WHERE media_id IN (SELECT id FROM media WHERE product_id = ?)",
                     (parse_gid(target.product, "Product"),))
        conn.execute("DELETE FROM media WHERE product_id = ?", (parse_gid(target.product, "Product"),))


def media_processing_fails(studio: Studio, target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    control.inject_fault("MEDIA_FAILED", count=2, settings=studio.settings)


def uploads_keep_failing(studio: Studio, target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    control.inject_fault("HTTP_5XX", count=1000, status=503, operation="upload", settings=studio.settings)


SETUP = {
    "provider_submit_fails": (provider_submit_fails, 2),
    "provider_reports_failure": (provider_reports_failure, 2),
    "fewer_images_than_paid": (fewer_images_than_paid, 3),
    "corrupt_output": (corrupt_output, 1),
    "blank_outputs_held_back": (blank_outputs_held_back, 2),
    "product_without_image": (product_without_image, 2),
    "media_processing_fails": (media_processing_fails, 2),
    "uploads_keep_failing": (uploads_keep_failing, 6),
}


def product_deleted(studio: Studio, target: Target) -> None:
    payload = fixture("webhooks", "products_delete")
    payload["id"] = int(target.product.rsplit("/", 1)[-1])
    assert control.send_webhook("products/delete", payload, app=studio.app) == 200


def shop_uninstalled(studio: Studio, target: Target) -> None:
    assert control.send_webhook("app/uninstalled", fixture("webhooks", "app_uninstalled"), app=studio.app) == 200


def merchant_cancels(studio: Studio, target: Target) -> None:
    shoot = studio.session.scalar(select(GenerationJob).where(GenerationJob.workflow == "catalog-shoot"))
    review.cancel(studio.session, studio.shop, shoot.id)
    studio.session.commit()


def reconciler_gives_up(studio: Studio, target: Target) -> None:
    deadline = studio.settings.job_deadline_seconds
    report = reconcile(now=utcnow() + dt.timedelta(seconds=deadline + 60))
    assert report.failed


MID_RUN = {
    # (what happens after the shoot fanned out to its products, credits refunded)
    "product_deleted": (product_deleted, 2),
    "shop_uninstalled": (shop_uninstalled, 6),
    "merchant_cancels": (merchant_cancels, 6),
    "reconciler_gives_up": (reconciler_gives_up, 6),
}


# ----------------------------------------------------------------------------- the checks

def check_one_refund_nothing_half_published(studio: Studio, shoot_id: str, refunded: int) -> None:
    session = studio.session
    session.expire_all()
    shoot = session.get(GenerationJob, shoot_id)
    assert shoot is not None and JobStatus(shoot.status).terminal
    charges = studio.ledger(LedgerKind.CHARGE)
    assert [(c.job_id, c.amount) for c in charges if c.job_id == shoot_id] == [(shoot_id, -COST)]
    assert len(charges) == 2  # the catalog model's generation, and the shoot: children are free
    refunds = session.scalars(select(CreditLedger).where(CreditLedger.kind == LedgerKind.REFUND)).all()
    assert [(r.job_id, r.amount) for r in refunds] == [(shoot_id, refunded)]
    assert shoot.credits_refunded == refunded
    assert studio.balance() == 100 - 4 - COST + refunded
    children = studio.children(shoot_id)
    assert all(JobStatus(c.status).terminal for c in children)
    assert all(c.credits_cost == 0 for c in children)
    delivered = 0
    for product in studio.products():
        ours = studio.our_media(product)
        ready_assets = session.scalars(select(Asset).where(
            Asset.shopify_product_id == product, Asset.kind == AssetKind.TRY_ON,
            Asset.push_state == PushState.READY)).all()
        # All or nothing per product, and nothing of ours left processing on Shopify.
        assert len(ours) in (0, PER_PRODUCT) or len(ours) == len(ready_assets), (product, ours)
        assert all(m["status"] in ("READY", "FAILED") for m in ours)
        assert sorted(m["gid"] for m in ours if m["status"] == "READY") == sorted(a.shopify_media_id for a in ready_assets)
        delivered += len(ready_assets)
    assert COST - delivered == refunded  # one credit per image, refunded per image not delivered
    active = session.scalars(select(MediaPush).where(
        MediaPush.state.in_([PushState.QUEUED, PushState.UPLOADED, PushState.PROCESSING]))).all()
    assert active == [] or JobStatus(shoot.status) is JobStatus.FAILURE and all(
        session.get(GenerationJob, p.job_id).status == JobStatus.FAILURE for p in active)


@pytest.fixture
def shoot_for(studio: Studio, ready_model) -> Callable[[], GenerationJob]:  # noqa: ANN001
    model = ready_model()

    def make() -> GenerationJob:
        return studio.create("catalog-shoot", catalog_model_id=model.id, product_ids=studio.products(),
                             num_images=PER_PRODUCT, publish="direct")

    return make


@pytest.mark.parametrize("point", sorted(SETUP))
def test_a_failure_before_or_during_the_work_refunds_once(
    point: str, studio: Studio, shoot_for: Callable[[], GenerationJob], monkeypatch: pytest.MonkeyPatch,
) -> None:
    setup, refunded = SETUP[point]
    setup(studio, Target(studio), monkeypatch)
    shoot = shoot_for()
    studio.run()
    check_one_refund_nothing_half_published(studio, shoot.id, refunded)


@pytest.mark.parametrize("point", sorted(MID_RUN))
def test_a_failure_arriving_mid_run_refunds_once(
    point: str, studio: Studio, shoot_for: Callable[[], GenerationJob],
) -> None:
    event, refunded = MID_RUN[point]
    target = Target(studio)
    shoot = shoot_for()
    run_jobs(studio, 1)  # the shoot's start: its products are now child jobs, none started
    assert len(studio.children(shoot.id)) == 3
    event(studio, target)
    studio.run()
    check_one_refund_nothing_half_published(studio, shoot.id, refunded)
    # Running everything again (late messages, a reconciler pass) changes nothing.
    reconcile(now=utcnow() + dt.timedelta(seconds=60))
    studio.run()
    check_one_refund_nothing_half_published(studio, shoot.id, refunded)
