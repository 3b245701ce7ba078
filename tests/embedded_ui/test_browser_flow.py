"""The merchant's whole path in a real browser, on the dev shop, with the workflow engine running:
create a catalog model → shoot 3 products → progress to completion → approve 2, reject 1 →
publish → the media are on the dev shop's products → undo.

Shopify's CDN is answered by the App Bridge stub (tests/support/browser.py); the queues are
drained from the test between steps, as workers would, while the page polls for progress.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from shopify_app.devshop import control
from shopify_app.models import (
    Asset,
    AssetKind,
    CatalogModel,
    CatalogModelStatus,
    GenerationJob,
    PushState,
    ReviewState,
    Shop,
)
from shopify_app.settings import Settings
from tests.embedded_ui.helpers import fast_preview_renderer
from tests.support.browser import ARTIFACTS, chromium, live_server, stub_shopify_cdn  # noqa: F401
from tests.support.worker import drain

SCREENSHOTS = ARTIFACTS / "screenshots" / "app"
HANDLES = ("linen-camp-shirt", "classic-crew-tee", "wrap-midi-dress")


def admin_host(shop: str) -> str:
    """The `host` parameter Shopify appends: base64 of the admin origin for the shop."""
    return base64.urlsafe_b64encode(f"admin.shopify.com/store/{shop.split('.')[0]}".encode()).decode().rstrip("=")


def run_jobs(app: Flask) -> None:
    drain(app, include_future=True, max_rounds=200)


def toasts(page: Page) -> list[str]:
    return [t["message"] for t in page.evaluate("window.__toasts")]


@pytest.mark.browser
def test_model_shoot_review_publish_undo(app: Flask, live_server: str, dev_shop: Shop,  # noqa: F811
                                         settings: Settings, session: Any) -> None:
    fast_preview_renderer(session)
    products = {h: next(p for p in control.products(settings) if p["handle"] == h) for h in HANDLES}
    gids = {h: f"gid://shopify/Product/{row['id']}" for h, row in products.items()}
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        stub_shopify_cdn(context, app_origin=settings.app_url, live_server=live_server)
        page = context.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        query = f"shop={dev_shop.domain}&host={admin_host(dev_shop.domain)}&embedded=1"

        # Home: a new shop sees its balance and the getting-started path.
        page.goto(f"{live_server}/app?{query}")
        expect(page.get_by_role("heading", name="Catalog Studio", exact=True)).to_be_visible()
        expect(page.locator("#balance")).to_have_text("550")
        expect(page.get_by_text("No jobs yet")).to_be_visible()
        expect(page.get_by_role("note")).to_contain_text("Dev mode")

        # Catalog models: inline validation, then create one.
        page.get_by_role("navigation", name="Catalog Studio").get_by_role("link", name="Catalog models").click()
        expect(page.get_by_role("heading", name="Create a catalog model")).to_be_visible()
        expect(page.get_by_text("No catalog models yet")).to_be_visible()
        expect(page.get_by_label("Generation model")).to_contain_text("Preview renderer (built in) · not AI")
        expect(page.locator("#h-image_model")).to_contain_text("It is not AI-generated imagery.")
        page.get_by_label("Seed").fill("-4")
        page.get_by_role("button", name="Create model").click()
        expect(page.locator("#err-ethnicity")).to_have_text("This field is required.")
        expect(page.locator("#err-seed")).to_have_text("Use a whole number of 0 or more.")
        expect(page.get_by_label("Ethnicity")).to_be_focused()
        expect(page.get_by_label("Ethnicity")).to_have_attribute("aria-invalid", "true")
        page.get_by_label("Display name").fill("Noor in Silk")
        page.get_by_label("Male", exact=True).check()
        page.get_by_label("Female", exact=True).check()
        page.get_by_label("Ethnicity").fill("South Asian")
        page.get_by_label("Body type").select_option("Athletic")
        page.get_by_label("Age range").select_option("25-34")
        page.get_by_label("Resolution").select_option("1K")
        page.get_by_label("Aspect ratio").select_option("2:3")
        page.get_by_label("Seed").fill("42")
        with page.expect_response("**/app/api/catalog-models") as answer:
            page.get_by_role("button", name="Create model").click()
        assert answer.value.status == 202
        expect(page.locator("[data-model]")).to_have_count(1)
        expect(page.locator("[data-model]")).to_contain_text("Noor in Silk")
        assert any("Creating Noor in Silk" in t for t in toasts(page))
        run_jobs(app)
        card = page.locator("[data-model]").first
        expect(card.get_by_text("Ready")).to_be_visible(timeout=20_000)
        expect(card.get_by_text("Preview renderer")).to_be_visible()
        portrait = card.locator("img.portrait")
        expect(portrait).to_be_visible()
        page.wait_for_function("document.querySelector('img.portrait').naturalWidth > 0")
        page.screenshot(path=SCREENSHOTS / "flow-1-catalog-models.png", full_page=True)
        model = session.scalar(select(CatalogModel).where(CatalogModel.shop_id == dev_shop.id))
        assert model.display_name == "Noor in Silk" and model.status == CatalogModelStatus.READY
        assert (model.seed, model.resolution, model.aspect_ratio, model.age_range) == (42, "1K", "2:3", "25-34")

        # Shoot: App Bridge's resource picker, 3 products, the cost before submitting.
        page.get_by_role("navigation", name="Catalog Studio").get_by_role("link", name="Shoot").click()
        expect(page.get_by_label("Catalog model", exact=True)).to_have_value(model.id)
        page.evaluate("sel => { window.__pickerSelection = sel; }", [
            {"id": gids[h], "title": products[h]["title"], "images": [], "variants": []} for h in HANDLES])
        page.get_by_role("button", name="Select products").click()
        for h in HANDLES:
            expect(page.locator("#selected")).to_contain_text(products[h]["title"])
        assert page.evaluate("window.__pickerCalls[0]") == {"type": "product", "action": "select",
                                                             "multiple": True, "selectionIds": []}
        expect(page.locator("#cost")).to_contain_text("3 credits")
        expect(page.locator("#cost")).to_contain_text("balance 546")
        with page.expect_response("**/app/api/shoots") as answer:
            page.get_by_role("button", name="Start shoot").click()
        assert answer.value.status == 202

        # Jobs: live progress without a reload, to completion.
        page.wait_for_url("**/app/jobs**")
        page.evaluate("window.__sameDocument = true")
        shoot_row = page.locator("[data-job]").first
        expect(shoot_row).to_contain_text("Catalog shoot · Noor in Silk")
        expect(shoot_row).to_contain_text("3 credits charged")
        run_jobs(app)
        expect(shoot_row.get_by_text("Done")).to_be_visible(timeout=20_000)
        expect(shoot_row.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
        expect(shoot_row).to_contain_text("3 images")
        assert page.evaluate("window.__sameDocument") is True  # no full page reload
        page.screenshot(path=SCREENSHOTS / "flow-2-jobs.png", full_page=True)

        # Review: approve 2, reject 1, alt text and variant, publish.
        shoot_row.get_by_role("link", name="Review").click()
        page.wait_for_url("**/app/review/**")
        expect(page.locator("[data-asset]")).to_have_count(3)
        shoot = session.scalar(select(GenerationJob).where(GenerationJob.shop_id == dev_shop.id,
                                                           GenerationJob.workflow == "catalog-shoot"))
        cards = {h: page.locator(f"[data-product='{gids[h]}'] [data-asset]") for h in HANDLES}
        for h in HANDLES:
            expect(page.locator(f"[data-product='{gids[h]}'] h2")).to_have_text(products[h]["title"])
        cards[HANDLES[0]].get_by_role("button", name="Approve").click()
        expect(cards[HANDLES[0]]).to_have_attribute("data-state", "approved")
        cards[HANDLES[1]].get_by_role("button", name="Approve").click()
        expect(cards[HANDLES[1]]).to_have_attribute("data-state", "approved")
        cards[HANDLES[2]].get_by_role("button", name="Reject").click()
        expect(cards[HANDLES[2]]).to_have_attribute("data-state", "rejected")
        alt = cards[HANDLES[0]].get_by_label("Alt text")
        alt.fill("Model in the linen camp shirt, front")
        alt.press("Tab")
        page.wait_for_function("window.__toasts.some(t => t.message === 'Saved')")
        variants = control.variants(gids[HANDLES[1]], settings)
        cards[HANDLES[1]].get_by_label("Variant").select_option(variants[1]["gid"])
        page.wait_for_function("window.__toasts.filter(t => t.message === 'Saved').length >= 2")
        expect(page.get_by_role("button", name="Publish 2 approved images")).to_be_enabled()
        page.screenshot(path=SCREENSHOTS / "flow-3-review.png", full_page=True)
        with page.expect_response("**/publish") as answer:
            page.get_by_role("button", name="Publish 2 approved images").click()
        assert answer.value.status == 202
        expect(page.locator("#publish-status")).to_contain_text("Publish")
        run_jobs(app)
        expect(page.locator("#publish-status")).to_contain_text("Publish finished.", timeout=20_000)
        expect(cards[HANDLES[0]].get_by_text("Published")).to_be_visible()
        expect(page.get_by_role("button", name="Undo publish")).to_be_visible()

        # The media are on the dev shop's products (and visible on its page).
        ours = {h: [m for m in control.product_media(gids[h], settings) if m["by_app"]] for h in HANDLES}
        assert [m["status"] for m in ours[HANDLES[0]]] == ["READY"]
        assert ours[HANDLES[0]][0]["alt"] == "Model in the linen camp shirt, front"
        assert [m["status"] for m in ours[HANDLES[1]]] == ["READY"]
        assert ours[HANDLES[1]][0]["variant_ids"] == [variants[1]["gid"]]
        assert ours[HANDLES[2]] == []
        shop_page = context.new_page()
        shop_page.goto(f"{live_server}/_devshop/")
        added = shop_page.locator("figure", has=shop_page.get_by_text("added by app"))
        expect(added).to_have_count(2)
        expect(added.first.locator("img")).to_be_visible()
        shop_page.screenshot(path=SCREENSHOTS / "flow-4-dev-shop-published.png", full_page=True)
        shop_page.close()
        page.screenshot(path=SCREENSHOTS / "flow-5-review-published.png", full_page=True)

        # Undo: the media the app added are removed again.
        with page.expect_response("**/undo") as answer:
            page.get_by_role("button", name="Undo publish").click()
        assert answer.value.status == 202
        run_jobs(app)
        expect(page.locator("#publish-status")).to_contain_text("Undo publish finished.", timeout=20_000)
        expect(page.get_by_role("button", name="Undo publish")).to_be_hidden()
        assert all(not [m for m in control.product_media(gids[h], settings) if m["by_app"]] for h in HANDLES)
        page.screenshot(path=SCREENSHOTS / "flow-6-review-undone.png", full_page=True)
        assert dialogs == [] and errors == []

    session.expire_all()
    assets = session.scalars(select(Asset).where(Asset.shop_id == dev_shop.id, Asset.kind == AssetKind.TRY_ON)).all()
    assert sorted(str(a.review_state) for a in assets) == [ReviewState.APPROVED, ReviewState.APPROVED, ReviewState.REJECTED]
    assert all(a.push_state in (PushState.REMOVED, PushState.NONE) for a in assets)
    assert shoot is not None
