"""Encryption at rest for access tokens and other secrets.

Values are encrypted with Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`). Several keys
may be configured (ENCRYPTION_KEY="new,old"): the first encrypts, all decrypt, so a key can be
rotated by prepending a new one and re-saving rows at leisure.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class DecryptionError(RuntimeError):
    """A stored secret could not be decrypted with any configured key."""


class Vault:
    def __init__(self, keys: tuple[str, ...]):
        if not keys:
            raise ValueError("at least one encryption key is required")
        self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise DecryptionError("stored secret cannot be decrypted with the configured keys") from None


# The column type below runs inside SQLAlchemy's flush, where no app is at hand; the process
# has one set of keys, installed by create_app (web, worker and CLI build the app the same way).
_vault: Vault | None = None


def configure(keys: tuple[str, ...]) -> None:
    global _vault
    _vault = Vault(keys)


def vault() -> Vault:
    if _vault is None:
        raise RuntimeError("encryption keys are not configured; build the app with create_app()")
    return _vault


class EncryptedString(TypeDecorator[str]):
    """A string stored as Fernet ciphertext; reads give back the plaintext."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return vault().encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return vault().decrypt(value)
