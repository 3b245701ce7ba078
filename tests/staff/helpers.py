"""Staff accounts and console sign-in for tests (shared by tests/staff, tests/registry and
tests/support_console)."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from shopify_app import db
from shopify_app.models import StaffRole, StaffUser
from shopify_app.staff import accounts

ADMIN_EMAIL = "admin@studio.test"
VIEWER_EMAIL = "viewer@studio.test"
PASSWORD = "correct horse battery staple"

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

def make_staff(email: str, role: StaffRole, password: str = PASSWORD) -> StaffUser:
    session = db.session()
    user = accounts.create_staff(session, email, password, role)
    session.commit()
    return user

def csrf_from(response: TestResponse) -> str:
    match = _CSRF.search(response.get_data(as_text=True))
    assert match, "no CSRF token on the page"
    return match.group(1)

class ConsoleActions:
    """Drives the console like a browser: sign in, read a form's token, post forms."""

    def __init__(self, client: FlaskClient):
        self.client = client

    def login(self, email: str = ADMIN_EMAIL, password: str = PASSWORD) -> TestResponse:
        page = self.client.get("/support/login")
        return self.client.post("/support/login", data={
            "email": email, "password": password, "csrf_token": csrf_from(page), "next": "",
        })

    def csrf(self, path: str = "/support/") -> str:
        return csrf_from(self.client.get(path))

    def post(self, path: str, data: dict[str, str], token_from: str = "/support/") -> TestResponse:
        return self.client.post(path, data={"csrf_token": self.csrf(token_from), **data})

def api_token(client: FlaskClient, email: str = ADMIN_EMAIL, password: str = PASSWORD) -> str:
    response = client.post("/api/v1/login/access-token", data={"username": email, "password": password})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["access_token"]

