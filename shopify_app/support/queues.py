"""Queue health from RQ: depth per queue, registries, workers and heartbeats, scheduled jobs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from flask import abort, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from rq.job import Job
from rq.worker import Worker

from shopify_app.models import utcnow
from shopify_app.queues import QUEUE_NAMES, get_broker
from shopify_app.support import bp
from shopify_app.support.redact import redact_value

PAGE_SIZE = 50


@dataclass
class QueueStats:
    name: str
    queued: int
    started: int
    failed: int
    scheduled: int
    deferred: int
    finished: int


@dataclass
class WorkerInfo:
    name: str
    state: str
    queues: list[str]
    last_heartbeat: dt.datetime | None
    heartbeat_age: float | None
    current_job_id: str | None


@dataclass
class JobInfo:
    id: str
    func: str
    args: str
    status: str
    when: dt.datetime | None
    error: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


def queue_stats() -> list[QueueStats]:
    broker = get_broker()
    stats = []
    for name in QUEUE_NAMES:
        queue = broker.queue(name)
        stats.append(QueueStats(
            name=name,
            queued=queue.count,
            started=queue.started_job_registry.count,
            failed=queue.failed_job_registry.count,
            scheduled=queue.scheduled_job_registry.count,
            deferred=queue.deferred_job_registry.count,
            finished=queue.finished_job_registry.count,
        ))
    return stats


def workers() -> list[WorkerInfo]:
    now = utcnow()
    found = []
    for worker in Worker.all(connection=get_broker().redis):
        heartbeat = worker.last_heartbeat
        if heartbeat is not None and heartbeat.tzinfo is None:
            heartbeat = heartbeat.replace(tzinfo=dt.UTC)
        found.append(WorkerInfo(
            name=worker.name,
            state=str(worker.get_state()),
            queues=worker.queue_names(),
            last_heartbeat=heartbeat,
            heartbeat_age=(now - heartbeat).total_seconds() if heartbeat else None,
            current_job_id=worker.get_current_job_id(),
        ))
    return sorted(found, key=lambda w: w.name)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def _job_infos(job_ids: list[str], registry: str, queue_name: str) -> list[JobInfo]:
    broker = get_broker()
    jobs = Job.fetch_many(job_ids, connection=broker.redis)
    infos = []
    scheduled = broker.queue(queue_name).scheduled_job_registry
    for job_id, job in zip(job_ids, jobs, strict=True):
        if job is None:
            infos.append(JobInfo(job_id, "(expired)", "", "missing", None))
            continue
        if registry == "scheduled":
            when = _aware(scheduled.get_scheduled_time(job_id))
        else:
            when = _aware(job.ended_at or job.started_at or job.enqueued_at)
        error = ""
        if registry == "failed":
            result = job.latest_result()
            error = str(redact_value((result.exc_string if result else "") or ""))[-1500:]
        infos.append(JobInfo(
            id=job.id,
            func=job.func_name or "",
            args=str(redact_value(list(job.args or ())))[:300],
            status=str(job.get_status(refresh=False)),
            when=when,
            error=error,
        ))
    return infos


REGISTRIES = ("failed", "scheduled", "started")


def registry_page(queue_name: str, registry: str, page: int) -> tuple[list[JobInfo], bool]:
    queue = get_broker().queue(queue_name)
    reg = {"failed": queue.failed_job_registry, "scheduled": queue.scheduled_job_registry,
           "started": queue.started_job_registry}[registry]
    start = page * PAGE_SIZE
    job_ids = reg.get_job_ids(start, start + PAGE_SIZE, desc=registry == "failed")
    has_more = len(job_ids) > PAGE_SIZE
    return _job_infos(job_ids[:PAGE_SIZE], registry, queue_name), has_more


def _page_arg() -> int:
    try:
        return max(0, min(int(request.args.get("page", "0")), 10_000))
    except ValueError:
        return 0


@bp.get("/queues")
def queues() -> str:
    return render_template("support/queues.html", stats=queue_stats(), workers=workers(),
                           registries=REGISTRIES)


@bp.get("/queues/<queue_name>/<registry>")
def queue_registry(queue_name: str, registry: str) -> str:
    if queue_name not in QUEUE_NAMES or registry not in REGISTRIES:
        abort(404)
    page = _page_arg()
    jobs, has_more = registry_page(queue_name, registry, page)
    return render_template("support/queue_registry.html", queue_name=queue_name, registry=registry,
                           jobs=jobs, page=page, has_more=has_more)


@bp.get("/api/queues")
def queues_json() -> ResponseReturnValue:
    """The same numbers for scripts and monitors (console session required, like every page)."""
    return jsonify({
        "queues": [s.__dict__ for s in queue_stats()],
        "workers": [
            {**w.__dict__, "last_heartbeat": w.last_heartbeat.isoformat() if w.last_heartbeat else None}
            for w in workers()
        ],
    })
