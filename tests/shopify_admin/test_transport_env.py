"""The shop session reads proxy settings from the environment once per origin, not per request
(requests walks os.environ on every call), and still honours them, no_proxy included."""

from __future__ import annotations

import pytest
import requests

from shopify_app.shopify.transport import _ShopSession


def test_environment_read_once_per_origin_and_still_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "uploads.example")
    lookups: list[str] = []
    original = requests.sessions.get_environ_proxies

    def counting(url: str, no_proxy: str | None = None) -> dict[str, str]:
        lookups.append(url)
        return original(url, no_proxy=no_proxy)

    monkeypatch.setattr(requests.sessions, "get_environ_proxies", counting)
    session = _ShopSession()
    first = session.merge_environment_settings("https://shop.example/admin/api/graphql.json", {}, None, None, None)
    again = session.merge_environment_settings("https://shop.example/admin/api/graphql.json", {}, None, None, None)
    assert first["proxies"]["https"] == "http://proxy.internal:3128"
    assert again == first and len(lookups) == 1
    again["proxies"]["https"] = "changed"  # a caller's copy, not the cached settings
    assert session.merge_environment_settings("https://shop.example/x", {}, None, None, None)["proxies"]["https"] \
        == "http://proxy.internal:3128"
    bypassed = session.merge_environment_settings("https://uploads.example/put", {}, None, None, None)
    assert "https" not in bypassed["proxies"]
    assert len(lookups) == 2
