"""Staff accounts: creation, sign-in with lockout, sign-out everywhere, disabling."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from redis import Redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shopify_app.models import StaffRole, StaffUser, utcnow
from shopify_app.staff import passwords, throttle

log = logging.getLogger(__name__)

MAX_FAILED_LOGINS = 5
LOCKOUT = dt.timedelta(minutes=15)


class StaffExists(ValueError):
    pass


@dataclasses.dataclass
class SignInRefused(Exception):
    """Why a sign-in failed. `reason` is "invalid" (400/401) or "locked" (429)."""

    reason: str
    retry_after: int = 0

    @property
    def message(self) -> str:
        if self.reason == "locked":
            minutes = max(1, (self.retry_after + 59) // 60)
            return f"Too many failed sign-ins. Try again in {minutes} minute(s)."
        return "Incorrect email or password"


def normalize_email(email: str) -> str:
    return email.strip().lower()


def find_by_email(session: Session, email: str) -> StaffUser | None:
    return session.scalar(select(StaffUser).where(func.lower(StaffUser.email) == normalize_email(email)))


def create_staff(session: Session, email: str, password: str, role: StaffRole) -> StaffUser:
    email = normalize_email(email)
    if "@" not in email or len(email) > 255:
        raise ValueError("give a valid e-mail address")
    passwords.check_policy(password)
    if find_by_email(session, email) is not None:
        raise StaffExists(f"a staff account for {email} already exists")
    user = StaffUser(email=email, password_hash=passwords.hash_password(password), role=role)
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, redis: Redis, email: str, password: str, ip: str) -> StaffUser:
    """The staff user for these credentials, or SignInRefused.

    The caller must commit even when this raises: failed-attempt counters are the point.
    """
    email = normalize_email(email)
    now = utcnow()
    blocked = throttle.ip_blocked(redis, ip)
    if blocked:
        raise SignInRefused("locked", blocked)

    # Row lock: concurrent wrong passwords for one account must all count.
    user = session.scalar(
        select(StaffUser).where(func.lower(StaffUser.email) == email).with_for_update()
    )
    if user is None:
        passwords.verify_password(None, password)  # same time as a real check
        throttle.record_ip_failure(redis, ip)
        if throttle.unknown_email_failures(redis, email) >= MAX_FAILED_LOGINS:
            raise SignInRefused("locked", throttle.unknown_email_retry_after(redis, email))
        if throttle.record_unknown_email_failure(redis, email) >= MAX_FAILED_LOGINS:
            raise SignInRefused("locked", throttle.unknown_email_retry_after(redis, email))
        raise SignInRefused("invalid")

    if user.locked_until is not None and user.locked_until > now:
        raise SignInRefused("locked", int((user.locked_until - now).total_seconds()) + 1)

    if not passwords.verify_password(user.password_hash, password) or user.disabled_at is not None:
        throttle.record_ip_failure(redis, ip)
        user.failed_logins = (user.failed_logins or 0) + 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = now + LOCKOUT
            user.failed_logins = 0
            log.warning("staff account locked after repeated failed sign-ins",
                        extra={"data": {"staff_user_id": user.id}})
            session.flush()
            raise SignInRefused("locked", int(LOCKOUT.total_seconds()))
        session.flush()
        raise SignInRefused("invalid")

    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if passwords.needs_rehash(user.password_hash):
        # Hash parameters changed since this hash was made: store one with today's.
        user.password_hash = passwords.hash_password(password)
    session.flush()
    return user


def is_active(user: StaffUser | None, version: object) -> bool:
    """True when a credential naming `version` still stands for this user."""
    return user is not None and user.disabled_at is None and user.session_version == version


def revoke_sessions(user: StaffUser) -> None:
    """Sign the user out everywhere: every console cookie and bearer token stops working."""
    user.session_version = (user.session_version or 1) + 1


def disable(user: StaffUser) -> None:
    user.disabled_at = utcnow()
    revoke_sessions(user)
