"""A real browser walks the console: sign in → shop → job → retry, with screenshots.

Runs Debian's Chromium (`apt-get install chromium`) through Playwright against the app served
by a real WSGI server on a loopback port. Without Chromium this test FAILS, saying so: a
missing browser must not pass for a green run.
"""

from __future__ import annotations

import pytest
from flask import Flask

from shopify_app import db
from shopify_app.models import GenerationJob, JobStatus, StaffUser
from tests.staff.helpers import ADMIN_EMAIL, PASSWORD
from tests.support.browser import ARTIFACTS, chromium, live_server  # noqa: F401 - fixture
from tests.support_console.factories import make_asset, make_failed_job, make_shop

SCREENSHOTS = ARTIFACTS / "screenshots" / "support"


@pytest.mark.browser
def test_sign_in_then_shop_then_job_then_retry(live_server: str, admin: StaffUser, app: Flask) -> None:  # noqa: F811
    from playwright.sync_api import expect

    shop = make_shop()
    job = make_failed_job(shop)
    make_asset(job)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{live_server}/support/")
        expect(page).to_have_url(f"{live_server}/support/login?next=/support/")
        page.screenshot(path=SCREENSHOTS / "01-sign-in.png", full_page=True)

        page.get_by_label("Email").fill(ADMIN_EMAIL)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Support")).to_be_visible()
        expect(page.get_by_text(f"{ADMIN_EMAIL} (admin)")).to_be_visible()
        page.screenshot(path=SCREENSHOTS / "02-overview.png", full_page=True)

        page.get_by_label("Shop").fill("acme")
        page.locator("form", has=page.get_by_label("Shop")).get_by_role("button", name="Find").click()
        page.get_by_role("link", name=shop.domain).click()
        expect(page.get_by_role("heading", name=shop.domain)).to_be_visible()
        expect(page.get_by_text("held (never shown)")).to_be_visible()
        page.screenshot(path=SCREENSHOTS / "03-shop.png", full_page=True)

        page.get_by_role("link", name=job.id).first.click()
        expect(page.locator("h1")).to_contain_text(job.id)
        expect(page.get_by_text("fallback provider task submitted")).to_be_visible()
        thumbnail = page.locator(".thumbs img").first
        expect(thumbnail).to_be_visible()
        assert thumbnail.evaluate("img => img.naturalWidth") == 32  # served, decoded
        page.screenshot(path=SCREENSHOTS / "04-job.png", full_page=True)

        retry_form = page.locator("form", has=page.get_by_role("button", name="Retry job"))
        retry_form.get_by_label("Reason").fill("fal.ai outage is over (ticket 4512)")
        retry_form.get_by_role("button", name="Retry job").click()
        expect(page.get_by_role("status")).to_contain_text("Recorded in the audit log")
        expect(page.locator("#job-stage")).to_contain_text("retrying")
        page.screenshot(path=SCREENSHOTS / "05-job-retried.png", full_page=True)

    session = db.session()
    session.expire_all()
    assert session.get(GenerationJob, job.id).status == JobStatus.IN_PROGRESS
