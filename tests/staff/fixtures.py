"""Fixtures shared by the staff, registry and support-console tests."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from shopify_app.models import StaffRole, StaffUser
from tests.staff.helpers import ADMIN_EMAIL, VIEWER_EMAIL, ConsoleActions, make_staff


@pytest.fixture
def admin(app: Flask) -> StaffUser:
    return make_staff(ADMIN_EMAIL, StaffRole.ADMIN)


@pytest.fixture
def viewer(app: Flask) -> StaffUser:
    return make_staff(VIEWER_EMAIL, StaffRole.VIEWER)


@pytest.fixture
def console(client: FlaskClient) -> ConsoleActions:
    return ConsoleActions(client)
