"""`flask studio …`: the worker, the dev runner, migrations and operator commands."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import click
from flask import current_app
from flask.cli import AppGroup

from shopify_app import migrate
from shopify_app.queues import QUEUE_NAMES
from shopify_app.settings import PROJECT_ROOT

studio_cli = AppGroup("studio", help="Catalog Studio commands.")


def _settings():  # noqa: ANN202 - the Settings object of the current app
    return current_app.config["STUDIO_SETTINGS"]


@studio_cli.command("worker")
@click.option("--queues", default=",".join(QUEUE_NAMES), show_default=True,
              help="Comma-separated queues, in priority order.")
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
@click.option("--name", default=None, help="Worker name (defaults to RQ's).")
@click.option("--fork", is_flag=True,
              help="Fork a work horse per job (RQ's Worker: a process per job, ~25 ms of CPU more per job) "
                   "instead of running jobs in the worker process.")
def worker_command(queues: str, burst: bool, name: str | None, fork: bool) -> None:
    """Run an RQ worker with the scheduler on."""
    from rq import Worker

    from jobs.runtime import StudioWorker, run_worker

    names = tuple(q.strip() for q in queues.split(",") if q.strip())
    unknown = [q for q in names if q not in QUEUE_NAMES]
    if unknown:
        raise click.BadParameter(f"unknown queue(s): {', '.join(unknown)}", param_hint="--queues")
    run_worker(current_app._get_current_object(), names, burst=burst, name=name,  # type: ignore[attr-defined]
               worker_class=Worker if fork else StudioWorker, recycle=True)


@studio_cli.group("db")
def db_group() -> None:
    """Database migrations (Alembic)."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    migrate.upgrade(_settings().database_url, revision)


@db_group.command("downgrade")
@click.argument("revision", default="base")
def db_downgrade(revision: str) -> None:
    migrate.downgrade(_settings().database_url, revision)


@db_group.command("revision")
@click.option("-m", "--message", required=True)
def db_revision(message: str) -> None:
    migrate.revision(_settings().database_url, message)


@studio_cli.command("reconcile")
def reconcile_command() -> None:
    """Run the reconciler once, now."""
    from jobs.maintenance import reconcile

    report = reconcile()
    click.echo(f"examined {report.examined}, requeued {len(report.requeued)}, failed {len(report.failed)}")


@studio_cli.command("seed")
def seed_command() -> None:
    """Create what a fresh install needs (idempotent)."""
    from shopify_app.seed import seed_defaults

    for line in seed_defaults():
        click.echo(line)


@studio_cli.command("dev")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", "worker_count", default=1, show_default=True, type=int)
def dev_command(host: str, port: int, worker_count: int) -> None:
    """Run everything on embedded defaults: Redis (if none is configured), migrations, web, worker."""
    from shopify_app import embedded_redis

    settings = _settings()
    env = dict(os.environ)
    children: list[subprocess.Popen[bytes]] = []
    started = time.monotonic()

    redis_url = settings.redis_url
    if not redis_url or not embedded_redis.reachable(redis_url):
        if redis_url:
            click.echo(f"REDIS_URL {redis_url} is not reachable; starting an embedded Redis instead")
        redis_dir = settings.instance_path / "redis"
        redis_url = embedded_redis.running_url(redis_dir)
        if redis_url is None:
            redis_url, redis_process = embedded_redis.start(redis_dir)
            children.append(redis_process)
        env["REDIS_URL"] = redis_url
    click.echo(f"redis:    {redis_url}")

    flask = [sys.executable, "-m", "flask", "--app", "app"]
    subprocess.run([*flask, "studio", "db", "upgrade"], env=env, cwd=PROJECT_ROOT, check=True)
    subprocess.run([*flask, "studio", "seed"], env=env, cwd=PROJECT_ROOT, check=True)

    # The production configuration (gunicorn.conf.py), on a local address with an access log.
    web = [
        sys.executable, "-m", "gunicorn", "app:app", "-c", str(PROJECT_ROOT / "gunicorn.conf.py"),
        "--bind", f"{host}:{port}", "--workers", "2", "--access-logfile", "-", "--graceful-timeout", "5",
    ]
    children.append(subprocess.Popen(web, env=env, cwd=PROJECT_ROOT))
    for i in range(worker_count):
        children.append(
            subprocess.Popen([*flask, "studio", "worker", "--name", f"dev-{os.getpid()}-{i}"],
                             env=env, cwd=PROJECT_ROOT)
        )

    url = f"http://{host}:{port}"
    _wait_ready(url, children)
    click.echo(f"\nCatalog Studio is running at {url}/  (ready in {time.monotonic() - started:.1f}s)")
    if settings.dev_shop:
        click.echo(f"dev shop: {settings.dev_shop_domain} (no Shopify credentials set)")
    click.echo("Ctrl-C stops everything.\n")

    def _stop(*_args: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        click.echo("a process exited; stopping the rest")
    except KeyboardInterrupt:
        click.echo("\nstopping…")
    finally:
        _stop_children(children)


def _wait_ready(url: str, children: list[subprocess.Popen[bytes]], timeout: float = 60) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(child.poll() is not None for child in children):
            return
        try:
            if requests.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)


def _stop_children(children: list[subprocess.Popen[bytes]]) -> None:
    # Web and workers first, Redis (the first child, when embedded) last.
    for child in reversed(children):
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    for child in reversed(children):
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()


def register(command: click.Command) -> click.Command:
    """Feature modules add their commands (create-api-key, create-staff, shoot) through this."""
    studio_cli.add_command(command)
    return command

