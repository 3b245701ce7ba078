"""Catalog-shoot pipeline benchmark: N products shot on the `local` provider (null-latency mode)
through to READY media on the dev shop, with 1 and with 2 real worker processes, in one run.

    .venv/bin/python bench/pipeline.py [--products 500] [--images 1] [--rounds 3] [--shop-plan plus]
        [--redis-url redis://127.0.0.1:6379/14] [--pg-admin-url postgresql://postgres@127.0.0.1/postgres]

What it does, all on loopback:

1. Creates a scratch PostgreSQL database (dropped at the end) and its tables, flushes the given
   Redis database (use a scratch one), and seeds the dev shop with 2 × rounds × N extra products
   (each a copy of a catalog product with its photo), an installed shop with credits, a
   null-latency `local` generation model, and a catalog model made by the model-generator
   workflow.
2. In each of `--rounds` rounds (default 3; odd rounds 1 worker first, even rounds 2 workers
   first), for 1 and for 2 workers: starts that many worker processes (`bench/pipeline.py
   --worker`: the app's own `run_worker` exactly as `flask studio worker` runs it — its default
   worker class `jobs.runtime.StudioWorker`, RQ's scheduler on, the webhooks/generation/media
   queues, the second worker with media before generation), creates one direct-publish catalog
   shoot over N fresh products, and measures from the shoot's creation to the last product's media READY on
   the dev shop. Each run starts from the same state: the dev shop's cost bucket full and the
   app's Redis mirror of it not yet made (the first run ended publishing at the shop's pace; the
   second must not start in its debt).
3. Each worker process is instrumented and reports, when stopped:
   - the whole process's CPU time from the moment it starts working to its stop (every thread:
     RQ's dequeue loop, heartbeats, registries; and its RQ scheduler child process, which moves
     scheduled steps onto the queues): the overhead target is judged on this figure,
   - time inside each RQ job (RQ's bookkeeping around the job function included),
   - time in the provider (the local renderer's submit/poll/fetch, its PNG/JPEG encoding included),
   - time in image encoding (image intake's `normalize_image`, the publish step's `_image_bytes`),
   - time in automatic evaluation, and time inside the dev shop (the in-process stand-in for
     Shopify: its GraphQL, staged uploads and product photos),
   - each both as wall time and as the worker process's CPU time (`time.process_time`: every
     thread, so image intake's resize threads count as encoding): on a small, shared machine
     wall time also counts the time the worker waited for a core,
   - Admin GraphQL operations by name, database round trips (SQLAlchemy `before_cursor_execute`,
     plus COMMIT/ROLLBACK), and Redis round trips (every `send_packed_command`: one per command,
     one per pipeline).
4. Prints products/s to READY, and when every product had been rendered, evaluated and offered
   and when the dev shop took the last images (all of the workers' work done: what follows is
   Shopify processing the last batch, found READY by status polls 2 s and 5 s after the attach,
   the same in both runs); overhead per product (time not spent in the provider, image encoding,
   evaluation or the dev shop: of the jobs, wall and CPU, and of the whole worker processes,
   CPU); how many workers were running a job over the shoot; the cores the workers, PostgreSQL,
   Redis, the kernel and anything else kept busy (other programs: someone else's work, which
   makes the run unclean); Admin calls per product (status polls apart) and the Shopify cost
   points they spent; and database and Redis round trips per product. Then checks that every
   product has its images READY exactly once and that no credit was refunded.

The dev shop's bucket restores at the rate Shopify documents for `--shop-plan` (default plus,
1000 points/s). A direct-mode product costs ~16 points (productUpdate alone is 10), so a
Standard shop (100/s) lets ~6 products/s through once its first 2000 points are spent: less
than one worker renders. On a Standard bucket both runs are paced by Shopify and their ratio
says nothing about the workers, so the bench measures the workers on a bucket that does not
bind and prints the ceiling a Standard shop would put on the same run.

Targets (issue 5): ≤ 3 Admin GraphQL calls per product for up to 4 images (status polls apart),
overhead ≤ 30 ms per product, 2 workers ≥ 1.7× the throughput of 1, judged on the median of the
rounds' ratios (one 20-40 s run on this small shared machine can be 10 % slower than the next for
no reason of its own). Reported, not enforced (the machine decides); exits non-zero when a
correctness check fails.

BENCH_PROFILE=1 writes a cProfile of each worker beside its counters (BENCH_PROFILE=cpu times it
by the thread's CPU clock instead of the wall clock); BENCH_KEEP=1 keeps them, the worker logs,
the dev shop's state and the scratch database. BENCH_SQL_LOG=FILE appends every statement the
workers send, with the RQ job function that sent it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cryptography.fernet import Fernet  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

CLIENT_ID = "bench-client-id"
CLIENT_SECRET = "bench-client-secret-" + "0" * 24
WORKER_QUEUES = ("webhooks", "generation", "media")
OPERATION = re.compile(r"^\s*(query|mutation)\s+(\w+)", re.MULTILINE)
CATEGORIES = ("provider", "encoding", "eval", "devshop")
# Shopify's documented GraphQL restore rates, points per second (reference/shopify-platform.md,
# section 5). Bucket sizes per plan are not documented: the dev shop's 2000 points stand in for
# every plan, so only the documented figure changes with the plan.
SHOP_PLANS = {"standard": 100.0, "advanced": 200.0, "plus": 1000.0}
BUCKET_POINTS = 2000.0


# =========================================================================== worker side


class Meter:
    """Counters and timers of one worker process, written as JSON when the worker stops."""

    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()
        self.spans: list[tuple[float, float]] = []  # (start, end) of each RQ job, on the wall clock
        self.depth = 0  # only the outermost timed region counts (no double counting)

    def timed(self, category: str, func: Callable[..., Any]) -> Callable[..., Any]:
        meter = self

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if meter.depth:
                return func(*args, **kwargs)
            meter.depth += 1
            start, cpu = time.perf_counter(), time.process_time()
            try:
                return func(*args, **kwargs)
            finally:
                meter.seconds[category] += time.perf_counter() - start
                meter.seconds[f"cpu:{category}"] += time.process_time() - cpu
                meter.counts[f"{category}s"] += 1
                meter.depth -= 1

        wrapper.__wrapped__ = func  # type: ignore[attr-defined]
        return wrapper


def instrument(meter: Meter) -> None:
    import redis.connection
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from jobs.runtime import StudioWorker
    from shopify_app.images import normalize
    from shopify_app.providers import local
    from shopify_app.shopify import admin, media, transport
    from shopify_app.workflows import evaluation

    # Whole jobs, RQ's bookkeeping included (status, registries, result).
    original_execute = StudioWorker.execute_job

    def execute_job(self: Any, job: Any, queue: Any) -> Any:
        start, cpu, wall = time.perf_counter(), time.process_time(), time.time()
        inside = sum(meter.seconds[f"cpu:{c}"] for c in CATEGORIES)
        try:
            return original_execute(self, job, queue)
        finally:
            meter.spans.append((wall, time.time()))
            meter.seconds["jobs"] += time.perf_counter() - start
            spent = time.process_time() - cpu
            meter.seconds["cpu:jobs"] += spent
            meter.counts["jobs"] += 1
            # Each step's own CPU (outside the categories), to see where overhead goes.
            name = job.func_name.rsplit(".", 1)[-1]
            meter.seconds[f"step:{name}"] += spent - (sum(meter.seconds[f"cpu:{c}"] for c in CATEGORIES) - inside)
            meter.counts[f"step:{name}"] += 1

    StudioWorker.execute_job = execute_job  # type: ignore[method-assign]

    for name in ("submit_try_on", "submit_model_generation", "poll", "fetch_outputs"):
        setattr(local.LocalProvider, name, meter.timed("provider", getattr(local.LocalProvider, name)))
    # RQ enqueues after commit (part of the overhead; shown on its own line).
    from shopify_app.queues import Broker

    Broker.enqueue_now = meter.timed("enqueue", Broker.enqueue_now)  # type: ignore[method-assign]
    normalize.normalize_image = meter.timed("encoding", normalize.normalize_image)
    media._image_bytes = meter.timed("encoding", media._image_bytes)
    evaluation.evaluate = meter.timed("eval", evaluation.evaluate)
    transport.WSGIAdapter.send = meter.timed("devshop", transport.WSGIAdapter.send)  # type: ignore[method-assign]
    from shopify_app.devshop.store import DevShopStore

    DevShopStore.media_bytes = meter.timed("devshop", DevShopStore.media_bytes)  # type: ignore[method-assign]

    def count_operation(kind: str, func: Callable[..., Any]) -> Callable[..., Any]:
        # A call counts when it reached Shopify (once, whatever its retries); one the client
        # handed back to the scheduler before sending anything (the shop's bucket was spent) is
        # counted apart.
        def wrapper(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
            match = OPERATION.search(query)
            name = match.group(2) if match else kind
            sent = self.stats.requests
            try:
                return func(self, query, *args, **kwargs)
            finally:
                meter.counts[f"admin:{name}" if self.stats.requests > sent else "admin_handed_back"] += 1

        return wrapper

    original_wait = admin.AdminClient._wait

    def wait(self: Any, seconds: float, reason: str, *args: Any, **kwargs: Any) -> None:
        start = time.perf_counter()
        try:
            original_wait(self, seconds, reason, *args, **kwargs)  # sleeps, or raises "retry later"
        finally:
            meter.counts[f"wait:{reason}"] += 1
            meter.seconds["admin_waits"] += time.perf_counter() - start

    admin.AdminClient._wait = wait  # type: ignore[method-assign]
    admin.AdminClient.query = count_operation("query", admin.AdminClient.query)  # type: ignore[method-assign]
    admin.AdminClient.mutate = count_operation("mutation", admin.AdminClient.mutate)  # type: ignore[method-assign]

    sql_log = open(os.environ["BENCH_SQL_LOG"], "a") if os.environ.get("BENCH_SQL_LOG") else None  # noqa: SIM115

    @event.listens_for(Engine, "before_cursor_execute")
    def _statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        meter.counts["db_statements"] += 1
        if sql_log is not None:
            from rq import get_current_job

            job = get_current_job()
            sql_log.write(f"{job.func_name if job else '-'}\t{' '.join(statement.split())[:160]}\n")
            sql_log.flush()

    @event.listens_for(Engine, "commit")
    def _commit(*_args: Any) -> None:
        meter.counts["db_commits"] += 1

    @event.listens_for(Engine, "rollback")
    def _rollback(*_args: Any) -> None:
        meter.counts["db_rollbacks"] += 1

    original_send = redis.connection.AbstractConnection.send_packed_command

    def send_packed_command(self: Any, command: Any, check_health: bool = True) -> Any:
        meter.counts["redis_round_trips"] += 1
        return original_send(self, command, check_health)

    redis.connection.AbstractConnection.send_packed_command = send_packed_command  # type: ignore[method-assign]


def process_cpu() -> tuple[float, float, float]:
    """CPU seconds of this thread, of this process (every thread), and of its reaped children
    (RQ's scheduler process)."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.thread_time(), own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def worker_main(stats_path: Path, queues: tuple[str, ...]) -> None:
    from jobs.runtime import run_worker
    from shopify_app import create_app

    meter = Meter()
    instrument(meter)
    app = create_app()
    started = time.perf_counter()
    profile = None
    if os.environ.get("BENCH_PROFILE"):
        import cProfile

        profile = cProfile.Profile(time.thread_time) if os.environ["BENCH_PROFILE"] == "cpu" else cProfile.Profile()
        profile.enable()
    cpu = process_cpu()
    try:
        # The production worker, as `flask studio worker` runs it (its default worker class).
        run_worker(app, queues)
    finally:
        # run_worker has stopped and reaped its scheduler process: its CPU is in RUSAGE_CHILDREN.
        thread, own, children = (b - a for a, b in zip(cpu, process_cpu(), strict=True))
        if profile is not None:
            profile.disable()
            profile.dump_stats(str(stats_path) + ".prof")
        stats_path.write_text(json.dumps({
            "seconds": {**meter.seconds, "cpu:process": own + children, "cpu:main_thread": thread,
                        "cpu:other_threads": own - thread, "cpu:scheduler": children},
            "counts": dict(meter.counts),
            "spans": meter.spans,
            "alive_seconds": time.perf_counter() - started,
        }))


# =========================================================================== driver side


def environ(db_url: str, redis_url: str, instance: Path) -> dict[str, str]:
    return {
        "STUDIO_ENV": "development",
        "STUDIO_INSTANCE_PATH": str(instance),
        "SHOPIFY_API_KEY": CLIENT_ID,
        "SHOPIFY_API_SECRET": CLIENT_SECRET,
        "STUDIO_DEV_SHOP": "1",
        "APP_URL": "https://studio.bench",
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "SECRET_KEY": "bench-secret-key-" + "0" * 32,
        "MEDIA_ROOT": str(instance / "media"),
        "LOG_JSON": "1",
        "LOG_LEVEL": "WARNING",
        "WORKER_HEARTBEAT_SECONDS": "10",
    }


def seed(app: Any, products: int) -> tuple[str, list[str]]:
    """The installed dev shop, a null-latency local model, a ready catalog model, and products."""
    from shopify_app import credits, db
    from shopify_app.devshop import control
    from shopify_app.devshop.catalog import CATALOG
    from shopify_app.models import CatalogModel, GenerationModel, LedgerKind, Shop, utcnow
    from shopify_app.workflows import service

    settings = app.config["STUDIO_SETTINGS"]
    session = db.session()
    grant = control.mint_token(settings)
    import datetime as dt

    shop = Shop(domain=settings.dev_shop_domain, access_token=grant["access_token"],
                access_token_expires_at=utcnow() + dt.timedelta(seconds=grant["expires_in"]),
                refresh_token=grant["refresh_token"],
                refresh_token_expires_at=utcnow() + dt.timedelta(seconds=grant["refresh_token_expires_in"]),
                scopes=grant["scope"])
    session.add(shop)
    session.flush()
    credits.grant(session, shop.id, 10 * products + 100, "bench credits", LedgerKind.GRANT)
    session.add(GenerationModel(name="Preview renderer (null latency)", provider="local",
                                provider_config={"null_latency": True},
                                provider_capabilities=["model_generation", "try_on"],
                                tool_types=["BASE_GENERATION", "TRY_ON"], recommended=True))
    session.commit()
    job = service.create_job(session, shop, "model-generator", {
        "gender": "FEMALE", "ethnicity": "Mediterranean", "body_type": "athletic", "age_range": "25-34",
        "display_name": "", "eval_enabled": True})
    session.commit()
    run_inline(app)
    session.expire_all()
    model = session.get(CatalogModel, job.catalog_model_id)
    assert model is not None and model.status == "ready", "the catalog model did not become ready"
    gids = [control.create_product(CATALOG[i % len(CATALOG)].handle, settings=settings) for i in range(products)]
    # The shop's product photos exist before any shoot (Shopify serves them from its CDN): the
    # dev shop draws each once, here, so that neither run pays for drawing them.
    shop_store = control.store(settings)
    for product in control.products(settings)[:len(CATALOG)]:
        for photo in control.product_media(f"gid://shopify/Product/{product['id']}", settings):
            shop_store.media_bytes(photo["id"])
    return model.id, gids


def run_inline(app: Any) -> None:
    from rq import SimpleWorker
    from rq.registry import ScheduledJobRegistry

    from jobs.runtime import bind_app
    from shopify_app.queues import QUEUE_NAMES, get_broker

    bind_app(app)
    broker = get_broker(app)
    queues = [broker.queue(q) for q in QUEUE_NAMES if q != "maintenance"]
    for _ in range(50):
        for queue in queues:
            registry = ScheduledJobRegistry(queue=queue)
            for job_id in registry.get_job_ids():
                job = queue.fetch_job(job_id)
                registry.remove(job_id)
                if job is not None:
                    queue.enqueue_job(job)
        if not any(q.count for q in queues):
            return
        SimpleWorker(queues, connection=broker.redis).work(burst=True, with_scheduler=False,
                                                           logging_level="WARNING")


def cpu_snapshot() -> dict[str, Any] | None:
    """CPU seconds used so far by the machine (every core; time stolen by the hypervisor apart)
    and by each PostgreSQL and Redis process, kernel thread and other program and this driver
    (Linux /proc; None elsewhere). The workers report their own."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    processes: dict[int, tuple[str, float]] = {}
    workers = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            command = (proc / "cmdline").read_bytes()
        except OSError:
            continue  # ended meanwhile
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        after_name = stat[stat.rindex(")") + 2:].split()
        if b"--worker" in command and Path(__file__).name.encode() in command:
            workers.add(int(proc.name))  # a worker or its scheduler (a fork: the same command line)
        kind = ("postgres" if name == "postgres" else "redis" if name.startswith("redis-server")
                else "driver" if int(proc.name) == os.getpid() else "kernel" if not command else "other")
        processes[int(proc.name)] = (kind, sum(int(f) for f in after_name[11:13]) / tick)  # utime, stime
    for pid in workers:  # the workers report their own CPU
        processes.pop(pid, None)
    return {"machine": (user + nice + system + irq + softirq) / tick, "steal": steal / tick, "processes": processes}


def cores_busy(before: dict[str, Any] | None, after: dict[str, Any] | None, wall: float) -> dict[str, float] | None:
    """Cores kept busy on average between two snapshots: the machine's, PostgreSQL's, Redis', this
    driver's, kernel threads', other programs' (a process that ended in between is counted only
    in the machine's), and what the hypervisor took."""
    if before is None or after is None:
        return None
    cores = {"machine": (after["machine"] - before["machine"]) / wall, "postgres": 0.0, "redis": 0.0, "driver": 0.0,
             "kernel": 0.0, "other": 0.0}
    steal = (after["steal"] - before["steal"]) / wall
    for pid, (kind, used) in after["processes"].items():
        earlier = before["processes"].get(pid)
        cores[kind] += (used - (earlier[1] if earlier and earlier[0] == kind else 0.0)) / wall
    return {**cores, "steal": steal}


def reset_shop_budget(app: Any, redis: Any, shop_domain: str, restore_rate: float) -> None:
    """Every run starts as the first one did: the dev shop's cost bucket full (on the plan's
    restore rate), the app's Redis mirror of it not yet made (it is learnt from the first
    answer), and the dev shop's call log empty (it is read for the points the run spent)."""
    from shopify_app.devshop import control
    from shopify_app.shopify.admin import CostBudget

    settings = app.config["STUDIO_SETTINGS"]
    control.set_bucket(maximum=BUCKET_POINTS, restore_rate=restore_rate, available=BUCKET_POINTS, settings=settings)
    redis.delete(CostBudget(redis, shop_domain).key)
    control.clear_calls(settings)


def run_shoot(app: Any, env: dict[str, str], model_id: str, products: list[str], images: int, workers: int,
              tmp: Path, restore_rate: float, round_number: int) -> dict[str, Any]:
    from sqlalchemy import func, select

    from shopify_app import db
    from shopify_app.devshop import control
    from shopify_app.models import GenerationJob, JobStatus, Shop
    from shopify_app.queues import get_broker
    from shopify_app.shopify import admin
    from shopify_app.workflows import service

    session = db.session()
    shop = session.scalar(select(Shop))
    redis = get_broker(app).redis
    calls_before = admin.call_count(redis, shop.domain)
    stats_files = [tmp / f"worker-r{round_number}-{workers}-{i}.json" for i in range(workers)]
    processes = []
    for i, stats in enumerate(stats_files):
        log = (tmp / f"worker-r{round_number}-{workers}-{i}.log").open("wb")
        # The second worker takes Shopify pushes before renders (`flask studio worker --queues
        # webhooks,media,generation`): publishing is paced by the shop's Admin API bucket, so it
        # should run beside rendering, not after it.
        queues = WORKER_QUEUES if i % 2 == 0 else ("webhooks", "media", "generation")
        processes.append(subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", "--stats", str(stats),
             "--queues", ",".join(queues)],
            cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        log.close()
    time.sleep(3.0)  # let the workers import and connect before the clock starts

    # The previous run ended publishing at the shop's pace, its bucket drained: this run must
    # not start in its debt.
    reset_shop_budget(app, redis, shop.domain, restore_rate)
    cpu_before = cpu_snapshot()
    started = time.perf_counter()
    job = service.create_job(session, shop, "catalog-shoot", {
        "catalog_model_id": model_id, "product_ids": products, "num_images": images, "publish": "direct",
        "eval_enabled": True})
    session.commit()
    job_id = job.id
    terminal = [JobStatus.SUCCESS, JobStatus.FAILURE]
    while True:
        time.sleep(0.2)
        session.expire_all()
        parent = session.get(GenerationJob, job_id)
        status = parent.status
        session.rollback()
        if status in terminal:
            break
        if time.perf_counter() - started > 3600:
            raise SystemExit("the shoot did not finish within an hour")
    cpu_after, wall = cpu_snapshot(), time.perf_counter() - started
    # From the shoot's creation to the last product's last step (its media READY on the dev
    # shop), on the database's clock: the shoot's own settle step, up to a second later, is
    # bookkeeping, not throughput.
    parent = session.get(GenerationJob, job_id)
    rendered, last = session.execute(
        select(func.max(GenerationJob.finished_at).filter(GenerationJob.workflow == "try-on"),
               func.max(GenerationJob.finished_at))
        .where(GenerationJob.parent_job_id == job_id)).one()
    elapsed = (last - parent.created_at).total_seconds()
    window = (parent.created_at.timestamp(), last.timestamp())
    render_phase = (rendered - parent.created_at).total_seconds()
    # When the dev shop took the last product's images (its productUpdate): all of our work is
    # done then; what is left is Shopify processing the last batch and our status polls.
    settings = app.config["STUDIO_SETTINGS"]
    attached = max(m["created_ts"] for gid in products for m in control.product_media(gid, settings) if m["by_app"])
    attach_phase = attached - parent.created_at.timestamp()
    session.rollback()
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
    stats = [json.loads(f.read_text()) for f in stats_files if f.exists()]
    if len(stats) != workers:
        raise SystemExit("a worker did not report its counters; see " + str(tmp))
    # What Shopify charged for the run (the dev shop's log: throttled answers cost nothing).
    points = sum(c["actual_cost"] or 0 for c in control.calls(settings))
    return {"job_id": job_id, "elapsed": elapsed, "render_phase": render_phase, "attach_phase": attach_phase,
            "workers": stats,
            "http_calls": admin.call_count(redis, shop.domain) - calls_before, "points": points,
            "wall": wall, "window": window,
            "cores": cores_busy(cpu_before, cpu_after, wall)}


def check(app: Any, result: dict[str, Any], products: list[str], images: int) -> list[str]:
    from sqlalchemy import select

    from shopify_app import db
    from shopify_app.devshop import control
    from shopify_app.models import GenerationJob

    problems = []
    session = db.session()
    parent = session.get(GenerationJob, result["job_id"])
    if parent.status != "SUCCESS":
        problems.append(f"the shoot ended {parent.status}: {parent.error_message}")
    if parent.credits_refunded:
        problems.append(f"{parent.credits_refunded} credits were refunded (some product failed)")
    failed = session.scalars(select(GenerationJob).where(GenerationJob.parent_job_id == parent.id,
                                                         GenerationJob.status != "SUCCESS")).all()
    for child in failed[:5]:
        problems.append(f"product {child.shopify_product_id}: {child.status} {child.error_message}")
    settings = app.config["STUDIO_SETTINGS"]
    for gid in products:
        ours = [m for m in control.product_media(gid, settings) if m["by_app"]]
        if len(ours) != images or any(m["status"] != "READY" for m in ours):
            problems.append(f"{gid}: {[m['status'] for m in ours]} instead of {images} READY")
            break
    return problems


def busy_profile(spans_by_worker: list[list[tuple[float, float]]], window: tuple[float, float]) -> list[float]:
    """The share of `window` during which exactly k workers were running an RQ job, for k = 0..n."""
    start, end = window
    events = []
    for spans in spans_by_worker:
        for a, b in spans:
            a, b = max(a, start), min(b, end)
            if b > a:
                events += [(a, 1), (b, -1)]
    shares = [0.0] * (len(spans_by_worker) + 1)
    running, at = 0, start
    for moment, change in sorted(events):
        shares[running] += moment - at
        running, at = running + change, moment
    shares[running] += end - at
    return [share / (end - start) for share in shares]


def report(label: str, result: dict[str, Any], products: int, restore_rate: float) -> dict[str, float]:
    seconds: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    for worker in result["workers"]:
        seconds.update(worker["seconds"])
        counts.update(worker["counts"])
    throughput = products / result["elapsed"]
    categories = CATEGORIES
    # Waiting for the shop's Admin API bucket is Shopify's pace, not ours: shown apart.
    overhead_ms = 1000 * (seconds["jobs"] - sum(seconds[c] for c in categories) - seconds["admin_waits"]) / products
    overhead_cpu_ms = 1000 * (seconds["cpu:jobs"] - sum(seconds[f"cpu:{c}"] for c in categories)) / products
    # The whole worker processes: the jobs plus RQ's loop around them (dequeue, heartbeats,
    # registries) and the scheduler process. This is the figure the target is judged on.
    process_overhead_ms = 1000 * (seconds["cpu:process"] - sum(seconds[f"cpu:{c}"] for c in categories)) / products
    steps = sorted((k[5:] for k in counts if k.startswith("step:")), key=lambda k: -seconds[f"step:{k}"])
    steps_line = ", ".join(f"{k} {1000 * seconds[f'step:{k}'] / products:.1f} ms ({counts[f'step:{k}']} runs)"
                           for k in steps)
    admin_ops = {k[6:]: v for k, v in counts.items() if k.startswith("admin:")}
    polls = admin_ops.get("MediaStatus", 0)
    non_poll = sum(admin_ops.values()) - polls
    db_trips = counts["db_statements"] + counts["db_commits"] + counts["db_rollbacks"]
    print(f"\n{label}: {products} products in {result['elapsed']:.1f} s = {throughput:.2f} products/s "
          f"to READY\n  (every product rendered, evaluated and offered after {result['render_phase']:.1f} s; "
          f"the last images attached, productUpdate sent, after {result['attach_phase']:.1f} s; then Shopify "
          "processes them and status polls find them READY)")
    print(f"  per product                       wall      worker CPU   ({counts['jobs']} RQ jobs, "
          f"{counts['jobs'] / products:.1f} per product)")
    print(f"  time in jobs                   {1000 * seconds['jobs'] / products:8.1f} ms  "
          f"{1000 * seconds['cpu:jobs'] / products:8.1f} ms")
    for name in categories:
        print(f"    {name:<28} {1000 * seconds[name] / products:8.1f} ms  {1000 * seconds[f'cpu:{name}'] / products:8.1f} ms")
    print(f"    {'Admin API bucket waits':<28} {1000 * seconds['admin_waits'] / products:8.1f} ms")
    print(f"  overhead per product in jobs   {overhead_ms:8.1f} ms  {overhead_cpu_ms:8.1f} ms")
    print(f"    by step (CPU per product): {steps_line}")
    print(f"    of which RQ enqueues: {1000 * seconds['cpu:enqueue'] / products:.1f} ms ({counts['enqueues']} enqueues)")
    print(f"  whole worker processes                    {1000 * seconds['cpu:process'] / products:8.1f} ms   "
          f"(main thread {1000 * seconds['cpu:main_thread'] / products:.1f}, other threads "
          f"{1000 * seconds['cpu:other_threads'] / products:.1f}, scheduler process "
          f"{1000 * seconds['cpu:scheduler'] / products:.1f})")
    print(f"  overhead per product                      {process_overhead_ms:8.1f} ms   (target ≤ 30: the "
          "worker processes' CPU not in the provider, encoding, eval or the dev shop)")
    profile = busy_profile([w["spans"] for w in result["workers"]], result["window"])
    print("  workers running a job          " + ", ".join(
        f"{'none' if k == 0 else 'all' if k == len(profile) - 1 else k} {share:.0%}" for k, share in enumerate(profile))
        + " of the shoot's time (none: nothing was due, e.g. waiting for a scheduled poll)")
    cores = result["cores"]
    if cores is not None:
        workers = seconds["cpu:process"] / result["wall"]
        rest = cores["machine"] - workers - sum(v for k, v in cores.items() if k not in ("machine", "steal"))
        print(f"  cores busy on average          {cores['machine']:8.2f}      of {os.cpu_count()}: workers {workers:.2f}, "
              f"PostgreSQL {cores['postgres']:.2f}, Redis {cores['redis']:.2f}, this driver {cores['driver']:.2f}, "
              f"kernel threads {cores['kernel']:.2f}, interrupts and processes that came and went {rest:.2f}; "
              f"other programs {cores['other']:.2f} (someone else's work: the run is not clean when this is not ~0); "
              f"taken by the hypervisor {cores['steal']:.2f}")
    print(f"  Admin GraphQL calls / product  {non_poll / products:8.2f}      (target ≤ 3; status polls apart: "
          f"{polls / products:.2f}; HTTP requests incl. retries {result['http_calls'] / products:.2f}; "
          f"handed back unsent for the shop's bucket {counts['admin_handed_back'] / products:.2f})")
    print("    by operation: " + ", ".join(f"{k} {v}" for k, v in sorted(admin_ops.items())))
    waits = {k[5:]: v for k, v in counts.items() if k.startswith("wait:")}
    if waits:
        print("    waits the Admin client met: " + ", ".join(f"{k} ×{v}" for k, v in sorted(waits.items()))
              + f"; they held the workers {seconds['admin_waits']:.1f} s in all (a job step hands them back)")
    points = result["points"] / products
    standard = SHOP_PLANS["standard"]
    print(f"  Shopify cost points / product  {points:8.1f}      (once a shop's first {BUCKET_POINTS:g} are spent, "
          f"its bucket lets at most {restore_rate / points:.1f} products/s through at {restore_rate:g} points/s; "
          f"a Standard shop's, {standard:g}/s, {standard / points:.1f})")
    print(f"  database round trips / product {db_trips / products:8.1f}      "
          f"({counts['db_statements'] / products:.1f} statements, "
          f"{(counts['db_commits'] + counts['db_rollbacks']) / products:.1f} commits/rollbacks)")
    print(f"  Redis round trips / product    {counts['redis_round_trips'] / products:8.1f}      "
          "(RQ's dequeue, heartbeats and registries included)")
    return {"throughput": throughput, "render_throughput": products / result["render_phase"],
            "attach_throughput": products / result["attach_phase"],
            "overhead_ms": overhead_ms, "overhead_cpu_ms": overhead_cpu_ms,
            "process_overhead_ms": process_overhead_ms, "admin": non_poll / products}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=500)
    parser.add_argument("--images", type=int, default=1, choices=(1, 2, 3, 4))
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1/postgres")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of both runs (median ratio)")
    parser.add_argument("--shop-plan", choices=tuple(SHOP_PLANS), default="plus",
                        help="the dev shop's GraphQL restore rate, as on this Shopify plan")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--stats", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--queues", default=",".join(WORKER_QUEUES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(args.stats, tuple(args.queues.split(",")))
        return

    admin_url = make_url(args.pg_admin_url)
    db_name = f"bench_pipeline_{os.getpid()}"
    admin_engine = create_engine(admin_url.set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{db_name}"'))
    db_url = admin_url.set(drivername="postgresql+psycopg", database=db_name).render_as_string(hide_password=False)
    problems: list[str] = []
    try:
        tmp = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
        try:
            env = environ(db_url, args.redis_url, tmp / "instance")
            os.environ.update(env)
            from shopify_app import create_app, db
            from shopify_app.models import Base
            from shopify_app.queues import get_broker

            app = create_app()
            with app.app_context():
                Base.metadata.create_all(db.get_database(app).engine)
                get_broker(app).redis.flushdb()
                rate = SHOP_PLANS[args.shop_plan]
                print(f"the dev shop's GraphQL bucket: {BUCKET_POINTS:g} points restoring {rate:g}/s ({args.shop_plan} "
                      "plan), full at the start of each run")
                print(f"seeding {2 * args.rounds * args.products} products in the dev shop and a catalog model…")
                model_id, gids = seed(app, 2 * args.rounds * args.products)
                batches = iter(gids[i:i + args.products] for i in range(0, len(gids), args.products))
                ratios: list[dict[str, float]] = []
                for number in range(1, args.rounds + 1):
                    results = {}
                    # Rounds alternate which run goes first (the second finds the first's rows in
                    # the database), and the verdict is the median of their ratios: a spell of
                    # machine noise in one run then moves one round, not the verdict.
                    for workers in (1, 2) if number % 2 else (2, 1):
                        batch = next(batches)
                        print(f"\nround {number}: shooting {args.products} products × {args.images} image(s) "
                              f"with {workers} worker(s)…")
                        result = run_shoot(app, env, model_id, batch, args.images, workers, tmp, rate, number)
                        problems += check(app, result, batch, args.images)
                        results[workers] = report(f"{workers} worker(s)", result, args.products, rate)
                    ratios.append({k: results[2][k] / results[1][k] for k in results[1]
                                   if k.endswith("throughput")})
                    print(f"\nround {number}: 2 workers / 1 worker throughput to READY {ratios[-1]['throughput']:.2f}×, "
                          f"to the last images attached {ratios[-1]['attach_throughput']:.2f}×")

                def verdict(key: str) -> str:
                    each = ", ".join(f"{r[key]:.2f}" for r in ratios)
                    return f"{statistics.median(r[key] for r in ratios):.2f}× (median of {len(ratios)} rounds: {each})"

                print(f"\n2 workers / 1 worker throughput to READY: {verdict('throughput')}   (target ≥ 1.7×; "
                      f"{os.cpu_count()} CPU cores on this machine, shared with PostgreSQL, Redis and the dev shop; "
                      f"load average {os.getloadavg()[0]:.1f})")
                print(f"  to the last images attached: {verdict('attach_throughput')}   (all of the workers' work; "
                      "after it both runs wait alike for Shopify to process the last batch)")
                print(f"  to every product rendered, evaluated and offered: {verdict('render_throughput')}   "
                      "(the 2-worker run publishes while it renders, the 1-worker run after)")
                print(f"  the dev shop's GraphQL bucket restored {rate:g} points/s, as on Shopify's {args.shop_plan} plan")
                db.session.remove()
                db.get_database(app).engine.dispose()
        finally:
            if os.environ.get("BENCH_KEEP"):
                print(f"kept {tmp}")
            else:
                shutil.rmtree(tmp, ignore_errors=True)
    finally:
        with admin_engine.connect() as conn:
            if os.environ.get("BENCH_KEEP"):
                print(f"kept the database {db_name}")
            else:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        admin_engine.dispose()
    if problems:
        print("\nCHECKS FAILED:\n  " + "\n  ".join(problems))
        raise SystemExit(1)
    print("\nchecks: every product has its images READY exactly once; no credit refunded")


if __name__ == "__main__":
    main()
