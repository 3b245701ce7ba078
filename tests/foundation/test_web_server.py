"""gunicorn.conf.py, the one web-server configuration: which worker class it picks, and the real
server it starts (gunicorn, the project's config, this test's database and Redis) recording
signed webhooks from concurrent connections exactly once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from shopify_app.models import WebhookDelivery
from shopify_app.settings import PROJECT_ROOT
from tests.conftest import CLIENT_SECRET, settings_environ
from tests.support.shopify import TEST_SHOP, fixture_bytes
from tests.webhooks.conftest import queued_webhook_jobs

# The config as gunicorn's master loads it, then the app as preload_app does; what psycopg then
# waits with (only a cooperative wait lets the other requests of a gevent worker run).
RESOLVE = """
import json, runpy, sys
config = runpy.run_path("gunicorn.conf.py")
import app  # noqa: F401 - preload_app
import psycopg.waiting
monkey = sys.modules.get("gevent.monkey")
print(json.dumps({"worker_class": config["worker_class"], "reuse_port": config.get("reuse_port", False),
                  "patched": bool(monkey and monkey.is_module_patched("threading")),
                  "psycopg_wait": psycopg.waiting.wait.__name__}))
"""


def resolve_config(tmp_path: Path, **environ: str) -> dict:
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    done = subprocess.run([sys.executable, "-c", RESOLVE], cwd=PROJECT_ROOT, timeout=60,
                          env={**base, "STUDIO_INSTANCE_PATH": str(tmp_path / "instance"), **environ},
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("database_url", ["postgresql://db.internal/studio", "postgres://db.internal/studio",
                                          "postgresql+psycopg://db.internal/studio"])
def test_on_postgresql_the_server_runs_gevent_patched_before_the_app_loads(
        tmp_path: Path, database_url: str) -> None:
    seen = resolve_config(tmp_path, DATABASE_URL=database_url)
    assert seen["worker_class"] == "gevent"
    assert seen["patched"] is True
    assert seen["psycopg_wait"] != "wait_c"  # psycopg saw the patch: its waits yield
    assert seen["reuse_port"] is False  # one shared socket: never a port without a listener


@pytest.mark.parametrize("worker_class", ["gevent_pywsgi", "gevent_wsgi", "gunicorn.workers.ggevent.GeventWorker"])
def test_every_gevent_worker_class_gets_the_early_patch(tmp_path: Path, worker_class: str) -> None:
    seen = resolve_config(tmp_path, DATABASE_URL="postgresql://db.internal/studio",
                          GUNICORN_WORKER_CLASS=worker_class)
    assert (seen["worker_class"], seen["patched"]) == (worker_class, True)
    assert seen["psycopg_wait"] != "wait_c"


@pytest.mark.parametrize("environ", [{}, {"DATABASE_URL": "sqlite:///instance/studio.db"}])
def test_on_sqlite_the_server_keeps_threads_and_patches_nothing(tmp_path: Path, environ: dict[str, str]) -> None:
    seen = resolve_config(tmp_path, **environ)
    assert (seen["worker_class"], seen["patched"]) == ("gthread", False)


def test_the_worker_class_can_be_chosen(tmp_path: Path) -> None:
    seen = resolve_config(tmp_path, DATABASE_URL="postgresql://db.internal/studio", GUNICORN_WORKER_CLASS="gthread")
    assert (seen["worker_class"], seen["patched"], seen["psycopg_wait"]) == ("gthread", False, "wait_c")


# ----------------------------------------------------------------------------- the real server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post_webhook(port: int, body: bytes, webhook_id: str) -> tuple[int, dict]:
    signature = base64.b64encode(hmac.new(CLIENT_SECRET.encode(), body, hashlib.sha256).digest()).decode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", "/webhooks", body=body, headers={
            "Content-Type": "application/json", "X-Shopify-Topic": "products/update",
            "X-Shopify-Hmac-Sha256": signature, "X-Shopify-Shop-Domain": TEST_SHOP,
            "X-Shopify-API-Version": "2026-10", "X-Shopify-Webhook-Id": webhook_id})
        answer = connection.getresponse()
        return answer.status, json.loads(answer.read())
    finally:
        connection.close()


def stop(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM to gunicorn's process group, SIGKILL if it is still there after 30 s."""
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    except ProcessLookupError:
        server.wait(5)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(5)
        raise


@pytest.mark.slow
def test_the_production_server_records_concurrent_webhooks_exactly_once(
        app, session, tmp_path: Path, database_url: str, redis_url: str) -> None:
    expected_class = "gevent" if database_url.startswith("postgresql") else "gthread"
    port = free_port()
    log = tmp_path / "gunicorn.log"
    environ = {**{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")},
               **settings_environ(tmp_path, database_url, redis_url), "WEB_CONCURRENCY": "2"}
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "app:app", "-c", "gunicorn.conf.py",
             "--bind", f"127.0.0.1:{port}", "--log-level", "info"],
            cwd=PROJECT_ROOT, env=environ, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log.read_text()[-3000:]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.2)

        body = fixture_bytes("webhooks", "products_create")
        ids = [f"server-{uuid.uuid4()}" for _ in range(60)]
        offered = ids + ids[:15]  # 15 sent twice, from other connections, at the same time
        answers: list[tuple[str, int, dict]] = []
        lock = threading.Lock()

        def send(chunk: list[str]) -> None:
            for webhook_id in chunk:
                status, answer = post_webhook(port, body, webhook_id)
                with lock:
                    answers.append((webhook_id, status, answer))

        threads = [threading.Thread(target=send, args=(offered[i::12],)) for i in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)

        assert sorted(status for _id, status, _answer in answers) == [200] * len(offered)
        assert sorted(answer["status"] for _id, _status, answer in answers) == \
            ["duplicate"] * 15 + ["received"] * 60
        recorded = session.scalars(select(WebhookDelivery.webhook_id)).all()
        assert sorted(recorded) == sorted(ids)
        assert len(queued_webhook_jobs(app)) == 60
    finally:
        stop(server)
    output = log.read_text()
    assert f"Using worker: {expected_class}" in output
    assert server.returncode == 0, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 60
