"""Test harness: real Redis, real database (PostgreSQL when TEST_DATABASE_URL is set), and no
outbound network. Outbound HTTP is replaced only by `responses` (or the dev shop); anything else
that tries to leave the machine fails the test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import responses
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from shopify_app import create_app, db
from shopify_app.models import Base
from shopify_app.queues import get_broker
from shopify_app.settings import Settings
from tests.support.network import OutboundGuard

ENCRYPTION_KEY = Fernet.generate_key().decode()
CLIENT_ID = "test-client-id"
CLIENT_SECRET = "test-client-secret-0123456789abcdef"
PREVIOUS_SECRET = "test-previous-secret-fedcba9876543210"
DEV_SHOP = "catalog-studio-dev.myshopify.com"


# ----------------------------------------------------------------------------- network guard

_guard = OutboundGuard()


@pytest.fixture(autouse=True)
def no_outbound_network() -> Iterator[OutboundGuard]:
    """Any connection to a non-loopback address, or lookup of a non-local name, fails the test."""
    _guard.violations.clear()
    with _guard.active():
        yield _guard
    if _guard.violations:
        pytest.fail("un-mocked outbound network access: " + "; ".join(_guard.violations))


@pytest.fixture(autouse=True)
def mocked_responses() -> Iterator[responses.RequestsMock]:
    """Every test runs inside `responses`: an HTTP call through `requests` that no test
    registered raises ConnectionError (and the guard above records it)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


# ----------------------------------------------------------------------------- Redis

@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from shopify_app import embedded_redis

    url = os.environ.get("TEST_REDIS_URL") or os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"
    if embedded_redis.reachable(url):
        yield url
        return
    directory = tmp_path_factory.mktemp("redis")
    url, process = embedded_redis.start(directory)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


# ----------------------------------------------------------------------------- database

@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        url = Settings.from_env({"DATABASE_URL": url, "ENCRYPTION_KEY": ENCRYPTION_KEY,
                                 "SECRET_KEY": "x" * 32}).database_url
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'studio.db'}"
    engine = create_engine(url)
    from shopify_app import crypto

    crypto.configure((ENCRYPTION_KEY,))
    Base.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    Base.metadata.create_all(engine)
    engine.dispose()
    yield url


def _empty_tables(app: Flask) -> None:
    engine = db.get_database(app).engine
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE"))
        else:
            # Children first; the one cycle (shops.default_catalog_model_id) is ON DELETE SET NULL.
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))


# ----------------------------------------------------------------------------- app

def settings_environ(tmp_path: Path, database_url: str, redis_url: str) -> dict[str, str]:
    """The environment a test app (or a worker subprocess) is configured from."""
    return {
        "STUDIO_ENV": "test",
        "STUDIO_INSTANCE_PATH": str(tmp_path / "instance"),
        "SHOPIFY_API_KEY": CLIENT_ID,
        "SHOPIFY_API_SECRET": CLIENT_SECRET,
        "SHOPIFY_API_SECRET_PREVIOUS": PREVIOUS_SECRET,
        "STUDIO_DEV_SHOP": "1",
        "APP_URL": "https://studio.test",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "ENCRYPTION_KEY": ENCRYPTION_KEY,
        "SECRET_KEY": "test-secret-key-" + "0" * 32,
        "MEDIA_ROOT": str(tmp_path / "media"),
        "LOG_JSON": "1",
        "LOG_LEVEL": "INFO",
    }


def make_settings(tmp_path: Path, database_url: str, redis_url: str, **overrides: object) -> Settings:
    return Settings.from_env(settings_environ(tmp_path, database_url, redis_url), **overrides)


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    return make_settings(tmp_path, database_url, redis_url)


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    app = create_app(settings)
    app.config["TESTING"] = True
    get_broker(app).redis.flushdb()
    _empty_tables(app)
    with app.app_context():
        yield app
        db.session.remove()
    db.get_database(app).engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def session(app: Flask):  # noqa: ANN201 - the scoped SQLAlchemy session of the app context
    return db.session()


def pytest_report_header(config: pytest.Config) -> list[str]:
    database = "PostgreSQL (TEST_DATABASE_URL)" if os.environ.get("TEST_DATABASE_URL") else "SQLite"
    return [f"catalog-studio: database={database}"]

