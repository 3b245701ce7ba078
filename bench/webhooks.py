"""Webhook endpoint benchmark: `POST /webhooks` against a bare Flask endpoint, in the same run.

    .venv/bin/python bench/webhooks.py [--requests 20000] [--rounds 3] [--connections 32]
        [--redis-url redis://127.0.0.1:6379/13] [--pg-admin-url postgresql://postgres@127.0.0.1/postgres]

What it does, all on loopback:

1. Creates a scratch PostgreSQL database (dropped at the end), its tables, and one installed shop;
   flushes the given Redis database (use a scratch one).
2. Starts gunicorn configured as for production (`STUDIO_ENV=production`, real secrets,
   PostgreSQL, so gunicorn.conf.py's gevent workers, no access log) serving `app:app`, with real PostgreSQL and Redis and no RQ worker, so
   every enqueued job stays in the queue to be counted.
3. Starts the same gunicorn configuration serving a bare Flask app (one route answering 200).
4. In `--rounds` alternating rounds, offers each endpoint `--requests` signed `products/create`
   deliveries (10 % of them repeat an earlier webhook id of the round; each round's ids are new)
   from a closed-loop load generator (`--connections` keep-alive connections, opened 1 ms apart
   before the clock starts, asyncio, raw HTTP/1.1 over loopback sockets: it costs far less CPU
   than an HTTP library, which matters on a small machine where the generator shares the cores
   with the server). Alternating rounds and
   judging the median ratio keeps a spell of machine noise (or the bare endpoint's occasional
   slow run) from deciding the verdict.
5. Prints throughput, p50/p99 latency and server CPU per request for both (for the webhook
   endpoint also the CPU of the PostgreSQL backends serving the scratch database), then the open-loop
   latency of the webhook endpoint at `--rate` requests/s offered (latency measured from each
   request's scheduled send time, so a stall is not hidden by the generator waiting). Under each
   run, where the machine's CPU went: server, database, Redis and generator per request, the
   cores busy, and how much of them processes outside the benchmark took ("others"); the
   server's context switches per request (every thread: a gthread server parked on the GIL
   shows here) and the busiest worker's share of the workers' CPU (about 50 % when the
   connections landed evenly on 2 workers). Both runs are normally CPU-bound, so the throughput
   ratio follows the ratio of CPU per request; a run with large "others" was measured on a busy
   machine and says little.
6. Checks that every unique delivery was recorded once and enqueued once, and that duplicates
   were answered 200 without a second row or job.

Targets (issue 3): webhook throughput ≥ 60 % of the bare endpoint's; p99 ≤ 50 ms at 300 req/s.
Exits non-zero when a check fails (the targets are reported, not enforced: they depend on the
machine).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import Any
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psutil
from cryptography.fernet import Fernet
from redis import Redis
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

CLIENT_ID = "bench-client-id"
CLIENT_SECRET = "bench-client-secret-" + "0" * 24
SHOP = "bench-shop.myshopify.com"
FIXTURE = ROOT / "tests" / "fixtures" / "webhooks" / "products_create.json"
CONNECT_GAP = 0.001  # seconds between two connections of the closed-loop generator (see closed_loop)

BARE_APP = '''
from flask import Flask

app = Flask(__name__)


@app.post("/webhooks")
def ok():
    return "", 200
'''


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class Offered:
    raw: bytes  # the whole HTTP/1.1 request
    webhook_id: str


def _request_bytes(port: int, body: bytes, webhook_id: str) -> bytes:
    signature = base64.b64encode(hmac.new(CLIENT_SECRET.encode(), body, hashlib.sha256).digest()).decode()
    headers = [
        "POST /webhooks HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "X-Shopify-Topic: products/create",
        f"X-Shopify-Hmac-Sha256: {signature}",
        f"X-Shopify-Shop-Domain: {SHOP}",
        "X-Shopify-API-Version: 2026-10",
        f"X-Shopify-Webhook-Id: {webhook_id}",
        f"X-Shopify-Triggered-At: {time.strftime('%Y-%m-%dT%H:%M:%S.000Z', time.gmtime())}",
        f"X-Shopify-Event-Id: {uuid.uuid4()}",
        "User-Agent: Shopify-Captain-Hook",
        "Connection: keep-alive",
    ]
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body


def build_deliveries(port: int, count: int, duplicate_share: float, seed: int, prefix: str) -> list[Offered]:
    """`count` signed products/create requests, `duplicate_share` of them repeating an earlier id."""
    rnd = random.Random(seed)
    template = json.loads(FIXTURE.read_text())
    unique_count = count - int(count * duplicate_share)
    uniques: list[Offered] = []
    for i in range(unique_count):
        product_id = 9_000_000_000_000 + i
        payload = dict(template, id=product_id, admin_graphql_api_id=f"gid://shopify/Product/{product_id}",
                       title=f"Bench Shirt {i}")
        body = json.dumps(payload, separators=(",", ":")).encode()
        webhook_id = f"{prefix}-{uuid.UUID(int=rnd.getrandbits(128))}"
        uniques.append(Offered(_request_bytes(port, body, webhook_id), webhook_id))
    offered = list(uniques)
    # Each duplicate is inserted somewhere after its original (as Shopify's retries would be),
    # some right after it (near-simultaneous duplicates on different connections).
    for _ in range(count - unique_count):
        original_index = rnd.randrange(unique_count)
        original = uniques[original_index]
        position = min(len(offered), original_index + 1 + rnd.randrange(0, 64))
        offered.insert(position, original)
    return offered


def retarget(offered: list[Offered], port: int) -> list[Offered]:
    old = b"Host: 127.0.0.1:"
    out = []
    for item in offered:
        head, _, rest = item.raw.partition(old)
        _, _, tail = rest.partition(b"\r\n")
        out.append(Offered(head + old + str(port).encode() + b"\r\n" + tail, item.webhook_id))
    return out


# --------------------------------------------------------------------------- load generator


class Connection:
    """One keep-alive HTTP/1.1 connection: send a request, read the status and the body."""

    def __init__(self, port: int):
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def send(self, raw: bytes) -> int:
        for attempt in range(2):
            if self.writer is None:
                await self._open()
            try:
                assert self.reader is not None and self.writer is not None
                self.writer.write(raw)
                status_line = await self.reader.readline()
                if not status_line:
                    raise ConnectionResetError("closed")
                status = int(status_line.split(b" ", 2)[1])
                length = 0
                close = False
                while True:
                    line = await self.reader.readline()
                    if line in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = line.partition(b":")
                    lowered = name.strip().lower()
                    if lowered == b"content-length":
                        length = int(value.strip())
                    elif lowered == b"connection" and value.strip().lower() == b"close":
                        close = True
                if length:
                    await self.reader.readexactly(length)
                if close:
                    await self.close()
                return status
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except ConnectionError:
                pass
        self.reader = self.writer = None


@dataclass
class RunResult:
    name: str
    requests: int
    seconds: float
    latencies_ms: list[float]
    statuses: dict[int, int]
    server_cpu_seconds: float
    server_system_seconds: float  # the kernel's share (sockets, thread switches)
    database_cpu_seconds: float = 0.0  # the scratch database's PostgreSQL backends
    redis_cpu_seconds: float = 0.0  # the Redis server (every client's commands, not only ours)
    generator_cpu_seconds: float = 0.0  # this process: the load generator
    machine_busy_seconds: float = 0.0  # every core's non-idle time, whoever used it
    server_context_switches: int = 0  # every thread of gunicorn's processes
    busiest_worker_share: float = 0.0  # the busiest worker's share of the workers' CPU

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds

    def pct(self, q: float) -> float:
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, int(round(q / 100 * (len(data) - 1))))]

    def line(self) -> str:
        return (f"{self.name:<22} {self.requests:>6} req in {self.seconds:6.2f} s  "
                f"{self.throughput:8.0f} req/s   p50 {self.pct(50):6.2f} ms   p99 {self.pct(99):7.2f} ms   "
                f"server CPU {1000 * self.server_cpu_seconds / self.requests:5.3f} ms/req "
                f"(system {1000 * self.server_system_seconds / self.requests:5.3f}, "
                f"database {1000 * self.database_cpu_seconds / self.requests:5.3f})   "
                f"statuses {dict(sorted(self.statuses.items()))}")

    def cpu_line(self) -> str:
        """Where the machine's CPU went: when the cores were near full, the run was CPU-bound, and
        `others` (processes outside the benchmark) shows how much a busy machine took from it."""
        per = 1000 / self.requests
        accounted = (self.server_cpu_seconds + self.database_cpu_seconds + self.redis_cpu_seconds
                     + self.generator_cpu_seconds)
        return (f"{'':<22} CPU ms/req: server {per * self.server_cpu_seconds:5.3f} + database "
                f"{per * self.database_cpu_seconds:5.3f} + redis {per * self.redis_cpu_seconds:5.3f} + generator "
                f"{per * self.generator_cpu_seconds:5.3f} = {per * accounted:5.3f};   cores busy "
                f"{self.machine_busy_seconds / self.seconds:4.2f} of {psutil.cpu_count()} (others "
                f"{max(0.0, self.machine_busy_seconds - accounted) / self.seconds:4.2f});   server context "
                f"switches/req {self.server_context_switches / self.requests:5.2f};   busiest worker "
                f"{100 * self.busiest_worker_share:.0f} % of the workers' CPU")


async def closed_loop(port: int, offered: list[Offered], connections: int) -> tuple[float, list[float], dict[int, int]]:
    queue_index = 0
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def client(conn: Connection) -> None:
        nonlocal queue_index
        try:
            while queue_index < len(offered):
                item = offered[queue_index]
                queue_index += 1
                started = time.perf_counter()
                status = await conn.send(item.raw)
                latencies.append((time.perf_counter() - started) * 1000)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            await conn.close()

    # The connections are opened one at a time, CONNECT_GAP apart, before the clock starts:
    # clients do not connect in the same microsecond, and when they do every connection of the
    # burst lands on the one gevent worker that is awake (measured 32 of 32), which then does
    # the whole round on one core, for either endpoint.
    pool = [Connection(port) for _ in range(connections)]
    for conn in pool:
        await conn._open()
        await asyncio.sleep(CONNECT_GAP)
    started = time.perf_counter()
    await asyncio.gather(*(client(conn) for conn in pool))
    return time.perf_counter() - started, latencies, statuses


async def open_loop(port: int, offered: list[Offered], rate: float, max_connections: int) -> tuple[float, list[float], dict[int, int]]:
    """Send at a fixed rate regardless of answers; latency counts from the scheduled send time."""
    idle: list[Connection] = []
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    in_flight = asyncio.Semaphore(max_connections)
    interval = 1.0 / rate
    start = time.perf_counter() + 0.05

    async def one(item: Offered, scheduled: float) -> None:
        async with in_flight:
            conn = idle.pop() if idle else Connection(port)
            status = await conn.send(item.raw)
            latencies.append((time.perf_counter() - scheduled) * 1000)
            statuses[status] = statuses.get(status, 0) + 1
            idle.append(conn)

    tasks = []
    for i, item in enumerate(offered):
        scheduled = start + i * interval
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(item, scheduled)))
    await asyncio.gather(*tasks)
    for conn in idle:
        await conn.close()
    return time.perf_counter() - start, latencies, statuses


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(app_spec: str, port: int, env: dict[str, str], workers: int,
             pythonpath: str | None = None) -> Iterator[psutil.Process]:
    """gunicorn as in production: the repo's `gunicorn.conf.py`, bound to loopback, no access log."""
    command = [
        sys.executable, "-m", "gunicorn", app_spec, "-c", str(ROOT / "gunicorn.conf.py"),
        "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
    ]
    if pythonpath:
        command += ["--pythonpath", pythonpath]
    process = subprocess.Popen(command, env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.1)
        parent = psutil.Process(process.pid)
        deadline = time.monotonic() + 15
        while len(parent.children()) < workers and time.monotonic() < deadline:
            time.sleep(0.1)
        yield parent
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def tree_context_switches(parent: psutil.Process) -> int:
    """Context switches (voluntary and not) of every thread of gunicorn's master and workers."""
    total = 0
    for proc in [parent, *parent.children(recursive=True)]:
        try:
            tasks = os.listdir(f"/proc/{proc.pid}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{proc.pid}/task/{task}/status") as status:
                    total += sum(int(line.split()[1]) for line in status if "ctxt_switches" in line)
            except OSError:
                continue
    return total


def worker_cpu(parent: psutil.Process) -> dict[int, float]:
    """CPU seconds of each worker process (how evenly the connections landed)."""
    return _cpu(parent.children())


def tree_cpu(parent: psutil.Process) -> tuple[float, float]:
    """(user, system) CPU seconds of gunicorn's master and workers."""
    user = system = 0.0
    for proc in [parent, *parent.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        user += times.user
        system += times.system
    return user, system


def database_backends(admin_url: str | None, database: str | None) -> list[psutil.Process]:
    """The PostgreSQL backends connected to `database` (the server's own connections to it)."""
    if not admin_url or not database:
        return []
    engine = create_engine(admin_url)
    try:
        with engine.connect() as conn:
            pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = :name AND pid <> "
                                     "pg_backend_pid()"), {"name": database}).scalars().all()
    finally:
        engine.dispose()
    procs = []
    for pid in pids:
        try:
            procs.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
    return procs


def _cpu(procs: list[psutil.Process]) -> dict[int, float]:
    out = {}
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        out[proc.pid] = times.user + times.system
    return out


def redis_servers(redis_url: str) -> list[psutil.Process]:
    """The local redis-server listening on the URL's port (none when Redis is elsewhere)."""
    port = Redis.from_url(redis_url).connection_pool.connection_kwargs.get("port", 6379)
    found = []
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] != "redis-server":
            continue
        try:
            if any(c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN
                   for c in proc.net_connections("tcp")):
                found.append(proc)
        except (psutil.AccessDenied, psutil.NoSuchProcess):
            continue
    return found


def _busy(times: Any) -> float:
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def measure(name: str, server: psutil.Process, coro_factory, admin_url: str | None = None,
            database: str | None = None, redis_url: str | None = None) -> RunResult:
    """Runs the load; CPU of gunicorn's processes, of this process (the generator), of the local
    Redis server, of the whole machine and, when `database` is given, of the PostgreSQL
    backends serving it (local: psutil reads them; backends that come and go during the run are
    missed, the server's pooled connections stay)."""
    backends = database_backends(admin_url, database)
    redis_procs = redis_servers(redis_url) if redis_url else []
    db_before, redis_before = _cpu(backends), _cpu(redis_procs)
    user_before, system_before = tree_cpu(server)
    switches_before, workers_before = tree_context_switches(server), worker_cpu(server)
    machine_before, generator_before = _busy(psutil.cpu_times()), time.process_time()
    seconds, latencies, statuses = asyncio.run(coro_factory())
    machine_after, generator_after = _busy(psutil.cpu_times()), time.process_time()
    user_after, system_after = tree_cpu(server)
    switches_after, workers_after = tree_context_switches(server), worker_cpu(server)
    per_worker = [workers_after[pid] - workers_before[pid] for pid in workers_after if pid in workers_before]
    db_after, redis_after = _cpu(backends), _cpu(redis_procs)
    db_seconds = sum(db_after[pid] - db_before[pid] for pid in db_after if pid in db_before)
    redis_seconds = sum(redis_after[pid] - redis_before[pid] for pid in redis_after if pid in redis_before)
    return RunResult(name, len(latencies), seconds, latencies, statuses,
                     user_after - user_before + system_after - system_before, system_after - system_before,
                     db_seconds, redis_seconds, generator_after - generator_before, machine_after - machine_before,
                     switches_after - switches_before,
                     max(per_worker) / sum(per_worker) if sum(per_worker) > 0 else 0.0)


def _gunicorn_config(env: dict[str, str]) -> dict[str, object]:
    """The settings gunicorn.conf.py resolves to under `env` (it reads the environment)."""
    code = ("import runpy, json; c = runpy.run_path('gunicorn.conf.py'); "
            "print(json.dumps({k: c[k] for k in ('workers', 'threads', 'worker_connections', 'worker_class', "
            "'preload_app')}))")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


# --------------------------------------------------------------------------- database


@contextmanager
def scratch_database(admin_url: str, name: str) -> Iterator[str]:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"), {"name": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def prepare(settings_env: dict[str, str]) -> None:
    """Tables and one installed shop, through the app's own models."""
    from shopify_app import create_app, db
    from shopify_app.models import Base, Shop

    app = create_app(_settings(settings_env))
    with app.app_context():
        Base.metadata.create_all(db.get_database(app).engine)
        db.session.add(Shop(domain=SHOP, access_token="shpat_bench", scopes="read_products,write_products"))
        db.session.commit()
    db.get_database(app).engine.dispose()


def _settings(env: dict[str, str]):
    from shopify_app.settings import Settings

    return Settings.from_env(env)


def verify(settings_env: dict[str, str], redis_url: str, expected_ids: set[str]) -> list[str]:
    """Every unique delivery recorded once and enqueued once; returns the problems found."""
    from shopify_app import create_app, db
    from shopify_app.models import WebhookDelivery

    problems: list[str] = []
    app = create_app(_settings(settings_env))
    with app.app_context():
        session = db.session()
        rows = session.execute(select(WebhookDelivery.id, WebhookDelivery.webhook_id)).all()
        recorded = [webhook_id for _id, webhook_id in rows]
        if len(recorded) != len(set(recorded)):
            problems.append("a webhook id was recorded twice")
        if set(recorded) != expected_ids:
            problems.append(f"recorded {len(set(recorded))} deliveries, expected {len(expected_ids)} "
                            f"(missing {len(expected_ids - set(recorded))}, extra {len(set(recorded) - expected_ids)})")
        delivery_ids = {row_id for row_id, _ in rows}
        redis = Redis.from_url(redis_url)
        queued = [job_id.decode() for job_id in redis.lrange("rq:queue:webhooks", 0, -1)]
        if len(queued) != len(set(queued)):
            problems.append(f"{len(queued) - len(set(queued))} jobs enqueued twice")
        expected_jobs = {f"webhook-delivery-{i}" for i in delivery_ids}
        if set(queued) != expected_jobs:
            problems.append(f"{len(set(queued))} jobs queued for {len(expected_jobs)} recorded deliveries")
        count = session.scalar(select(func.count()).select_from(WebhookDelivery))
        # Rows committed by one transaction share its xmin: the group-commit batch sizes, seen
        # from the database (new rows only; a duplicate in a batch adds no row).
        per_commit: dict[str, list[int]] = {}
        for phase, rows_in_commit in session.execute(text(
                "SELECT split_part(webhook_id, '-', 1), count(*) FROM webhook_deliveries "
                "GROUP BY 1, xmin::text")).all():
            per_commit.setdefault(phase, []).append(rows_in_commit)
        for phase, sizes in sorted(per_commit.items()):
            sizes.sort()
            print(f"rows per commit ({phase}): {len(sizes)} commits, mean {statistics.fmean(sizes):.1f}, "
                  f"p50 {sizes[len(sizes) // 2]}, p90 {sizes[int(len(sizes) * 0.9)]}, max {sizes[-1]}")
        print(f"verified: {count} deliveries recorded, {len(queued)} jobs queued, "
              f"{len(expected_ids)} unique webhook ids offered")
        session.close()
    db.get_database(app).engine.dispose()
    return problems


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--duplicates", type=float, default=0.10)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per endpoint (median ratio)")
    parser.add_argument("--connections", type=int, default=32)
    # Default: what gunicorn.conf.py chooses (WEB_CONCURRENCY, GUNICORN_THREADS); these override.
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--worker-class", default=None, help="override gunicorn.conf.py's choice (gevent on PostgreSQL)")
    parser.add_argument("--rate", type=float, default=300.0)
    parser.add_argument("--rate-seconds", type=float, default=20.0)
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"))
    parser.add_argument("--pg-admin-url", default=os.environ.get(
        "BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1/postgres"))
    parser.add_argument("--pg-database", default=f"studio_bench_{os.getpid()}")
    args = parser.parse_args()
    if not args.pg_admin_url.startswith("postgresql+psycopg://"):
        args.pg_admin_url = args.pg_admin_url.replace("postgresql://", "postgresql+psycopg://", 1)

    redis = Redis.from_url(args.redis_url)
    redis.ping()
    redis.flushdb()

    with scratch_database(args.pg_admin_url, args.pg_database) as database_url, \
            tempfile.TemporaryDirectory(prefix="studio-bench-") as tmp:
        env = {
            **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL")},
            "STUDIO_ENV": "production",
            "STUDIO_INSTANCE_PATH": str(Path(tmp) / "instance"),
            "SHOPIFY_API_KEY": CLIENT_ID,
            "SHOPIFY_API_SECRET": CLIENT_SECRET,
            "SHOPIFY_API_SECRET_PREVIOUS": "bench-previous-secret-" + "1" * 22,
            "APP_URL": "https://studio-bench.example.com",
            "DATABASE_URL": database_url,
            "REDIS_URL": args.redis_url,
            "ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "SECRET_KEY": "bench-" + "2" * 40,
            "MEDIA_ROOT": str(Path(tmp) / "media"),
            "LOG_LEVEL": "WARNING",
        }
        if args.workers:
            env["WEB_CONCURRENCY"] = str(args.workers)
        if args.threads:
            env["GUNICORN_THREADS"] = str(args.threads)
        if args.worker_class:
            env["GUNICORN_WORKER_CLASS"] = args.worker_class
        config = _gunicorn_config(env)
        prepare(env)
        Path(tmp, "bare_app.py").write_text(BARE_APP)

        studio_port, bare_port = free_port(), free_port()
        # Each round offers its own deliveries (`bench1-…`, `bench2-…`): every webhook id is new
        # to the database when its round starts, duplicates included within the round.
        rounds = [build_deliveries(studio_port, args.requests, args.duplicates, seed=3 + 10 * r, prefix=f"bench{r}")
                  for r in range(1, args.rounds + 1)]
        warmup = build_deliveries(studio_port, 500, 0.0, seed=4, prefix="warmup")
        rate_count = int(args.rate * args.rate_seconds)
        paced = build_deliveries(studio_port, rate_count, 0.0, seed=5, prefix="paced")
        expected = {o.webhook_id for o in warmup} | {o.webhook_id for o in paced}
        for offered in rounds:
            expected |= {o.webhook_id for o in offered}
        unique = len({o.webhook_id for o in rounds[0]})
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
              "(other processes on the machine share the cores with the server and the generator)")
        print(f"offering {args.rounds} rounds of {len(rounds[0])} signed products/create deliveries "
              f"({len(rounds[0]) - unique} duplicates each) to each endpoint in turn, {args.connections} connections; "
              f"gunicorn.conf.py: {config['workers']} {config['worker_class']} workers × "
              f"{config['threads'] if config['worker_class'] == 'gthread' else config['worker_connections']} "
              f"{'threads' if config['worker_class'] == 'gthread' else 'connections'}, "
              f"preload {config['preload_app']}, {os.cpu_count()} CPUs, connections opened "
              f"{1000 * CONNECT_GAP:g} ms apart")

        # Both servers up at once (the idle one costs nothing), each under the same configuration;
        # the rounds alternate between them, so a spell of machine noise hits both, and the
        # verdict is the median of the rounds' ratios.
        studios: list[RunResult] = []
        bares: list[RunResult] = []
        with gunicorn("bare_app:app", bare_port, env, config["workers"], pythonpath=tmp) as bare_server, \
                gunicorn("app:app", studio_port, env, config["workers"]) as studio_server:
            asyncio.run(closed_loop(bare_port, retarget(warmup, bare_port), args.connections))
            asyncio.run(closed_loop(studio_port, warmup, args.connections))
            for number, offered in enumerate(rounds, start=1):
                bare_offered = retarget(offered, bare_port)
                bares.append(measure(f"bare Flask 200 #{number}", bare_server,
                                     lambda: closed_loop(bare_port, bare_offered, args.connections),
                                     redis_url=args.redis_url))
                studios.append(measure(f"POST /webhooks #{number}", studio_server,
                                       lambda: closed_loop(studio_port, offered, args.connections),
                                       args.pg_admin_url, args.pg_database, args.redis_url))
            time.sleep(1)
            paced_result = measure(f"webhooks @ {args.rate:.0f} req/s", studio_server,
                                   lambda: open_loop(studio_port, paced, args.rate, args.connections),
                                   args.pg_admin_url, args.pg_database, args.redis_url)

        print()
        for studio, bare in zip(studios, bares, strict=True):
            for result in (studio, bare):
                print(result.line())
                print(result.cpu_line())
            print(f"{'':<22} ratio {100 * studio.throughput / bare.throughput:.0f} %")
        print(paced_result.line())
        print(paced_result.cpu_line())
        ratios = sorted(studio.throughput / bare.throughput for studio, bare in zip(studios, bares, strict=True))
        ratio = statistics.median(ratios)
        print()
        print(f"webhook throughput = {100 * ratio:.0f} % of the bare endpoint's, median of {len(ratios)} rounds "
              f"({', '.join(f'{100 * r:.0f}' for r in ratios)} %) (target ≥ 60 %): "
              f"{'met' if ratio >= 0.6 else 'NOT met'}")
        print(f"  webhook endpoint {statistics.median(r.throughput for r in studios):.0f} req/s, bare endpoint "
              f"{statistics.median(r.throughput for r in bares):.0f} req/s (medians)")
        p99 = paced_result.pct(99)
        print(f"p99 at {args.rate:.0f} req/s offered = {p99:.1f} ms (target ≤ 50 ms): "
              f"{'met' if p99 <= 50 else 'NOT met'}")

        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        problems = verify(env, args.redis_url, expected)
        bad_status = {k: v for r in (*studios, paced_result) for k, v in r.statuses.items() if k != 200}
        if bad_status:
            problems.append(f"non-200 answers: {bad_status}")
        for problem in problems:
            print("PROBLEM:", problem)
        redis.flushdb()
        return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
