from __future__ import annotations

import datetime as dt

import pytest
from argon2 import PasswordHasher
from click.testing import Result
from flask import Flask
from sqlalchemy import select

from shopify_app import db
from shopify_app.models import StaffRole, StaffUser, utcnow
from shopify_app.queues import get_broker
from shopify_app.staff import accounts, passwords, throttle
from tests.staff.helpers import PASSWORD


def _cli(app: Flask, args: list[str], password: str) -> Result:
    return app.test_cli_runner().invoke(args=["studio", "create-staff", *args], input=password + "\n")


def test_create_staff_command_hashes_with_argon2(app: Flask) -> None:
    result = _cli(app, ["--email", "Ops@Studio.test", "--role", "admin"], PASSWORD)
    assert result.exit_code == 0, result.output
    assert "created admin ops@studio.test" in result.output
    user = db.session().scalar(select(StaffUser))
    assert user.email == "ops@studio.test" and user.role == StaffRole.ADMIN
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash


def test_create_staff_refuses_short_password_and_duplicates(app: Flask) -> None:
    short = _cli(app, ["--email", "a@studio.test", "--role", "viewer"], "short")
    assert short.exit_code != 0 and "at least 12 characters" in short.output
    assert _cli(app, ["--email", "a@studio.test", "--role", "viewer"], PASSWORD).exit_code == 0
    again = _cli(app, ["--email", "A@studio.test", "--role", "admin"], PASSWORD)
    assert again.exit_code != 0 and "already exists" in again.output
    bad_role = _cli(app, ["--email", "b@studio.test", "--role", "owner"], PASSWORD)
    assert bad_role.exit_code != 0


def test_lockout_after_repeated_failures(app: Flask, admin: StaffUser) -> None:
    session, redis = db.session(), get_broker().redis
    for _ in range(accounts.MAX_FAILED_LOGINS - 1):
        with pytest.raises(accounts.SignInRefused) as refused:
            accounts.authenticate(session, redis, admin.email, "wrong password!!", "10.0.0.1")
        assert refused.value.reason == "invalid"
    with pytest.raises(accounts.SignInRefused) as refused:
        accounts.authenticate(session, redis, admin.email, "wrong password!!", "10.0.0.1")
    assert refused.value.reason == "locked"
    session.commit()
    assert admin.locked_until is not None and admin.locked_until > utcnow()
    # The right password does not open a locked account.
    with pytest.raises(accounts.SignInRefused) as refused:
        accounts.authenticate(session, redis, admin.email, PASSWORD, "10.0.0.2")
    assert refused.value.reason == "locked"
    # Once the lock has passed, it does.
    admin.locked_until = utcnow() - dt.timedelta(seconds=1)
    assert accounts.authenticate(session, redis, admin.email, PASSWORD, "10.0.0.2") is admin
    assert admin.failed_logins == 0 and admin.locked_until is None


def test_unknown_email_locks_like_a_real_account(app: Flask) -> None:
    session, redis = db.session(), get_broker().redis
    reasons = []
    for _ in range(accounts.MAX_FAILED_LOGINS + 1):
        with pytest.raises(accounts.SignInRefused) as refused:
            accounts.authenticate(session, redis, "nobody@studio.test", "whatever password", "10.0.0.3")
        reasons.append(refused.value.reason)
    assert reasons[: accounts.MAX_FAILED_LOGINS - 1] == ["invalid"] * (accounts.MAX_FAILED_LOGINS - 1)
    assert reasons[-1] == "locked"


def test_ip_throttle_refuses_before_checking_passwords(app: Flask, admin: StaffUser) -> None:
    session, redis = db.session(), get_broker().redis
    for i in range(throttle.IP_MAX_FAILURES):
        with pytest.raises(accounts.SignInRefused):
            accounts.authenticate(session, redis, f"x{i}@studio.test", "wrong password!!", "10.9.9.9")
    with pytest.raises(accounts.SignInRefused) as refused:
        accounts.authenticate(session, redis, admin.email, PASSWORD, "10.9.9.9")
    assert refused.value.reason == "locked" and refused.value.retry_after > 0
    # Another address is not affected.
    assert accounts.authenticate(session, redis, admin.email, PASSWORD, "10.9.9.10") is admin


def test_password_is_rehashed_when_parameters_change(app: Flask, admin: StaffUser) -> None:
    session = db.session()
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    admin.password_hash = weak
    session.commit()
    assert passwords.needs_rehash(weak)
    accounts.authenticate(session, get_broker().redis, admin.email, PASSWORD, "10.0.0.4")
    assert admin.password_hash != weak and not passwords.needs_rehash(admin.password_hash)
    assert passwords.verify_password(admin.password_hash, PASSWORD)


def test_disabled_account_cannot_sign_in(app: Flask, admin: StaffUser) -> None:
    session = db.session()
    accounts.disable(admin)
    session.commit()
    with pytest.raises(accounts.SignInRefused) as refused:
        accounts.authenticate(session, get_broker().redis, admin.email, PASSWORD, "10.0.0.5")
    assert refused.value.reason == "invalid"
