"""shopify.app.toml and the handlers agree: every subscribed topic is handled and vice versa."""

from __future__ import annotations

import tomllib

from shopify_app.settings import PROJECT_ROOT, SHOPIFY_API_VERSION, Settings
from shopify_app.webhooks.handlers import COMPLIANCE_TOPICS, HANDLERS

CONFIG = tomllib.loads((PROJECT_ROOT / "shopify.app.toml").read_text())


def _subscribed() -> tuple[set[str], set[str]]:
    topics, compliance = set(), set()
    for subscription in CONFIG["webhooks"]["subscriptions"]:
        assert subscription["uri"] == "/webhooks"
        topics.update(subscription.get("topics", []))
        compliance.update(subscription.get("compliance_topics", []))
    return topics, compliance


def test_every_subscribed_topic_is_handled_and_every_handled_topic_subscribed() -> None:
    topics, compliance = _subscribed()
    assert topics | compliance == set(HANDLERS)
    assert compliance == set(COMPLIANCE_TOPICS)
    assert not topics & compliance


def test_pinned_api_version_and_embedded_app() -> None:
    assert CONFIG["webhooks"]["api_version"] == SHOPIFY_API_VERSION
    assert CONFIG["embedded"] is True
    assert CONFIG["application_url"].startswith("https://")


def test_scopes_match_the_settings() -> None:
    declared = CONFIG["access_scopes"]["scopes"].split(",")
    assert tuple(declared) == Settings.shopify_scopes
    assert "use_legacy_install_flow" not in CONFIG["access_scopes"]


def test_redirect_urls_point_at_the_callback() -> None:
    assert CONFIG["auth"]["redirect_urls"]
    assert all(url.startswith("https://") and url.endswith("/auth/callback")
               for url in CONFIG["auth"]["redirect_urls"])
