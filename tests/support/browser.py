"""Browser tests: the app on a real WSGI server on a loopback port, and Debian's Chromium driven
by Playwright (never `playwright install`). Without Chromium a browser test FAILS, saying so: a
missing browser must not pass for a green run.

Shopify's CDN is never reached: `stub_shopify_cdn` answers `https://cdn.shopify.com/**` with a
small App Bridge stand-in (`window.shopify` with `idToken`, `resourcePicker`, `toast`) or, with
`app_bridge=False`, refuses it as an unreachable CDN would.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"

# App Bridge's surface the app uses. idToken() asks the app's dev-only token route (the tests run
# in dev configuration), or a function the test exposes as window.__studioMintToken.
APP_BRIDGE_STUB = """
(function () {
  window.__toasts = [];
  window.__pickerCalls = [];
  window.shopify = {
    idToken: function () {
      if (typeof window.__studioMintToken === 'function') return window.__studioMintToken();
      return fetch('/app/api/dev/session-token', {cache: 'no-store'})
        .then(function (r) { return r.json(); }).then(function (d) { return d.token; });
    },
    resourcePicker: function (options) {
      window.__pickerCalls.push(options);
      return Promise.resolve(window.__pickerSelection || undefined);
    },
    toast: { show: function (message, options) {
      window.__toasts.push({message: String(message), isError: !!(options && options.isError)});
    } }
  };
})();
"""


def require_chromium() -> str:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail("Chromium is not installed: run `apt-get update && apt-get install -y chromium` "
                    "(the browser tests drive /usr/bin/chromium)")
    return CHROMIUM if Path(CHROMIUM).exists() else str(shutil.which("chromium"))


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    """The app on 127.0.0.1:<free port>, threaded; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    with serve(app) as url:
        yield url


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Debian Chromium through Playwright; yields the Browser."""
    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def stub_shopify_cdn(context: Any, app_bridge: bool = True, app_origin: str | None = None,
                     live_server: str | None = None) -> None:
    """Answer Shopify's CDN locally; optionally send `app_origin` (settings.app_url, used in
    absolute URLs such as the dev shop's image links) to the live server."""
    def cdn(route: Any) -> None:
        if app_bridge and route.request.url.startswith("https://cdn.shopify.com/shopifycloud/app-bridge.js"):
            route.fulfill(status=200, content_type="application/javascript", body=APP_BRIDGE_STUB)
        else:
            route.abort("internetdisconnected")

    context.route("https://cdn.shopify.com/**", cdn)
    if app_origin and live_server:
        def forward(route: Any) -> None:
            url = route.request.url.replace(app_origin, live_server, 1)
            route.fulfill(response=context.request.fetch(url))
        context.route(app_origin + "/**", forward)
