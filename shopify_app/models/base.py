"""Declarative base, shared column types and id helpers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, String, inspect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator
from ulid import ULID

# Deterministic constraint names, so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_ulid() -> str:
    return str(ULID())


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC datetimes")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }

    def __repr__(self) -> str:
        # Never print secret columns (marked info={"secret": True}) in a repr or a log line.
        mapper = inspect(type(self))
        shown = []
        for column in mapper.columns:
            if column.info.get("secret") or column.key not in ("id", "domain", "status", "kind", "name"):
                continue
            shown.append(f"{column.key}={getattr(self, column.key, None)!r}")
        return f"<{type(self).__name__} {' '.join(shown)}>"


def ulid_pk() -> Mapped[str]:
    return mapped_column(String(26), primary_key=True, default=new_ulid)


def created_at() -> Mapped[dt.datetime]:
    return mapped_column(default=utcnow)


def updated_at() -> Mapped[dt.datetime]:
    return mapped_column(default=utcnow, onupdate=utcnow)
