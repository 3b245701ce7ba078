"""Keyset paging: every console list reads one index range, however deep the page.

A page is `size` rows ordered newest first by (timestamp, id); the cursor names the last row
shown, and the next page is the rows strictly before it. No OFFSET (which reads and discards
every skipped row) and no COUNT over big tables.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session

T = TypeVar("T")
PAGE_SIZE = 50


@dataclass
class Page(Generic[T]):
    rows: list[T]
    next_cursor: str | None
    cursor: str | None


def encode_cursor(ts: dt.datetime | None, key: Any) -> str:
    raw = json.dumps([ts.isoformat() if ts else None, key]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, key_type: type = object) -> tuple[dt.datetime | None, Any] | None:
    """(timestamp, key) from a cursor, or None for a missing or mangled one. A key that is not
    a `key_type` (a string for an integer column...) counts as mangled: comparing it with the
    column would be a database error, not an empty page."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        ts, key = json.loads(raw)
        when = dt.datetime.fromisoformat(ts) if ts else None
        if when is not None and when.tzinfo is None:
            return None
        if not isinstance(key, (str, int)) or isinstance(key, bool) or not isinstance(key, key_type):
            return None
        if isinstance(key, str) and "\x00" in key:
            return None  # the edge guard cannot see inside a cursor; PostgreSQL cannot compare it
        if isinstance(key, int) and not -(2**63) <= key < 2**63:
            return None
        return when, key
    except (ValueError, TypeError):
        return None  # a mangled cursor starts from the first page rather than failing


def _key_type(column: InstrumentedAttribute[Any]) -> type:
    try:
        return column.type.python_type  # type: ignore[no-any-return]
    except NotImplementedError:
        return object


def keyset(
    session: Session,
    stmt: Select[Any],
    ts_col: InstrumentedAttribute[Any],
    id_col: InstrumentedAttribute[Any],
    cursor: str | None,
    size: int = PAGE_SIZE,
) -> Page[Any]:
    """Rows of `stmt` newest first by (ts_col, id_col), after `cursor`."""
    position = decode_cursor(cursor, _key_type(id_col))
    if position is not None and position[0] is not None:
        ts, key = position
        # The plain `<=` lets the planner bound the index scan; the row comparison breaks ties.
        stmt = stmt.where(ts_col <= ts, tuple_(ts_col, id_col) < tuple_(ts, key))
    rows = list(session.scalars(stmt.order_by(ts_col.desc(), id_col.desc()).limit(size + 1)))
    next_cursor = None
    if len(rows) > size:
        rows = rows[:size]
        last = rows[-1]
        next_cursor = encode_cursor(getattr(last, ts_col.key), getattr(last, id_col.key))
    return Page(rows=rows, next_cursor=next_cursor, cursor=cursor)


def by_key(
    session: Session,
    stmt: Select[Any],
    key_col: InstrumentedAttribute[Any],
    cursor: str | None,
    size: int = PAGE_SIZE,
    descending: bool = True,
) -> Page[Any]:
    """Rows ordered by one unique indexed column (a ULID or integer id, a shop domain)."""
    position = decode_cursor(cursor, _key_type(key_col))
    if position is not None and position[1] is not None:
        stmt = stmt.where(key_col < position[1] if descending else key_col > position[1])
    order = key_col.desc() if descending else key_col.asc()
    rows = list(session.scalars(stmt.order_by(order).limit(size + 1)))
    next_cursor = None
    if len(rows) > size:
        rows = rows[:size]
        next_cursor = encode_cursor(None, getattr(rows[-1], key_col.key))
    return Page(rows=rows, next_cursor=next_cursor, cursor=cursor)
