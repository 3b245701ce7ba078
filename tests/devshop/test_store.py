"""The dev shop's state file: one kept connection per thread, still seeing what other threads and
processes commit, and never a connection carried across a fork."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading

import pytest

from shopify_app.devshop import control, store
from shopify_app.settings import Settings


def _product_count(shop_store: store.DevShopStore) -> int:
    with shop_store.read() as conn:
        return int(conn.execute("SELECT COUNT(*) FROM products").fetchone()[0])


def test_a_thread_keeps_its_connection_and_sees_what_other_threads_commit(dev_settings: Settings) -> None:
    shop_store = control.store(dev_settings)
    before = _product_count(shop_store)
    with shop_store.read() as first, shop_store.read() as second:
        assert first is second  # one connection per thread, not one per operation

    def create() -> None:
        control.create_product("linen-camp-shirt", settings=dev_settings)

    other = threading.Thread(target=create)
    other.start()
    other.join()
    assert _product_count(shop_store) == before + 1


def test_a_failed_write_rolls_back_and_leaves_the_connection_usable(dev_settings: Settings) -> None:
    shop_store = control.store(dev_settings)
    before = _product_count(shop_store)
    with pytest.raises(RuntimeError), shop_store.write() as conn:
        shop_store.insert_product(conn, "linen-camp-shirt--rolled-back")
        raise RuntimeError("the request failed half-way")
    assert _product_count(shop_store) == before
    control.create_product("linen-camp-shirt", settings=dev_settings)
    assert _product_count(shop_store) == before + 1


def test_a_write_inside_a_write_on_the_same_thread_fails_instead_of_waiting_for_itself(
        dev_settings: Settings) -> None:
    shop_store = control.store(dev_settings)
    before = _product_count(shop_store)
    with pytest.raises(sqlite3.OperationalError), shop_store.write() as conn:
        shop_store.insert_product(conn, "linen-camp-shirt--outer")
        with shop_store.write():
            pass
    assert _product_count(shop_store) == before


def _create_in_child(settings: Settings, results: multiprocessing.Queue) -> None:
    shop_store = store.store_for(settings)
    inherited = shop_store._local.conn
    control.create_product("classic-crew-tee", settings=settings)
    results.put(shop_store._connection() is not inherited)


def test_a_forked_process_opens_its_own_connection(dev_settings: Settings) -> None:
    shop_store = control.store(dev_settings)
    before = _product_count(shop_store)  # this thread's connection is open when the fork happens
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(target=_create_in_child, args=(dev_settings, results))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    assert results.get(timeout=5) is True
    assert _product_count(shop_store) == before + 1


def test_only_the_last_few_state_directories_keep_a_store(dev_settings: Settings, tmp_path) -> None:  # noqa: ANN001
    import dataclasses

    first = store.store_for(dev_settings)
    for i in range(store.MAX_STORES):
        store.store_for(dataclasses.replace(dev_settings, instance_path=tmp_path / str(i)))
    assert len(store._stores) <= store.MAX_STORES
    assert store.store_for(dev_settings) is not first  # dropped, so made again


def test_a_seeded_photo_is_drawn_once_per_shop_and_then_read_by_every_process(
        dev_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from shopify_app.devshop import catalog

    product = control.products(dev_settings)[0]
    [first, *_] = control.product_media(f"gid://shopify/Product/{product['id']}", dev_settings)
    drawn = control.store(dev_settings).media_bytes(first["id"])
    assert drawn is not None and drawn[:2] == b"\xff\xd8"  # a JPEG

    def draw_again(look: catalog.Look) -> bytes:
        raise AssertionError("drawn a second time")

    monkeypatch.setattr(catalog, "render_look", draw_again)
    another_process = store.DevShopStore.for_settings(dev_settings)  # nothing cached in memory
    assert another_process.media_bytes(first["id"]) == drawn


def test_under_gevent_requests_share_one_connection_one_at_a_time(tmp_path) -> None:  # noqa: ANN001
    """A gevent worker's requests are greenlets of one thread: per-thread connections would be one
    per request, and two of them in one thread would wait for each other's SQLite lock in C
    ("database is locked" after blocking the whole process for the busy timeout)."""
    from tests.foundation.test_cooperative import run_probe

    seen = run_probe("devshop", str(tmp_path / "devshop"))
    assert seen["connections"] == 1
    assert seen["counts"] == list(range(1, 31))
