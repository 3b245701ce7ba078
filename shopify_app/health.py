"""Liveness and readiness: /healthz (the process answers) and /readyz (it can do its work)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, jsonify
from rq import Worker
from sqlalchemy import text

from shopify_app import db
from shopify_app.models import utcnow
from shopify_app.queues import get_broker

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    checks = {"database": _check_database, "redis": _check_redis, "workers": _check_workers}
    parts: dict[str, dict[str, Any]] = {}
    for name, check in checks.items():
        parts[name] = _timed(check)
    ok = all(part["status"] == "ok" for part in parts.values())
    return jsonify({"status": "ok" if ok else "unavailable", "checks": parts}), 200 if ok else 503


def _timed(check: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        result = {"status": "ok", **check()}
    except Exception as exc:  # a readiness probe reports, it does not raise
        result = {"status": "down", "error": f"{type(exc).__name__}: {exc}"[:300]}
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def _check_database() -> dict[str, Any]:
    db.session.execute(text("SELECT 1"))
    db.session.rollback()
    return {}


def _check_redis() -> dict[str, Any]:
    get_broker().redis.ping()
    return {}


def _check_workers() -> dict[str, Any]:
    settings = current_app.config["STUDIO_SETTINGS"]
    broker = get_broker()
    horizon = dt.timedelta(seconds=3 * settings.worker_heartbeat_seconds + 60)
    live = []
    for worker in Worker.all(connection=broker.redis):
        beat = worker.last_heartbeat
        if beat is not None and beat.tzinfo is None:
            beat = beat.replace(tzinfo=dt.UTC)
        if beat is not None and utcnow() - beat <= horizon:
            live.append(worker.name)
    if not live:
        raise RuntimeError("no live worker")
    return {"live": len(live)}
