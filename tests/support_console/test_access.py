"""Who gets in: staff only, by the console's own cookie, behind CSRF, lockout and CSP."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import jwt
import pytest
from flask.testing import FlaskClient

from shopify_app import db
from shopify_app.models import StaffUser
from shopify_app.staff import accounts
from shopify_app.support import session as console_session
from tests.conftest import CLIENT_ID, CLIENT_SECRET
from tests.staff.helpers import ADMIN_EMAIL, PASSWORD, ConsoleActions, csrf_from
from tests.support_console.factories import make_delivery, make_failed_job, make_shop

PAGES = [
    "/support/", "/support/shops", "/support/shops/{shop}", "/support/shops/{shop}/ledger",
    "/support/shops/{shop}/catalog-models", "/support/shops/{shop}/auto-shoot", "/support/jobs",
    "/support/jobs/{job}", "/support/requests", "/support/deliveries", "/support/deliveries/{delivery}",
    "/support/queues", "/support/queues/generation/failed", "/support/generation-models",
    "/support/audit",
]


@pytest.fixture
def case(app):  # noqa: ANN001, ANN201 - ids for the page paths
    shop = make_shop()
    job = make_failed_job(shop)
    delivery = make_delivery(shop)
    return {"shop": shop.id, "job": job.id, "delivery": delivery.id}


@pytest.mark.parametrize("path", PAGES)
def test_pages_send_strangers_to_sign_in(client: FlaskClient, case: dict, path: str) -> None:
    response = client.get(path.format(**case))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/support/login?next=")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_json_requests_without_a_session_get_401(client: FlaskClient) -> None:
    response = client.get("/support/api/queues")
    assert response.status_code == 401 and "detail" in response.get_json()
    response = client.get("/support/jobs", headers={"Accept": "application/json"})
    assert response.status_code == 401


def test_a_merchant_session_token_opens_nothing(client: FlaskClient, admin: StaffUser, case: dict) -> None:
    token = jwt.encode({"iss": f"https://{case['shop']}/admin", "aud": CLIENT_ID, "sub": "1",
                        "exp": 4102444800, "nbf": 0, "iat": 0, "jti": "j", "sid": "s"},
                       CLIENT_SECRET, algorithm="HS256")
    headers = {"Authorization": f"Bearer {token}"}
    for path in PAGES:
        response = client.get(path.format(**case), headers=headers)
        assert response.status_code == 302, path
    assert client.get("/support/api/queues", headers=headers).status_code == 401
    # Nor as a cookie of the console's name.
    client.set_cookie(console_session.COOKIE, token, path="/support")
    assert client.get("/support/").status_code == 302


def test_sign_in_sets_a_strict_expiring_cookie(console: ConsoleActions, admin: StaffUser) -> None:
    response = console.login()
    assert response.status_code == 302 and response.headers["Location"] == "/support/"
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("studio_support="))
    for flag in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/support", "Max-Age=28800"):
        assert flag in cookie, cookie
    page = console.client.get("/support/")
    assert page.status_code == 200 and ADMIN_EMAIL in page.get_data(as_text=True)
    assert page.headers["Content-Security-Policy"].endswith("frame-ancestors 'none'")
    assert page.headers["X-Frame-Options"] == "DENY"


def test_sessions_expire(console: ConsoleActions, admin: StaffUser) -> None:
    console.login()
    later = dt.datetime.now(dt.UTC) + console_session.LIFETIME + dt.timedelta(minutes=1)
    with mock.patch("itsdangerous.timed.time.time", return_value=later.timestamp()):
        assert console.client.get("/support/").status_code == 302


def test_sign_out_revokes_the_cookie(console: ConsoleActions, admin: StaffUser) -> None:
    console.login()
    cookie = console.client.get_cookie(console_session.COOKIE, path="/support")
    assert cookie is not None
    stolen = cookie.value
    assert console.post("/support/logout", {}).status_code == 302
    console.client.set_cookie(console_session.COOKIE, stolen, path="/support")
    assert console.client.get("/support/").status_code == 302


def test_disabling_a_user_ends_their_session(console: ConsoleActions, admin: StaffUser) -> None:
    console.login()
    accounts.disable(admin)
    db.session().commit()
    assert console.client.get("/support/").status_code == 302


def test_sign_in_form_needs_its_csrf_token(client: FlaskClient, admin: StaffUser) -> None:
    client.get("/support/login")
    response = client.post("/support/login", data={"email": ADMIN_EMAIL, "password": PASSWORD,
                                                   "csrf_token": "forged"})
    assert response.status_code == 400
    assert client.get_cookie(console_session.COOKIE, path="/support") is None
    fresh = FlaskClient(client.application)
    no_cookie = fresh.post("/support/login", data={"email": ADMIN_EMAIL, "password": PASSWORD,
                                                  "csrf_token": csrf_from(client.get("/support/login"))})
    assert no_cookie.status_code == 400


def test_wrong_password_then_lockout_through_the_form(console: ConsoleActions, admin: StaffUser) -> None:
    statuses = [console.login(password="wrong password!!").status_code
                for _ in range(accounts.MAX_FAILED_LOGINS)]
    assert statuses[:-1] == [401] * (accounts.MAX_FAILED_LOGINS - 1)
    assert statuses[-1] == 429
    locked = console.login()  # the right password, but locked
    assert locked.status_code == 429 and "Too many failed sign-ins" in locked.get_data(as_text=True)
    assert int(locked.headers["Retry-After"]) > 0
    db.session().refresh(admin)
    assert admin.locked_until is not None


def test_next_never_leaves_the_console(console: ConsoleActions, admin: StaffUser) -> None:
    for target, expected in (("/support/jobs", "/support/jobs"), ("https://evil.example/", "/support/"),
                             ("//evil.example/support", "/support/"), ("/app", "/support/")):
        console.client.delete_cookie(console_session.COOKIE, path="/support")
        page = console.client.get("/support/login")
        response = console.client.post("/support/login", data={
            "email": ADMIN_EMAIL, "password": PASSWORD, "csrf_token": csrf_from(page), "next": target})
        assert response.headers["Location"] == expected, target


def test_csp_on_error_pages_too(client: FlaskClient) -> None:
    response = client.get("/support/login")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in client.get("/support/no-such-page").headers["Content-Security-Policy"]
