"""The database: one engine per app, one session per request or job.

Data code uses `db.session` to add and flush; it never commits. The owner of the unit of work
commits: the request (`after_request`, before the response leaves) or the job wrapper
(`jobs.runtime`). Teardown always removes the session, rolling back whatever was left open.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, scoped_session, sessionmaker

if TYPE_CHECKING:
    from flask import Response

    from shopify_app.settings import Settings

EXTENSION_KEY = "studio.db"


# Connections per process (PostgreSQL). A web process runs at most REQUEST_SLOTS requests at once
# (gthread's threads, or `cooperative.RequestSlots` under gevent) plus the webhook writer's own
# connection, so a request never waits for one; a few stay for token refreshes, which take a
# second connection of their own.
POOL_SIZE = 10
MAX_OVERFLOW = 10
REQUEST_SLOTS = 16


class Database:
    def __init__(self, settings: Settings):
        self.engine = make_engine(settings.database_url)
        self.sessionmaker = sessionmaker(bind=self.engine, expire_on_commit=False)

    def dispose_after_fork(self) -> None:
        # A forked child must not reuse the parent's pooled connections (they share a socket);
        # close=False leaves the parent's connections alone.
        self.engine.dispose(close=False)


def make_engine(url: str) -> Engine:
    # hide_parameters: a database error's text (and so every logged traceback) would otherwise
    # carry the statement's values: request bodies, webhook payloads, signed URLs in job
    # inputs. The statement itself stays; the values remain on the exception (`exc.params`).
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            hide_parameters=True,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001
            cursor = dbapi_connection.cursor()
            # Foreign keys are off by default in SQLite; shop/redact relies on cascades.
            cursor.execute("PRAGMA foreign_keys=ON")
            # WAL lets the web process read while a worker writes.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=POOL_SIZE, max_overflow=MAX_OVERFLOW,
                         hide_parameters=True)


def _current_sessionmaker() -> Session:
    return current_app.extensions[EXTENSION_KEY].sessionmaker()


# One session per thread, built from the current app's sessionmaker; removed when the app
# context ends, so requests and jobs never share one.
session: scoped_session[Session] = scoped_session(_current_sessionmaker)


def init_app(app: Flask, settings: Settings) -> Database:
    database = Database(settings)
    app.extensions[EXTENSION_KEY] = database
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=database.dispose_after_fork)

    @app.after_request
    def _commit(response: Response) -> Response:
        # Commit before the response leaves, so a 2xx means the write is durable. Error
        # responses roll back in teardown. Handlers that must keep a row on a 4xx (a request
        # log) commit it themselves.
        # No session yet means nothing to commit: don't build one just to commit it (the
        # webhook endpoint, health checks and static files never open one).
        if session.registry.has() and response.status_code < 400 and not g.get("db_rollback_only"):
            session.commit()
        return response

    @app.teardown_appcontext
    def _remove(_exc: BaseException | None) -> None:
        session.remove()

    return database


def get_database(app: Flask | None = None) -> Database:
    return (app or current_app).extensions[EXTENSION_KEY]


@contextmanager
def transaction() -> Iterator[Session]:
    """Commit on success, roll back on error; for CLI commands and scripts."""
    try:
        yield session()
        session.commit()
    except BaseException:
        session.rollback()
        raise
