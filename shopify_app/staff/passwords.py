"""Password hashing with Argon2id (argon2-cffi), and the password policy."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from shopify_app.cooperative import off_loop

MIN_LENGTH = 12
MAX_LENGTH = 256  # Argon2 takes any length; a cap keeps a megabyte "password" from costing CPU.

# argon2-cffi's defaults follow RFC 9106's second recommended profile. When they change (a
# library upgrade) `needs_rehash` turns true and the next sign-in stores a fresh hash.
_hasher = PasswordHasher()

# Verified against when the e-mail is unknown, so a wrong e-mail costs the same time as a wrong
# password and response timing does not reveal which accounts exist.
_DUMMY_HASH = _hasher.hash("not a real password; only here to spend the same time")


class PasswordPolicyError(ValueError):
    """The password does not meet the policy; the message says why."""


def check_policy(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise PasswordPolicyError(f"the password must be at least {MIN_LENGTH} characters long")
    if len(password) > MAX_LENGTH:
        raise PasswordPolicyError(f"the password must be at most {MAX_LENGTH} characters long")
    if not password.strip():
        raise PasswordPolicyError("the password must not be blank")


# An Argon2 hash costs tens of milliseconds of CPU in C (the GIL released): under the gevent web
# server it runs on a native thread (`off_loop`), so a sign-in does not stall the process's
# other requests.


def hash_password(password: str) -> str:
    return off_loop(_hasher.hash, password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; always spends one Argon2 verification."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        matched = off_loop(_hasher.verify, password_hash or _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return matched and password_hash is not None


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
