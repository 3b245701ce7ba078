"""The dev shop's state: a small SQLite file plus upload files under `instance_path/devshop`.

Separate processes (the web process and RQ workers under `make run`) open the same file, so a
product created by one is seen by the other. Every write runs in `BEGIN IMMEDIATE` so concurrent
writers serialise instead of failing. None of this touches the app's own database.

Each thread keeps one connection to the file. Opening one per operation (seven per GraphQL call)
cost more than the operations: SQLite checkpoints the WAL into the database and deletes it when
the last connection closes, so nearly every close wrote and synced the file and the next open
made the WAL again, while other processes waited on the lock; the dev shop took longer than the
app it stands in for.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from PIL import Image

from shopify_app import cooperative
from shopify_app.devshop.catalog import CATALOG
from shopify_app.settings import Settings

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    access_token TEXT PRIMARY KEY,
    refresh_token TEXT UNIQUE,
    scope TEXT NOT NULL,
    expires_at REAL,
    refresh_expires_at REAL,
    revoked INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS auth_codes (
    code TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    expires_at REAL NOT NULL,
    used INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS products (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    handle TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    description_html TEXT NOT NULL DEFAULT '',
    vendor TEXT NOT NULL DEFAULT '',
    product_type TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'ACTIVE',
    tags TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS variants (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    product_id INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    sku TEXT,
    price TEXT NOT NULL,
    position INTEGER NOT NULL,
    option1 TEXT,
    option2 TEXT,
    inventory_quantity INTEGER NOT NULL DEFAULT 10,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS media (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    product_id INTEGER REFERENCES products(id) ON DELETE SET NULL,
    position INTEGER NOT NULL DEFAULT 0,
    alt TEXT,
    status TEXT NOT NULL,
    file_key TEXT,
    original_source TEXT NOT NULL,
    mime_type TEXT,
    byte_size INTEGER,
    width INTEGER,
    height INTEGER,
    polls INTEGER NOT NULL DEFAULT 0,
    created_ts REAL NOT NULL,
    error_code TEXT,
    error_message TEXT,
    doomed INTEGER NOT NULL DEFAULT 0,
    by_app INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS variant_media (
    variant_id INTEGER NOT NULL REFERENCES variants(id) ON DELETE CASCADE,
    media_id INTEGER NOT NULL REFERENCES media(id) ON DELETE CASCADE,
    PRIMARY KEY (variant_id, media_id)
);
CREATE TABLE IF NOT EXISTS uploads (
    key TEXT PRIMARY KEY,
    filename TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    http_method TEXT NOT NULL,
    created_ts REAL NOT NULL,
    byte_size INTEGER,
    sha256 TEXT,
    uploaded_ts REAL
);
CREATE TABLE IF NOT EXISTS faults (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    remaining INTEGER NOT NULL,
    operation TEXT,
    status INTEGER,
    retry_after REAL,
    delay REAL
);
CREATE TABLE IF NOT EXISTS bucket (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    maximum REAL NOT NULL,
    restore_rate REAL NOT NULL,
    available REAL NOT NULL,
    updated_ts REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    path TEXT NOT NULL,
    api_version TEXT,
    operation_type TEXT,
    root_fields TEXT,
    status INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    requested_cost INTEGER,
    actual_cost INTEGER
);
"""

# Shopify's Standard plan restore rate; the bucket size is not documented per plan (see
# reference/shopify-platform.md section 5), 2000 is a conservative stand-in.
DEFAULT_BUCKET_MAX = 2000.0
DEFAULT_RESTORE_RATE = 100.0
# Processing: a new media item is UPLOADED, becomes PROCESSING after this many status reads
# (or seconds), then READY (or FAILED when doomed) after as many again.
DEFAULT_PROCESSING_STEPS = 1
PRODUCT_ID_BASE = 8_840_000_000_000
VARIANT_ID_BASE = 46_100_000_000_000
MEDIA_ID_BASE = 31_200_000_000_000
TOKEN_TTL = 3600
REFRESH_TTL = 90 * 24 * 3600


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Bucket:
    maximum: float
    restore_rate: float
    available: float


_init_lock = threading.Lock()
_initialised: set[Path] = set()


class DevShopStore:
    """Access to one dev shop's state directory."""

    def __init__(self, root: Path, domain: str, app_url: str):
        self.root = root
        self.domain = domain
        self.app_url = app_url.rstrip("/")
        self.db_path = root / "devshop.sqlite3"
        self.uploads_dir = root / "uploads"
        self._local = threading.local()
        # Under gevent (the web server on PostgreSQL) a thread-local is per greenlet, one per
        # request: the process shares one connection instead, one request at a time (sqlite3
        # never lets another greenlet run mid-call, so the lock is only ever waited for between
        # the statements of a request).
        self._shared = SimpleNamespace()
        self._shared_lock = threading.RLock()
        self._ensure()

    @classmethod
    def for_settings(cls, settings: Settings) -> DevShopStore:
        return cls(Path(settings.instance_path) / "devshop", settings.dev_shop_domain, settings.app_url)

    # ------------------------------------------------------------------ connections

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db_path, timeout=15, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=15000")
        # WAL with NORMAL sync: no fsync per commit (an emulator's state needs no power-loss
        # durability), so its four small writes per GraphQL call do not dominate benchmarks.
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection (under gevent, the process's), autocommit: each read sees
        what is committed. Opened once.
        A process forked from one that had it opens its own; the inherited one is never used
        or closed there (SQLite forbids carrying a connection across fork)."""
        local = self._shared if cooperative.gevent_active() else self._local
        if getattr(local, "pid", None) != os.getpid():
            if getattr(local, "conn", None) is not None:
                _forked_away.append(local.conn)
            local.conn, local.pid = self._connect(), os.getpid()
        return local.conn  # type: ignore[no-any-return]

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; BEGIN IMMEDIATE takes the write lock up front. Not nested: a
        write opened inside another on the same thread fails at once."""
        with self._exclusive():
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        with self._exclusive():
            yield self._connection()

    def _exclusive(self) -> contextlib.AbstractContextManager[object]:
        return self._shared_lock if cooperative.gevent_active() else contextlib.nullcontext()

    def _ensure(self) -> None:
        with _init_lock:
            if self.db_path in _initialised and self.db_path.exists():
                return
            self.root.mkdir(parents=True, exist_ok=True)
            self.uploads_dir.mkdir(exist_ok=True)
            conn = self._connect()
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(SCHEMA)
            finally:
                conn.close()
            with self.write() as conn:
                seeded = conn.execute("SELECT value FROM meta WHERE key='seeded'").fetchone()
                if seeded is None:
                    self._seed(conn)
                    conn.execute("INSERT INTO meta (key, value) VALUES ('seeded', ?)", (now_iso(),))
            _initialised.add(self.db_path)

    def _seed(self, conn: sqlite3.Connection) -> None:
        # Realistic, large ids: the app must not assume small integers.
        for table, base in (("products", PRODUCT_ID_BASE), ("variants", VARIANT_ID_BASE),
                            ("media", MEDIA_ID_BASE)):
            conn.execute("INSERT OR REPLACE INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, base))
        conn.execute(
            "INSERT OR REPLACE INTO bucket (id, maximum, restore_rate, available, updated_ts) "
            "VALUES (1, ?, ?, ?, ?)",
            (DEFAULT_BUCKET_MAX, DEFAULT_RESTORE_RATE, DEFAULT_BUCKET_MAX, time.time()),
        )
        for product in CATALOG:
            self.insert_product(conn, product.handle)

    def insert_product(self, conn: sqlite3.Connection, handle: str, title: str | None = None) -> int:
        """Create a product from a catalog entry (its variants and merchant photos)."""
        from shopify_app.devshop.catalog import seed_product

        spec = seed_product(handle.split("--")[0])
        if spec is None:
            raise KeyError(handle)
        stamp = now_iso()
        cur = conn.execute(
            "INSERT INTO products (handle, title, description_html, vendor, product_type, tags, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (handle, title or spec.title, f"<p>{spec.description}</p>", spec.vendor,
             spec.product_type, json.dumps(list(spec.tags)), stamp, stamp),
        )
        product_id = int(cur.lastrowid or 0)
        position = 0
        media_ids = []
        for index, look in enumerate(spec.looks):
            cur = conn.execute(
                "INSERT INTO media (product_id, position, alt, status, file_key, original_source, "
                "mime_type, width, height, created_ts, created_at, updated_at) "
                "VALUES (?, ?, ?, 'READY', ?, ?, 'image/jpeg', 1200, 1500, ?, ?, ?)",
                (product_id, index, f"{spec.title} in {look.label}", f"seed/{spec.handle}/{index}",
                 f"seed:{spec.handle}/{index}", time.time(), stamp, stamp),
            )
            media_ids.append(int(cur.lastrowid or 0))
        for look_index, look in enumerate(spec.looks):
            for size in spec.sizes:
                position += 1
                options = (look.label, size) if len(spec.looks) > 1 else (size, None)
                title_text = " / ".join(o for o in options if o)
                cur = conn.execute(
                    "INSERT INTO variants (product_id, title, sku, price, position, option1, option2, "
                    "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (product_id, title_text, f"{spec.handle[:12].upper()}-{position:02d}", spec.price,
                     position, options[0], options[1], stamp, stamp),
                )
                if len(spec.looks) > 1:
                    conn.execute("INSERT INTO variant_media (variant_id, media_id) VALUES (?, ?)",
                                 (cur.lastrowid, media_ids[look_index]))
        return product_id

    # ------------------------------------------------------------------ tokens

    def mint_tokens(self, scope: str, expiring: bool = True) -> dict[str, Any]:
        access = "shpat_" + secrets.token_hex(16)
        refresh = "shprt_" + secrets.token_hex(16) if expiring else None
        now = time.time()
        with self.write() as conn:
            conn.execute(
                "INSERT INTO tokens (access_token, refresh_token, scope, expires_at, refresh_expires_at, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (access, refresh, scope, now + TOKEN_TTL if expiring else None,
                 now + REFRESH_TTL if expiring else None, now),
            )
        body: dict[str, Any] = {"access_token": access, "scope": scope}
        if expiring:
            body.update(expires_in=TOKEN_TTL, refresh_token=refresh, refresh_token_expires_in=REFRESH_TTL)
        return body

    def rotate_refresh(self, refresh_token: str) -> dict[str, Any] | None:
        """Trade a refresh token for a new pair; the old refresh token stops working."""
        now = time.time()
        with self.write() as conn:
            row = conn.execute(
                "SELECT * FROM tokens WHERE refresh_token = ? AND revoked = 0", (refresh_token,)
            ).fetchone()
            if row is None or (row["refresh_expires_at"] or 0) < now:
                return None
            conn.execute("UPDATE tokens SET refresh_token = NULL WHERE access_token = ?",
                         (row["access_token"],))
            scope = row["scope"]
        return self.mint_tokens(scope, expiring=True)

    def create_auth_code(self, scope: str) -> str:
        code = secrets.token_hex(16)
        with self.write() as conn:
            conn.execute("INSERT INTO auth_codes (code, scope, expires_at) VALUES (?, ?, ?)",
                         (code, scope, time.time() + 600))
        return code

    def redeem_auth_code(self, code: str) -> str | None:
        """The scope granted with `code`; a code works once, within ten minutes."""
        with self.write() as conn:
            row = conn.execute("SELECT * FROM auth_codes WHERE code = ?", (code,)).fetchone()
            if row is None or row["used"] or row["expires_at"] < time.time():
                return None
            conn.execute("UPDATE auth_codes SET used = 1 WHERE code = ?", (code,))
            return str(row["scope"])

    def token_valid(self, access_token: str) -> bool:
        with self.read() as conn:
            row = conn.execute("SELECT expires_at, revoked FROM tokens WHERE access_token = ?",
                               (access_token,)).fetchone()
        if row is None or row["revoked"]:
            return False
        return row["expires_at"] is None or row["expires_at"] > time.time()

    def expire_token(self, access_token: str) -> None:
        with self.write() as conn:
            conn.execute("UPDATE tokens SET expires_at = ? WHERE access_token = ?",
                         (time.time() - 1, access_token))

    def revoke_all_tokens(self) -> None:
        with self.write() as conn:
            conn.execute("UPDATE tokens SET revoked = 1")

    # ------------------------------------------------------------------ uploads

    def create_upload(self, filename: str, mime_type: str, http_method: str,
                      conn: sqlite3.Connection | None = None) -> str:
        """Register a staged upload; inside a GraphQL request pass its connection (`conn`)."""
        key = f"tmp/{secrets.token_hex(12)}/{_safe_filename(filename)}"
        with self._using(conn) as c:
            c.execute(
                "INSERT INTO uploads (key, filename, mime_type, http_method, created_ts) VALUES (?, ?, ?, ?, ?)",
                (key, filename, mime_type, http_method, time.time()),
            )
        return key

    @contextlib.contextmanager
    def _using(self, conn: sqlite3.Connection | None) -> Iterator[sqlite3.Connection]:
        # A caller already in a write transaction passes its connection: SQLite has one writer,
        # so opening a second write transaction here would wait for ourselves.
        if conn is not None:
            yield conn
        else:
            with self.write() as own:
                yield own

    def upload_path(self, key: str) -> Path:
        return self.uploads_dir / hashlib.sha256(key.encode()).hexdigest()

    def store_upload(self, key: str, data: bytes) -> bool:
        with self.write() as conn:
            row = conn.execute("SELECT key FROM uploads WHERE key = ?", (key,)).fetchone()
            if row is None:
                return False
            self.upload_path(key).write_bytes(data)
            conn.execute("UPDATE uploads SET byte_size = ?, sha256 = ?, uploaded_ts = ? WHERE key = ?",
                         (len(data), hashlib.sha256(data).hexdigest(), time.time(), key))
        return True

    def upload(self, key: str) -> sqlite3.Row | None:
        with self.read() as conn:
            return conn.execute("SELECT * FROM uploads WHERE key = ?", (key,)).fetchone()

    def secret(self, conn: sqlite3.Connection | None = None) -> bytes:
        """A per-dev-shop signing secret (staged upload URLs)."""
        with self._using(conn) as c:
            row = c.execute("SELECT value FROM meta WHERE key = 'secret'").fetchone()
            if row is None:
                value = secrets.token_hex(32)
                c.execute("INSERT INTO meta (key, value) VALUES ('secret', ?)", (value,))
                return value.encode()
            return str(row["value"]).encode()

    def sign(self, key: str, conn: sqlite3.Connection | None = None) -> str:
        return hmac.new(self.secret(conn), key.encode(), hashlib.sha256).hexdigest()

    def verify_signature(self, key: str, signature: str) -> bool:
        return hmac.compare_digest(self.sign(key), signature or "")

    def image_size(self, key: str) -> tuple[int | None, int | None]:
        try:
            with Image.open(self.upload_path(key)) as image:
                return image.size
        except (OSError, Image.DecompressionBombError):
            return None, None

    def staged_url(self) -> str:
        return f"https://{self.domain}/_staged_uploads"

    def resource_url(self, key: str) -> str:
        return f"https://{self.domain}/_staged_uploads/{key}"

    def file_url(self, media_id: int) -> str:
        """Where a browser (the app's pages) sees a media image: served by the app's /_devshop."""
        return f"{self.app_url}/_devshop/files/{media_id}.jpg"

    def media_bytes(self, media_id: int) -> bytes | None:
        """The image bytes of a media item (a seeded product's photo or the uploaded file)."""
        with self.read() as conn:
            row = conn.execute("SELECT file_key FROM media WHERE id = ?", (media_id,)).fetchone()
        if row is None or not row["file_key"]:
            return None
        key: str = row["file_key"]
        if key.startswith("seed/"):
            _, handle, index = key.split("/")
            return self._seed_photo(handle, int(index))
        path = self.upload_path(key)
        return path.read_bytes() if path.exists() else None

    def _seed_photo(self, handle: str, index: int) -> bytes | None:
        """A seeded product's photo, drawn once for this shop and kept as a file, as Shopify
        serves a product's photos from its CDN: not drawn again (~60 ms) by every process that
        fetches it, which made each worker of a benchmark pay for every catalog look."""
        from shopify_app.devshop.catalog import render_look, seed_product

        path = self.root / "photos" / f"{handle}-{index}.jpg"
        try:
            return path.read_bytes()
        except FileNotFoundError:
            pass
        spec = seed_product(handle)
        if spec is None or not 0 <= index < len(spec.looks):
            return None
        data = render_look(spec.looks[index])
        path.parent.mkdir(exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}")
        partial.write_bytes(data)
        partial.replace(path)  # whole or not at all, whoever draws it at the same time
        return data

    # ------------------------------------------------------------------ faults and the bucket

    def add_fault(self, kind: str, count: int = 1, operation: str | None = None,
                  status: int | None = None, retry_after: float | None = None,
                  delay: float | None = None) -> None:
        with self.write() as conn:
            conn.execute(
                "INSERT INTO faults (kind, remaining, operation, status, retry_after, delay) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (kind, count, operation, status, retry_after, delay),
            )

    def take_fault(self, operation_names: list[str], kinds: tuple[str, ...]) -> sqlite3.Row | None:
        """Consume one pending fault of `kinds` matching one of the operation's root fields."""
        with self.write() as conn:
            rows = conn.execute(
                f"SELECT * FROM faults WHERE remaining > 0 AND kind IN ({','.join('?' * len(kinds))}) "
                "ORDER BY id", kinds,
            ).fetchall()
            for row in rows:
                if row["operation"] is None or row["operation"] in operation_names:
                    conn.execute("UPDATE faults SET remaining = remaining - 1 WHERE id = ?", (row["id"],))
                    return row
        return None

    def pending_faults(self) -> list[dict[str, Any]]:
        with self.read() as conn:
            return [dict(r) for r in conn.execute("SELECT * FROM faults WHERE remaining > 0 ORDER BY id")]

    def clear_faults(self) -> None:
        with self.write() as conn:
            conn.execute("DELETE FROM faults")

    def configure_bucket(self, maximum: float | None = None, restore_rate: float | None = None,
                         available: float | None = None) -> Bucket:
        with self.write() as conn:
            bucket = self._refill(conn)
            maximum = bucket.maximum if maximum is None else maximum
            restore_rate = bucket.restore_rate if restore_rate is None else restore_rate
            available = min(maximum, bucket.available if available is None else available)
            conn.execute("UPDATE bucket SET maximum = ?, restore_rate = ?, available = ?, updated_ts = ?",
                         (maximum, restore_rate, available, time.time()))
            return Bucket(maximum, restore_rate, available)

    def _refill(self, conn: sqlite3.Connection) -> Bucket:
        row = conn.execute("SELECT * FROM bucket WHERE id = 1").fetchone()
        now = time.time()
        available = min(row["maximum"], row["available"] + (now - row["updated_ts"]) * row["restore_rate"])
        conn.execute("UPDATE bucket SET available = ?, updated_ts = ? WHERE id = 1", (available, now))
        return Bucket(row["maximum"], row["restore_rate"], available)

    def spend(self, cost: int) -> tuple[bool, Bucket]:
        """Take `cost` points from the leaky bucket; (False, state) when not enough are left."""
        with self.write() as conn:
            bucket = self._refill(conn)
            if cost > bucket.available:
                return False, bucket
            available = bucket.available - cost
            conn.execute("UPDATE bucket SET available = ? WHERE id = 1", (available,))
            return True, Bucket(bucket.maximum, bucket.restore_rate, available)

    def refund(self, points: int) -> Bucket:
        with self.write() as conn:
            bucket = self._refill(conn)
            available = min(bucket.maximum, bucket.available + max(0, points))
            conn.execute("UPDATE bucket SET available = ? WHERE id = 1", (available,))
            return Bucket(bucket.maximum, bucket.restore_rate, available)

    # ------------------------------------------------------------------ call log

    def record_call(self, path: str, api_version: str | None, operation_type: str | None,
                    root_fields: list[str], status: int, outcome: str,
                    requested_cost: int | None = None, actual_cost: int | None = None) -> None:
        with self.write() as conn:
            conn.execute(
                "INSERT INTO calls (ts, path, api_version, operation_type, root_fields, status, outcome, "
                "requested_cost, actual_cost) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (time.time(), path, api_version, operation_type, ",".join(root_fields), status, outcome,
                 requested_cost, actual_cost),
            )

    def calls(self) -> list[dict[str, Any]]:
        with self.read() as conn:
            rows = conn.execute("SELECT * FROM calls ORDER BY id").fetchall()
        out = []
        for row in rows:
            item = dict(row)
            item["root_fields"] = [f for f in (row["root_fields"] or "").split(",") if f]
            out.append(item)
        return out

    def clear_calls(self) -> None:
        with self.write() as conn:
            conn.execute("DELETE FROM calls")


def _safe_filename(filename: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in filename)[-120:]
    return cleaned or "upload.bin"


# Connections a forked process inherited: kept referenced so they are never closed there.
_forked_away: list[sqlite3.Connection] = []

# The stores of the last few state directories (a test session makes one per test); a store
# dropped from here closes its connections once nothing holds it.
MAX_STORES = 8
_stores: OrderedDict[tuple[str, str, str], DevShopStore] = OrderedDict()
_stores_lock = threading.Lock()


def store_for(settings: Settings) -> DevShopStore:
    """The dev shop store of these settings (one object per state directory and process)."""
    key = (str(Path(settings.instance_path) / "devshop"), settings.dev_shop_domain, settings.app_url)
    with _stores_lock:
        store = _stores.get(key)
        if store is None or not store.db_path.exists():
            store = DevShopStore.for_settings(settings)
            _stores[key] = store
        _stores.move_to_end(key)
        while len(_stores) > MAX_STORES:
            _stores.popitem(last=False)
        return store
