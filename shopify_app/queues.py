"""RQ on Redis: the queues, and enqueueing that happens only after the row is committed.

The database is the truth and Redis the transport: a unit of work is a committed row first, and
only then a message. `enqueue_after_commit` parks the message on the SQLAlchemy session and sends
it from the session's `after_commit` event; a rollback drops it. A message that is lost anyway
(Redis flushed, worker killed) is found again from the row by the reconciler.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app
from redis import Redis
from rq import Queue
from rq.job import Job
from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

# Priority order: workers take webhooks first (Shopify wants fast answers and the handlers are
# short), then provider calls, then Shopify pushes, then housekeeping.
QUEUE_NAMES = ("webhooks", "generation", "media", "maintenance")
EXTENSION_KEY = "studio.redis"
_PENDING = "studio.pending_enqueues"


@dataclasses.dataclass(frozen=True)
class PendingEnqueue:
    queue: str
    func: str | Callable[..., Any]
    args: tuple[Any, ...]
    job_id: str | None
    delay: dt.timedelta | None
    meta: dict[str, Any] | None


class Broker:
    """The app's Redis connection and its queues."""

    def __init__(self, url: str):
        self.url = url
        self.redis = Redis.from_url(url, health_check_interval=30)
        self.queues = {name: Queue(name, connection=self.redis) for name in QUEUE_NAMES}

    def queue(self, name: str) -> Queue:
        return self.queues[name]

    def enqueue_now(self, pending: PendingEnqueue) -> Job:
        queue = self.queue(pending.queue)
        options: dict[str, Any] = {"job_id": pending.job_id, "meta": pending.meta or {}}
        if pending.delay is not None and pending.delay.total_seconds() > 0:
            return queue.enqueue_in(pending.delay, pending.func, *pending.args, **options)
        return queue.enqueue(pending.func, *pending.args, **options)


def init_app(app: Flask, redis_url: str) -> Broker:
    broker = Broker(redis_url)
    app.extensions[EXTENSION_KEY] = broker
    return broker


def get_broker(app: Flask | None = None) -> Broker:
    return (app or current_app).extensions[EXTENSION_KEY]


def enqueue_after_commit(
    session: Session,
    queue: str,
    func: str | Callable[..., Any],
    *args: Any,
    job_id: str | None = None,
    delay: dt.timedelta | None = None,
    meta: dict[str, Any] | None = None,
) -> None:
    """Send `func(*args)` to `queue` once the session's transaction commits; never if it rolls back."""
    if queue not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {queue!r}")
    broker = get_broker()
    if not session.in_transaction():
        # Tie the message to a transaction, so a rollback before any write still drops it.
        session.begin()
    pending = session.info.setdefault(_PENDING, [])
    pending.append((broker, PendingEnqueue(queue, func, args, job_id, delay, meta)))


@event.listens_for(Session, "after_commit")
def _send_pending(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    for broker, item in pending:
        try:
            broker.enqueue_now(item)
        except Exception:
            # The row is committed; the reconciler will enqueue it again from the database.
            log.exception("enqueue failed after commit; the reconciler will retry", extra={
                "data": {"queue": item.queue, "rq_job_id": item.job_id}
            })


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending_soft(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:  # outermost transaction only
        session.info.pop(_PENDING, None)
