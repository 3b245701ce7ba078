from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from shopify_app.settings import Settings, SettingsError

KEY = Fernet.generate_key().decode()


def env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {"STUDIO_INSTANCE_PATH": str(tmp_path), **values}


def test_development_defaults_generate_a_key_once(tmp_path: Path) -> None:
    first = Settings.from_env(env(tmp_path))
    second = Settings.from_env(env(tmp_path))
    assert first.encryption_key_generated
    assert first.encryption_keys == second.encryption_keys
    assert (tmp_path / "encryption.key").stat().st_mode & 0o777 == 0o600
    assert first.database_url == f"sqlite:///{tmp_path / 'studio.db'}"
    assert first.dev_shop  # no Shopify credentials in development → the dev shop


@pytest.mark.parametrize(
    ("values", "names"),
    [
        ({"STARTER_CREDITS": "many"}, "STARTER_CREDITS"),
        ({"STARTER_CREDITS": "-1"}, "STARTER_CREDITS"),
        ({"LOG_JSON": "perhaps"}, "LOG_JSON"),
        ({"STUDIO_ENV": "staging"}, "STUDIO_ENV"),
        ({"APP_URL": "ftp://example.com"}, "APP_URL"),
        ({"ENCRYPTION_KEY": "not-a-key"}, "ENCRYPTION_KEY"),
        ({"CREDIT_PRICES": "try-on=lots"}, "CREDIT_PRICES"),
        ({"SHOPIFY_API_KEY": "abc"}, "SHOPIFY_API_SECRET"),
    ],
)
def test_malformed_values_name_their_variable(tmp_path: Path, values: dict[str, str], names: str) -> None:
    with pytest.raises(SettingsError, match=names):
        Settings.from_env(env(tmp_path, **values))


def test_credit_prices_override_only_what_is_given(tmp_path: Path) -> None:
    settings = Settings.from_env(env(tmp_path, CREDIT_PRICES="try-on=3"))
    assert settings.credit_prices["try-on"] == 3
    assert settings.credit_prices["model-generator"] == 4


def test_postgres_urls_use_psycopg3(tmp_path: Path) -> None:
    settings = Settings.from_env(env(tmp_path, DATABASE_URL="postgres://u@h/db"))
    assert settings.database_url == "postgresql+psycopg://u@h/db"


def test_production_requires_its_secrets(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="ENCRYPTION_KEY is required in production"):
        Settings.from_env(env(tmp_path, STUDIO_ENV="production"))


def test_production_refuses_dev_defaults(tmp_path: Path) -> None:
    base = env(
        tmp_path, STUDIO_ENV="production", ENCRYPTION_KEY=KEY, SECRET_KEY="s" * 40,
        SHOPIFY_API_KEY="id", SHOPIFY_API_SECRET="secret",
    )
    with pytest.raises(SettingsError, match="SQLite"):
        Settings.from_env(base)
    with pytest.raises(SettingsError, match="dev shop"):
        Settings.from_env({**base, "DATABASE_URL": "postgresql://x/y", "REDIS_URL": "redis://r",
                           "STUDIO_DEV_SHOP": "1"})
    allowed = Settings.from_env({**base, "STUDIO_ALLOW_DEV_DEFAULTS": "1"})
    assert allowed.is_production and allowed.is_sqlite
    ok = Settings.from_env({**base, "DATABASE_URL": "postgresql://x/y", "REDIS_URL": "redis://r"})
    assert not ok.dev_shop and ok.dev_defaults_in_use() == []


def test_secrets_stay_out_of_repr(tmp_path: Path) -> None:
    settings = Settings.from_env(env(tmp_path, SHOPIFY_API_KEY="id", SHOPIFY_API_SECRET="s3cr3t-value",
                                     ENCRYPTION_KEY=KEY))
    text = repr(settings)
    assert "s3cr3t-value" not in text and KEY not in text


def test_the_dev_shop_secret_is_long_enough_for_hs256(tmp_path: Path) -> None:
    settings = Settings.from_env(env(tmp_path))
    assert settings.dev_shop and len(settings.shopify_api_secret.encode()) >= 32
