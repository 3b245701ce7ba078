"""Document requests: id_token or the bounce page, and frame-ancestors on every document."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from shopify_app.shopify.session_tokens import mint_session_token
from tests.support.shopify import TEST_SHOP

CSP = f"frame-ancestors https://{TEST_SHOP} https://admin.shopify.com;"


def test_document_with_id_token_renders_with_csp(client, settings, installed_shop, probe_routes) -> None:
    token = mint_session_token(settings, TEST_SHOP)
    response = client.get(f"/app/probe?embedded=1&shop={TEST_SHOP}&host=YWRtaW4&id_token={token}")
    assert response.status_code == 200
    assert f"hello {TEST_SHOP}" in response.text
    assert response.headers["Content-Security-Policy"] == CSP


def test_document_without_id_token_bounces(client, installed_shop, probe_routes) -> None:
    response = client.get(f"/app/probe?embedded=1&shop={TEST_SHOP}&host=YWRtaW4")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}" == "https://studio.test"  # APP_URL, not Host
    assert location.path == "/auth/patch-id-token"
    query = parse_qs(location.query)
    assert query["shop"] == [TEST_SHOP]
    assert query["shopify-reload"] == [f"/app/probe?embedded=1&shop={TEST_SHOP}&host=YWRtaW4"]


def test_document_with_stale_id_token_bounces(client, settings, installed_shop, probe_routes) -> None:
    import time

    stale = mint_session_token(settings, TEST_SHOP, now=time.time() - 600)
    response = client.get(f"/app/probe?shop={TEST_SHOP}&id_token={stale}")
    assert response.status_code == 302
    assert "id_token" not in response.headers["Location"]


def test_bounce_page_is_app_bridge_only_with_sanitised_csp(client, settings) -> None:
    response = client.get(f"/auth/patch-id-token?shop={TEST_SHOP.upper()}&shopify-reload=%2Fapp%2Fprobe")
    assert response.status_code == 200
    assert 'data-api-key="test-client-id"' in response.text
    assert "https://cdn.shopify.com/shopifycloud/app-bridge.js" in response.text
    assert response.headers["Content-Security-Policy"] == CSP


def test_bounce_page_refuses_header_injection_and_foreign_reloads(client) -> None:
    evil = "evil.com%3B%20script-src%20*"
    assert client.get(f"/auth/patch-id-token?shop={evil}&shopify-reload=%2Fapp").status_code == 400
    response = client.get(f"/auth/patch-id-token?shop={TEST_SHOP}&shopify-reload=https%3A%2F%2Fevil.com%2F")
    assert response.status_code == 400
    response = client.get(f"/auth/patch-id-token?shop={TEST_SHOP}&shopify-reload=%2F%2Fevil.com%2F")
    assert response.status_code == 400


def test_bounce_page_refuses_reloads_a_browser_reads_as_another_host(client) -> None:
    # `new URL("/\\evil.com", base)` is https://evil.com/; tabs and newlines are dropped.
    for reload in ("%2F%5Cevil.com", "%2F%5C%5Cevil.com%2Fapp", "%2F%09%2Fevil.com", "%2F%0A%2Fevil.com",
                   "https%3A%2F%2Fstudio.test%5C%40evil.com"):
        response = client.get(f"/auth/patch-id-token?shop={TEST_SHOP}&shopify-reload={reload}")
        assert response.status_code == 400, reload
    assert client.get(f"/auth/patch-id-token?shop={TEST_SHOP}&shopify-reload=%2Fapp%3Fx%3D1").status_code == 200


def test_dev_mode_document_gets_a_dev_shop_token(client, settings, session, token_endpoint, probe_routes) -> None:
    # Test settings run with the dev shop on: no id_token and no shop → the dev shop, whose token
    # is minted and verified by the same path (and exchanged on first use).
    response = client.get("/app/probe")
    assert response.status_code == 200
    assert settings.dev_shop_domain in response.text
    assert response.headers["Content-Security-Policy"] == (
        f"frame-ancestors https://{settings.dev_shop_domain} https://admin.shopify.com;"
    )
    assert [host for host, _ in token_endpoint.calls] == [settings.dev_shop_domain]
    token = client.get("/app/api/dev/session-token").json["token"]
    assert client.get("/app/api/session", headers={"Authorization": f"Bearer {token}"}).json["shop"] == (
        settings.dev_shop_domain
    )


def test_dev_session_token_endpoint_is_404_without_dev_shop(app, client, settings) -> None:
    app.config["STUDIO_SETTINGS"] = settings.replace(dev_shop=False)
    assert client.get("/app/api/dev/session-token").status_code == 404


def test_json_routes_do_not_carry_the_document_csp(client, settings, installed_shop, probe_routes) -> None:
    token = mint_session_token(settings, TEST_SHOP)
    response = client.post("/app/api/probe", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json == {"shop": TEST_SHOP}
