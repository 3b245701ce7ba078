"""Every page in Chromium at 320 and 1440 px (screenshots under artifacts/screenshots/app/), the
pages without Shopify's CDN (the app's own product picker, in-page toasts), keyboard use, and an
XSS probe: hostile product titles and display names render as text everywhere."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from shopify_app.devshop import control
from shopify_app.models import Shop
from shopify_app.settings import Settings
from tests.embedded_ui.helpers import populate
from tests.embedded_ui.test_browser_flow import SCREENSHOTS, admin_host
from tests.support.browser import chromium, live_server, stub_shopify_cdn  # noqa: F401

HANDLES = ("linen-camp-shirt", "classic-crew-tee", "wrap-midi-dress")
EVIL = '<script>window.__xss=1;alert(1)</script>"><img src=x onerror="window.__xss=2;alert(2)">'


def gid_of(settings: Settings, handle: str) -> str:
    row = next(p for p in control.products(settings) if p["handle"] == handle)
    return f"gid://shopify/Product/{row['id']}"


def pages(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        ("home", "/app", "Recent jobs"),
        ("catalog-models", "/app/models", "Your models"),
        ("shoot", "/app/shoot", "Shoot setup"),
        ("jobs", "/app/jobs", None),
        ("review", f"/app/review/{data['done'].id}", None),
        ("settings", "/app/settings", None),
    ]


def no_horizontal_scroll(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


@pytest.mark.browser
def test_every_page_at_320_and_1440(app: Flask, live_server: str, dev_shop: Shop,  # noqa: F811
                                    settings: Settings, session: Any) -> None:
    data = populate(session, settings, dev_shop, [gid_of(settings, h) for h in HANDLES])
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    query = f"shop={dev_shop.domain}&host={admin_host(dev_shop.domain)}&embedded=1"
    with chromium() as browser:
        for width in (320, 1440):
            context = browser.new_context(viewport={"width": width, "height": 900})
            stub_shopify_cdn(context, app_origin=settings.app_url, live_server=live_server)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            for name, path, landmark in pages(data):
                response = page.goto(f"{live_server}{path}?{query}")
                assert response is not None and response.status == 200
                assert "frame-ancestors https://catalog-studio-dev.myshopify.com https://admin.shopify.com" in \
                    response.headers["content-security-policy"]
                if landmark:
                    expect(page.get_by_role("heading", name=landmark)).to_be_visible()
                page.wait_for_function("!document.querySelector('[aria-busy=true]')")
                page.wait_for_load_state("networkidle")
                assert no_horizontal_scroll(page), f"{name} scrolls sideways at {width}px"
                page.screenshot(path=SCREENSHOTS / f"{name}-{width}.png", full_page=True)
            # What the pages say, checked once.
            page.goto(f"{live_server}/app/jobs?{query}")
            failed = page.locator(f"[data-job='{data['failed'].id}']")
            expect(failed).to_contain_text("The product has no photo to dress the model in.")
            expect(failed).to_contain_text("1 credit refunded")
            expect(failed).not_to_contain_text("internal detail")
            running = page.locator(f"[data-job='{data['running'].id}']")
            expect(running.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "45")
            expect(running).to_contain_text("Shooting the products")
            assert errors == []
            context.close()


@pytest.mark.browser
def test_without_shopify_cdn_the_app_picker_and_toasts_serve(app: Flask, live_server: str,  # noqa: F811
                                                              dev_shop: Shop, settings: Settings,
                                                              session: Any) -> None:
    data = populate(session, settings, dev_shop, [gid_of(settings, h) for h in HANDLES])
    query = f"shop={dev_shop.domain}&host={admin_host(dev_shop.domain)}&embedded=1"
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 320, "height": 800})
        stub_shopify_cdn(context, app_bridge=False, app_origin=settings.app_url, live_server=live_server)
        page = context.new_page()
        page.goto(f"{live_server}/app/shoot?{query}")
        assert page.evaluate("typeof window.shopify") == "undefined"
        expect(page.get_by_label("Catalog model", exact=True)).to_have_value(data["model"].id)

        # Keyboard only: open the app's picker, page through, search, pick two, add them.
        page.get_by_role("button", name="Select products").focus()
        page.keyboard.press("Enter")
        dialog = page.get_by_role("dialog", name="Select products")
        expect(dialog).to_be_visible()
        expect(page.get_by_label("Search products")).to_be_focused()
        expect(dialog.locator(".pick")).to_have_count(10)
        expect(dialog.get_by_role("button", name="Previous")).to_be_disabled()
        dialog.get_by_role("button", name="Next").click()
        expect(dialog.locator(".pick")).not_to_have_count(10)
        expect(dialog.get_by_role("button", name="Previous")).to_be_enabled()
        page.screenshot(path=SCREENSHOTS / "shoot-own-picker-320.png", full_page=True)
        dialog.get_by_role("button", name="Previous").click()
        expect(dialog.locator(".pick")).to_have_count(10)
        page.get_by_label("Search products").fill("shirt")
        expect(dialog.locator(".pick")).to_have_count(2)
        for title in ("Linen Camp Shirt", "Oxford Button-Down Shirt"):
            dialog.get_by_label(title).focus()
            page.keyboard.press("Space")
        expect(page.locator("#picker-count")).to_have_text("2 products selected")
        page.get_by_role("button", name="Add products").click()
        expect(dialog).to_be_hidden()
        expect(page.locator("#selected li")).to_have_count(2)
        expect(page.locator("#cost")).to_contain_text("2 credits")
        page.get_by_label("Images per product").select_option("3")
        expect(page.locator("#cost")).to_contain_text("6 credits")

        # A toast without App Bridge: the in-page live region.
        page.goto(f"{live_server}/app/settings?{query}")
        page.wait_for_function("!document.querySelector('[aria-busy=true]')")
        page.get_by_label("Shoot new products automatically").focus()
        page.keyboard.press("Tab")
        expect(page.get_by_label("Default catalog model")).to_be_focused()
        # Focus is visible: the control reached by keyboard draws an outline.
        assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
        page.get_by_role("button", name="Save").focus()
        page.keyboard.press("Enter")
        expect(page.locator("#toasts")).to_contain_text("Settings saved")
        context.close()


@pytest.mark.browser
def test_standalone_dev_mode_has_no_app_bridge_and_says_so(app: Flask, live_server: str,  # noqa: F811
                                                           dev_shop: Shop, settings: Settings) -> None:
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1024, "height": 800})
        requested: list[str] = []
        context.route("https://cdn.shopify.com/**", lambda route: (requested.append(route.request.url), route.abort()))
        page = context.new_page()
        page.goto(f"{live_server}/")
        page.wait_for_url(f"{live_server}/app")
        expect(page.get_by_role("note")).to_contain_text("Dev mode")
        expect(page.get_by_role("note")).to_contain_text("no Shopify admin around this page")
        expect(page.locator("#balance")).to_have_text("550")
        assert requested == []
        # Its token path is the dev-only route, and it works across pages.
        page.get_by_role("navigation", name="Catalog Studio").get_by_role("link", name="Settings").click()
        expect(page.get_by_label("Default catalog model")).to_be_enabled()
        page.wait_for_function("!document.querySelector('[aria-busy=true]')")
        context.close()


@pytest.mark.browser
def test_hostile_titles_and_names_render_as_text(app: Flask, live_server: str, dev_shop: Shop,  # noqa: F811
                                                 settings: Settings, session: Any) -> None:
    evil_gids = [control.create_product("linen-camp-shirt", EVIL, settings),
                 control.create_product("classic-crew-tee", EVIL + " 2", settings)]
    data = populate(session, settings, dev_shop, evil_gids, model_name=EVIL[:120])
    data["assets"][0].alt_text = EVIL
    session.commit()
    query = f"shop={dev_shop.domain}&host={admin_host(dev_shop.domain)}&embedded=1"
    with chromium() as browser:
        for bridge in (True, False):
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            stub_shopify_cdn(context, app_bridge=bridge, app_origin=settings.app_url, live_server=live_server)
            page = context.new_page()
            dialogs: list[str] = []
            page.on("dialog", lambda d, dialogs=dialogs: (dialogs.append(d.message), d.dismiss()))
            for _name, path, _landmark in pages(data):
                page.goto(f"{live_server}{path}?{query}")
                page.wait_for_function("!document.querySelector('[aria-busy=true]')")
                page.wait_for_load_state("networkidle")
                assert page.evaluate("window.__xss") is None
            # The text is there, literally.
            page.goto(f"{live_server}/app/models?{query}")
            expect(page.locator("[data-model] .row-title")).to_have_text(EVIL[:120])
            page.goto(f"{live_server}/app/jobs?{query}")
            expect(page.locator("[data-job]").first).to_contain_text(EVIL[:120])
            page.goto(f"{live_server}/app/review/{data['done'].id}?{query}")
            expect(page.locator(f"[data-product='{evil_gids[0]}'] h2")).to_have_text(EVIL)
            expect(page.locator("[data-asset] input").first).to_have_value(EVIL)
            page.goto(f"{live_server}/app/settings?{query}")
            expect(page.get_by_label("Default catalog model")).to_contain_text(EVIL[:120])
            page.goto(f"{live_server}/app/shoot?{query}")
            if bridge:
                page.evaluate("sel => { window.__pickerSelection = sel; }",
                              [{"id": evil_gids[0], "title": EVIL, "images": [{"originalSrc": "x\" onerror=\"window.__xss=3"}]}])
                page.get_by_role("button", name="Select products").click()
                expect(page.locator("#selected")).to_contain_text(EVIL)
            else:
                page.get_by_role("button", name="Select products").click()
                page.get_by_label("Search products").fill("script")
                expect(page.locator(".pick")).to_have_count(2)
                expect(page.locator(".pick").first).to_contain_text(EVIL)
            page.wait_for_timeout(300)
            assert page.evaluate("window.__xss") is None
            assert page.locator("script:not([src])").count() == 0 if not bridge else True
            assert dialogs == []
            context.close()
