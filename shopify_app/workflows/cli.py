"""`flask studio shoot --shop DOMAIN --model ID --products ID,ID…`: a catalog shoot from a terminal.

The shoot is created exactly as the API creates one (charged, then run by the workers); the
command then follows the job with a progress bar and prints where every image went. Workers do
the work (`flask studio worker`); `--inline` runs the steps in this process instead, for a
machine with no worker running.
"""

from __future__ import annotations

import time

import click
from flask import Flask, current_app
from sqlalchemy import select

from shopify_app import credits, db
from shopify_app.cli import register
from shopify_app.models import Asset, AssetKind, GenerationJob, JobStatus, PublishMode, PushState, Shop, Workflow
from shopify_app.settings import Settings
from shopify_app.workflows import review, service

POLL_SECONDS = 0.5


@click.command("shoot")
@click.option("--shop", "shop_domain", required=True, help="The shop's myshopify domain.")
@click.option("--model", "model_id", required=True, help="The catalog model's id (it must be ready).")
@click.option("--products", required=True, help="Comma-separated product ids (123 or gid://shopify/Product/123).")
@click.option("--images", "num_images", type=click.IntRange(1, 4), default=1, show_default=True,
              help="Images per product.")
@click.option("--publish", type=click.Choice([m.value for m in PublishMode]), default=None,
              help="review (results wait for approval) or direct (published as they pass); "
                   "default: the shop's setting.")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Follow the job until it ends.")
@click.option("--inline", is_flag=True, help="Run the job's steps in this process (no worker needed).")
@click.option("--timeout", type=click.IntRange(min=1), default=3600, show_default=True,
              help="Seconds to follow the job before giving up (the job carries on).")
def shoot_command(shop_domain: str, model_id: str, products: str, num_images: int, publish: str | None,
                  wait: bool, inline: bool, timeout: int) -> None:
    """Shoot products on a catalog model and say where the results went."""
    from shopify_app.api.schemas import CatalogShootRequest
    from pydantic import ValidationError

    domain = shop_domain.strip().lower()
    ids = [p.strip() for p in products.split(",") if p.strip()]
    try:
        request = CatalogShootRequest(catalog_model_id=model_id, product_ids=ids, num_images=num_images,
                                      **({"publish": publish} if publish else {}))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise click.BadParameter(problems) from None
    with db.transaction() as session:
        shop = session.scalar(select(Shop).where(Shop.domain == domain))
        if shop is None or shop.uninstalled_at is not None:
            raise click.ClickException(f"no shop {domain!r} has Catalog Studio installed")
        inputs = request.model_dump(mode="json")
        if publish is None:
            inputs["publish"] = PublishMode(shop.publish_mode).value
        try:
            job = service.create_job(session, shop, Workflow.CATALOG_SHOOT, inputs)
        except credits.InsufficientCredits as exc:
            raise click.ClickException(str(exc)) from None
        except service.WorkflowRefused as exc:
            raise click.ClickException(exc.message) from None
        job_id, cost, mode = job.id, job.credits_cost, inputs["publish"]
    click.echo(f"catalog shoot {job_id}: {len(ids)} product(s) × {num_images} image(s), "
               f"{cost} credits, publish: {mode}")
    if not wait:
        return
    job = _follow(job_id, inline, timeout)
    _report(job)
    if job.status == JobStatus.FAILURE:
        raise SystemExit(1)


def _follow(job_id: str, inline: bool, timeout: int) -> GenerationJob:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    session = db.session()
    shown = 0
    with click.progressbar(length=100, label="shooting", show_percent=True, show_eta=False) as bar:
        while True:
            if inline:
                _run_steps(app)
            session.expire_all()
            job = session.get(GenerationJob, job_id)
            assert job is not None
            progress = 100 if JobStatus(job.status).terminal else max(0, min(99, job.progress or 0))
            if progress > shown:
                bar.update(progress - shown)
                shown = progress
            bar.label = f"{job.stage:<11}"
            if JobStatus(job.status).terminal:
                session.rollback()
                return job
            if time.monotonic() > deadline:
                raise click.ClickException(f"still running after {timeout}s; the job carries on: {job_id}")
            session.rollback()  # no transaction held open between looks
            time.sleep(POLL_SECONDS)


def _run_steps(app: Flask) -> None:
    """Release due scheduled steps and run everything queued, in this process."""
    from rq import SimpleWorker
    from rq.registry import ScheduledJobRegistry

    from jobs.runtime import bind_app
    from shopify_app.queues import QUEUE_NAMES, get_broker

    bind_app(app)
    broker = get_broker(app)
    queues = [broker.queue(name) for name in QUEUE_NAMES]
    for queue in queues:
        registry = ScheduledJobRegistry(queue=queue)
        for rq_job_id in registry.get_jobs_to_schedule(int(time.time())):
            rq_job = queue.fetch_job(rq_job_id)
            registry.remove(rq_job_id)
            if rq_job is not None:
                queue.enqueue_job(rq_job)
    if any(q.count for q in queues):
        SimpleWorker(queues, connection=broker.redis).work(burst=True, with_scheduler=False,
                                                           logging_level="WARNING")


def _report(job: GenerationJob) -> None:
    settings: Settings = current_app.config["STUDIO_SETTINGS"]
    session = db.session()
    shop = session.get(Shop, job.shop_id)
    assert shop is not None
    click.echo(f"job {job.id}: {job.status} ({job.stage})"
               + (f" — {job.error_message}" if job.error_message else ""))
    from shopify_app.images.storage import get_storage

    storage = get_storage(settings)
    assets = review.job_assets(session, shop, job.id, kind=AssetKind.TRY_ON)
    by_product: dict[str, list[Asset]] = {}
    for asset in assets:
        by_product.setdefault(asset.shopify_product_id or "-", []).append(asset)
    for product_id, entry in (job.outputs or {}).get("products", {}).items():
        click.echo(f"  {product_id}:")
        if entry.get("skipped"):
            click.echo(f"    skipped: {entry['skipped']}")
            continue
        if entry.get("error"):
            click.echo(f"    failed: {entry['error']}")
        for asset in by_product.get(product_id, []):
            path = storage.path_for(asset.storage_key)
            where = str(path) if path is not None else asset.storage_key
            if asset.held_reason:
                click.echo(f"    held back {asset.id}: {asset.held_reason} ({where})")
            elif asset.push_state == PushState.READY and asset.shopify_media_id:
                click.echo(f"    published {asset.id} → {asset.shopify_media_id} on {product_id} ({where})")
            else:
                click.echo(f"    waiting for review {asset.id} ({where})")
    click.echo(f"credits: charged {job.credits_cost}, refunded {job.credits_refunded}; "
               f"balance now {credits.balance(session, shop.id)}")
    session.rollback()


def init_app(app: Flask) -> None:
    """Add `flask studio shoot` to the studio command group."""
    register(shoot_command)
