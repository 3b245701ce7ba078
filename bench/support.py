"""Support console list pages under load: every list answers within 200 ms of server time.

    .venv/bin/python bench/support.py [--runs 15] [--database-url URL] [--redis-url URL]

Fills a database (PostgreSQL: BENCH_DATABASE_URL, else TEST_DATABASE_URL, else
postgresql://postgres@127.0.0.1/h6; SQLite in a temp dir if none is reachable) with 10,000
generation jobs and 50,000 webhook deliveries, plus the rows a real shop page reads (ledger,
provider tasks, request logs, products, audit entries, RQ failed jobs), signs a staff admin in,
and times each list page with the Flask test client (in-process: the time measured is the
server's). Prints the median and p95 of `--runs` requests per page, first pages and deep pages.
Exits 1 when a page's p95 is over the target.

The tables are DROPPED and re-created: point it at a scratch database.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cryptography.fernet import Fernet  # noqa: E402
from sqlalchemy import create_engine, insert, text  # noqa: E402

TARGET_MS = 200.0
JOBS = 10_000
DELIVERIES = 50_000
SHOPS = 25
TOPICS = ("products/create", "products/update", "app/uninstalled", "shop/redact")


def _database_url(explicit: str | None) -> str:
    candidates = [explicit, os.environ.get("BENCH_DATABASE_URL"), os.environ.get("TEST_DATABASE_URL"),
                  "postgresql://postgres@127.0.0.1/h6"]
    for url in candidates:
        if not url:
            continue
        try:
            probe = url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url
            engine = create_engine(probe)
            with engine.connect() as conn:
                conn.execute(text("select 1"))
            engine.dispose()
            return url
        except Exception as exc:  # noqa: BLE001 - try the next candidate
            print(f"(database {url} not usable: {type(exc).__name__})", file=sys.stderr)
    return f"sqlite:///{tempfile.mkdtemp()}/bench.db"


def _ulid_at(when: dt.datetime, rng: random.Random) -> str:
    from ulid import ULID

    return str(ULID.from_timestamp(when.timestamp()))[:10] + "".join(
        rng.choice("0123456789ABCDEFGHJKMNPQRSTVWXYZ") for _ in range(16))


def fill(app: Any, rng: random.Random) -> dict[str, Any]:
    from shopify_app import db
    from shopify_app.models import (
        AuditLog, CreditLedger, GenerationJob, GenerationModel, Product, ProviderTask, RequestLog,
        Shop, StaffRole, WebhookDelivery,
    )
    from shopify_app.staff import accounts

    session = db.session()
    now = dt.datetime.now(dt.UTC)
    shops = [{"id": _ulid_at(now - dt.timedelta(days=400 - i), rng), "domain": f"shop-{i:03d}.myshopify.com",
              "scopes": "read_products,write_products", "installed_at": now, "auto_shoot": i % 2 == 0,
              "publish_mode": "review", "created_at": now, "updated_at": now} for i in range(SHOPS)]
    session.execute(insert(Shop), shops)
    session.execute(insert(GenerationModel), [
        {"name": f"model {i}", "provider": "local", "provider_config": {}, "tool_types": ["TRY_ON"],
         "recommended": i == 0, "beta": False, "created_at": now, "updated_at": now} for i in range(40)])

    statuses = ["SUCCESS"] * 7 + ["FAILURE", "IN_PROGRESS", "NOT_STARTED"]
    jobs = []
    for i in range(JOBS):
        created = now - dt.timedelta(seconds=(JOBS - i) * 60)
        status = rng.choice(statuses)
        jobs.append({
            "id": _ulid_at(created, rng), "shop_id": rng.choice(shops)["id"], "workflow": "try-on",
            "status": status, "stage": "done" if status == "SUCCESS" else "generating", "progress": 50,
            "inputs": {"product_id": f"gid://shopify/Product/{i}"}, "outputs": {}, "attempts": 1,
            "cancel_requested": False, "credits_cost": 1, "credits_refunded": 0,
            "error_code": "provider_failed" if status == "FAILURE" else None,
            "failed_step": "generation/jobs.generation:run" if status == "FAILURE" else None,
            "created_at": created, "updated_at": created,
        })
    session.execute(insert(GenerationJob), jobs)
    session.execute(insert(ProviderTask), [
        {"id": _ulid_at(j["created_at"], rng), "job_id": j["id"], "provider": "fal_standard", "role": "primary",
         "operation": "try-on", "status": "succeeded", "attempt": 1, "polls": 3, "request_summary": {},
         "response_summary": {}, "state": {}, "created_at": j["created_at"], "updated_at": j["created_at"]}
        for j in jobs])
    session.execute(insert(CreditLedger), [
        {"shop_id": j["shop_id"], "job_id": j["id"], "kind": "charge", "amount": -1, "reason": "try-on job",
         "created_at": j["created_at"]} for j in jobs])

    deliveries = []
    for i in range(DELIVERIES):
        received = now - dt.timedelta(seconds=(DELIVERIES - i) * 12)
        shop = rng.choice(shops)
        deliveries.append({
            "webhook_id": f"{i:08d}-bdd9-4b37-8a5f-bf7d70bcd043", "topic": rng.choice(TOPICS),
            "shop_domain": shop["domain"], "shop_id": shop["id"], "api_version": "2026-10",
            "payload": {"id": i, "title": "Linen shirt"},
            "outcome": rng.choice(["processed"] * 8 + ["skipped", "failed"]), "attempts": 1,
            "received_at": received, "processed_at": received,
        })
    for start in range(0, DELIVERIES, 10_000):
        session.execute(insert(WebhookDelivery), deliveries[start:start + 10_000])
    session.execute(insert(RequestLog), [
        {"request_id": _ulid_at(j["created_at"], rng), "shop_id": j["shop_id"], "auth_kind": "api_key",
         "method": "POST", "path": "/v1/try-on", "status_code": 202, "job_id": j["id"],
         "created_at": j["created_at"]} for j in jobs])
    session.execute(insert(Product), [
        {"id": _ulid_at(now - dt.timedelta(minutes=i), rng), "shop_id": shops[i % SHOPS]["id"],
         "shopify_product_id": f"gid://shopify/Product/{i}", "title": f"Product {i}",
         "auto_shoot_status": "skipped" if i % 3 == 0 else None,
         "auto_shoot_reason": "no product image" if i % 3 == 0 else None,
         "created_at": now - dt.timedelta(minutes=i), "updated_at": now} for i in range(5_000)])
    admin = accounts.create_staff(session, "bench@studio.test", "bench password 0123", StaffRole.ADMIN)
    session.execute(insert(AuditLog), [
        {"staff_user_id": admin.id, "staff_email": admin.email, "action": "credits.grant", "target_type": "shop",
         "target_id": rng.choice(shops)["id"], "reason": "bench", "details": {},
         "created_at": now - dt.timedelta(minutes=i)} for i in range(2_000)])
    session.commit()
    with db.get_database(app).engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ANALYZE"))
        conn.commit()
    busiest = max(shops, key=lambda s: sum(1 for j in jobs if j["shop_id"] == s["id"]))
    return {"shop": busiest, "job": jobs[len(jobs) // 2], "delivery_id": DELIVERIES // 2}


def _fail_some_rq_jobs(app: Any, count: int = 300) -> None:
    from shopify_app.queues import get_broker

    queue = get_broker(app).queue("generation")
    for i in range(count):
        job = queue.enqueue("jobs.generation.run", f"job-{i}", job_id=f"bench-failed-{i}")
        queue.remove(job)
        queue.failed_job_registry.add(job, ttl=3600, exc_string="RuntimeError: bench")


def _deep_cursor(client: Any, path: str, hops: int) -> str:
    """Follow `Next` links `hops` times; the path of the page reached."""
    for _ in range(hops):
        html = client.get(path).get_data(as_text=True)
        match = re.search(r'rel="next" href="([^"]+)"', html)
        if not match:
            break
        path = match.group(1).replace("&amp;", "&")
    return path


def measure(client: Any, path: str, runs: int) -> tuple[float, float, int]:
    client.get(path)  # warm (template compile, plan cache)
    timings = []
    status = 0
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(path)
        timings.append((time.perf_counter() - started) * 1000)
        status = response.status_code
    timings.sort()
    p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
    return statistics.median(timings), p95, status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--database-url")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/6"))
    args = parser.parse_args()

    from shopify_app import create_app, db
    from shopify_app.models import Base
    from shopify_app.settings import Settings

    database_url = _database_url(args.database_url)
    instance = Path(tempfile.mkdtemp())
    settings = Settings.from_env({
        "STUDIO_ENV": "test", "STUDIO_INSTANCE_PATH": str(instance), "DATABASE_URL": database_url,
        "REDIS_URL": args.redis_url, "ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "SECRET_KEY": hashlib.sha256(b"bench").hexdigest(), "APP_URL": "https://studio.test",
        "SHOPIFY_API_KEY": "bench", "SHOPIFY_API_SECRET": "bench-secret-0123456789", "LOG_LEVEL": "WARNING",
        "MEDIA_ROOT": str(instance / "media"),
    })
    app = create_app(settings)
    engine = db.get_database(app).engine
    Base.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    Base.metadata.create_all(engine)
    from shopify_app.queues import get_broker

    get_broker(app).redis.flushdb()

    rng = random.Random(42)
    with app.app_context():
        started = time.perf_counter()
        ids = fill(app, rng)
        _fail_some_rq_jobs(app)
        print(f"database: {engine.dialect.name} ({engine.url.render_as_string(hide_password=True)})")
        print(f"filled {JOBS:,} jobs, {DELIVERIES:,} webhook deliveries, {JOBS:,} provider tasks, "
              f"{JOBS:,} request logs, {JOBS:,} ledger rows in {time.perf_counter() - started:.1f} s")

    client = app.test_client()
    page = client.get("/support/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    signed_in = client.post("/support/login", data={"email": "bench@studio.test",
                                                    "password": "bench password 0123", "csrf_token": token})
    assert signed_in.status_code == 302, signed_in.status_code

    shop, job = ids["shop"], ids["job"]
    pages = [
        "/support/",
        "/support/shops",
        "/support/shops?q=shop-01",
        f"/support/shops/{shop['id']}",
        f"/support/shops/{shop['id']}/ledger",
        f"/support/shops/{shop['id']}/catalog-models",
        f"/support/shops/{shop['id']}/auto-shoot",
        "/support/jobs",
        "/support/jobs?status=FAILURE",
        f"/support/jobs?shop={shop['id']}",
        f"/support/jobs?shop={shop['id']}&status=FAILURE",
        f"/support/jobs/{job['id']}",
        "/support/deliveries",
        "/support/deliveries?topic=products/create",
        f"/support/deliveries?shop={shop['domain']}",
        "/support/deliveries?outcome=failed",
        f"/support/deliveries/{ids['delivery_id']}",
        "/support/requests",
        f"/support/requests?shop={shop['id']}",
        "/support/queues",
        "/support/queues/generation/failed",
        "/support/queues/generation/failed?page=5",
        "/support/generation-models",
        "/support/audit",
    ]
    # Deep pages: 100 pages in (rows 5,000-5,050 of the jobs, deliveries, request logs).
    for path in ("/support/jobs", "/support/deliveries", "/support/requests"):
        pages.append(_deep_cursor(client, path, 100))

    print(f"\n{'page':<78} {'median ms':>9} {'p95 ms':>8}")
    worst = 0.0
    failures = []
    with app.app_context():
        for path in pages:
            median, p95, status = measure(client, path, args.runs)
            label = path if len(path) <= 76 else path[:60] + "…(deep page)"
            flag = "" if p95 <= TARGET_MS and status == 200 else "  <-- over target" if status == 200 else f"  <-- HTTP {status}"
            print(f"{label:<78} {median:9.1f} {p95:8.1f}{flag}")
            worst = max(worst, p95)
            if flag:
                failures.append(path)
    print(f"\nworst p95: {worst:.1f} ms (target ≤ {TARGET_MS:.0f} ms); {len(pages)} pages, {args.runs} runs each")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
