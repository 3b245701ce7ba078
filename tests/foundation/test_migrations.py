"""Alembic migrations: they build the schema the models describe, both ways, on both databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from shopify_app import migrate
from shopify_app.models import Base
from shopify_app.settings import Settings



@contextmanager
def _postgresql_database(tmp_path) -> Iterator[str]:  # noqa: ANN001
    base = os.environ.get("TEST_DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/test"
    base = Settings.from_env({"DATABASE_URL": base, "STUDIO_INSTANCE_PATH": str(tmp_path)}).database_url
    name = f"studio_migrations_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # noqa: ANN001
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    with _postgresql_database(tmp_path) as url:
        yield url


def test_upgrade_to_head_then_downgrade_to_base(empty_database: str) -> None:
    migrate.upgrade(empty_database, "head")
    engine = create_engine(empty_database)
    try:
        tables = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables

        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
        assert diff == [], f"models and migrations disagree: {diff}"

        migrate.downgrade(empty_database, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(empty_database, "head")  # and back up: the downgrade left nothing behind
    finally:
        engine.dispose()


def _payload_compression(engine) -> str:  # noqa: ANN001
    with engine.connect() as conn:
        return conn.scalar(text("SELECT attcompression FROM pg_attribute WHERE attrelid = "
                                "'webhook_deliveries'::regclass AND attname = 'payload'"))


@pytest.fixture
def empty_postgresql(tmp_path) -> Iterator[str]:  # noqa: ANN001
    with _postgresql_database(tmp_path) as url:
        yield url


def test_webhook_payloads_are_compressed_with_lz4_on_postgresql(empty_postgresql: str) -> None:
    engine = create_engine(empty_postgresql)
    with engine.connect() as conn:
        lz4 = conn.scalar(text("SELECT 'lz4' = ANY(enumvals) FROM pg_settings "
                               "WHERE name = 'default_toast_compression'"))
    if not lz4:
        engine.dispose()
        pytest.skip("this PostgreSQL server has no lz4 (the migration leaves the default)")
    try:
        migrate.upgrade(empty_postgresql, "head")
        assert _payload_compression(engine) == "l"  # by the migration
        migrate.downgrade(empty_postgresql, "32755901b4ac")
        assert _payload_compression(engine) == ""  # the server's default again
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE webhook_deliveries"))
            Base.metadata.tables["webhook_deliveries"].create(conn)
        assert _payload_compression(engine) == "l"  # by the model, for tables made with create_all
    finally:
        engine.dispose()


def test_the_migrations_also_write_an_offline_sql_script(tmp_path, capsys) -> None:  # noqa: ANN001
    from alembic import command

    config = migrate.alembic_config("postgresql+psycopg://postgres@127.0.0.1/offline")
    command.upgrade(config, "head", sql=True)
    script = capsys.readouterr().out
    assert "CREATE TABLE webhook_deliveries" in script
    assert "SET COMPRESSION lz4" in script
