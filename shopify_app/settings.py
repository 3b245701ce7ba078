"""Settings, read from the environment once into one typed object.

Web, worker and CLI all build their settings with `Settings.from_env()`; tests build them with
`Settings.for_tests(...)` or pass overrides. A missing or malformed variable raises
`SettingsError` naming the variable, so a deploy fails at start rather than at first use.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENTS = ("development", "test", "production")
MEDIA_STORAGES = ("local",)  # an S3-compatible backend slots in behind images.storage.Storage

# Credits charged per unit of work, by workflow. Overridable with CREDIT_PRICES, e.g.
# "model-generator=4,try-on=1,catalog-shoot=1". A per-generation-model multiplier lives in the
# generation-model registry (provider_capabilities.credit_multiplier).
DEFAULT_CREDIT_PRICES = {"model-generator": 4, "try-on": 1, "catalog-shoot": 1, "push-media": 0}

# The Admin API version every Shopify call and every webhook subscription is pinned to.
SHOPIFY_API_VERSION = "2026-10"


# The dev shop's stand-in client secret (development and tests only; never production).
DEV_SHOP_SECRET = "dev-shop-client-secret-not-for-production"


class SettingsError(RuntimeError):
    """A setting is missing, malformed, or unsafe for the chosen environment."""


# Generation provider types whose credentials are read from PROVIDER_<TYPE>_KEY and
# PROVIDER_<TYPE>_BASE_URL (mirrors shopify_app.providers.config.ProviderType).
PROVIDER_ENV_TYPES = (
    "studio", "custom_models", "generation_tools", "photogpt", "fal_standard", "fashn",
)
# Public hosts with a well-known API root; the others must be configured.
DEFAULT_PROVIDER_BASE_URLS = {
    "fal_standard": "https://queue.fal.run",
    "fashn": "https://api.fashn.ai/v1",
    "photogpt": "https://developer.photogptai.com/api",
}


@dataclass(frozen=True)
class ProviderCredentials:
    """A provider's API key and API root, from the environment (never from the registry)."""

    api_key: str = field(default="", repr=False)
    base_url: str = ""


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    instance_path: Path = PROJECT_ROOT / "instance"

    # Shopify app credentials. Empty in development means "use the dev shop".
    shopify_api_key: str = ""
    shopify_api_secret: str = field(default="", repr=False)
    shopify_api_secret_previous: str = field(default="", repr=False)
    shopify_api_version: str = SHOPIFY_API_VERSION
    shopify_scopes: tuple[str, ...] = ("read_products", "write_products", "read_files", "write_files")
    app_url: str = "http://127.0.0.1:8000"

    database_url: str = ""
    redis_url: str = ""  # empty: the dev runner / test harness starts an embedded Redis

    encryption_keys: tuple[str, ...] = field(default=(), repr=False)
    encryption_key_generated: bool = False
    secret_key: str = field(default="", repr=False)

    media_root: Path = PROJECT_ROOT / "instance" / "media"
    # Where images are kept (shopify_app/images/storage.py): "local" (a directory, media_root).
    media_storage: str = "local"
    credit_prices: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_CREDIT_PRICES))
    starter_credits: int = 50
    log_level: str = "INFO"
    log_json: bool = True

    dev_shop: bool = False
    dev_shop_domain: str = "catalog-studio-dev.myshopify.com"
    allow_dev_defaults: bool = False

    webhook_max_bytes: int = 1_000_000
    # Hosts the image downloader may fetch over http or from private addresses (dev only).
    fetch_allowed_hosts: tuple[str, ...] = ()
    reconcile_interval_seconds: int = 60
    job_deadline_seconds: int = 3 * 3600
    # How often a worker heartbeats while a job runs; a started job whose worker has been
    # silent for three intervals is taken as lost by the reconciler.
    worker_heartbeat_seconds: int = 10
    # How long a signed /v1/files URL stays valid.
    file_url_ttl_seconds: int = 3600

    # Generation providers: credentials by provider type, the timeout of every upstream call,
    # and how many times a technical failure is retried before the fallback provider runs.
    provider_credentials: Mapping[str, ProviderCredentials] = field(default_factory=dict, repr=False)
    provider_timeout_seconds: float = 30.0
    provider_technical_retries: int = 2

    # ---------------------------------------------------------------- construction

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        env = os.environ if environ is None else environ
        reader = _Reader(env)

        environment = reader.choice("STUDIO_ENV", ENVIRONMENTS, "development")
        instance_path = Path(reader.str("STUDIO_INSTANCE_PATH", str(PROJECT_ROOT / "instance")))
        api_key = reader.str("SHOPIFY_API_KEY", "")
        api_secret = reader.str("SHOPIFY_API_SECRET", "")
        if bool(api_key) != bool(api_secret):
            missing = "SHOPIFY_API_SECRET" if api_key else "SHOPIFY_API_KEY"
            raise SettingsError(f"{missing} is required when the other Shopify credential is set")
        dev_shop_default = environment != "production" and not api_key
        dev_shop = reader.bool("STUDIO_DEV_SHOP", dev_shop_default)

        keys = reader.list("ENCRYPTION_KEY")
        generated = False
        if keys:
            for i, key in enumerate(keys):
                try:
                    Fernet(key.encode())
                except (ValueError, TypeError) as exc:
                    raise SettingsError(
                        f"ENCRYPTION_KEY entry {i + 1} is not a Fernet key "
                        "(32 url-safe base64 bytes; make one with "
                        "`python -c 'from cryptography.fernet import Fernet; "
                        "print(Fernet.generate_key().decode())'`)"
                    ) from exc
        elif environment == "production":
            raise SettingsError("ENCRYPTION_KEY is required in production")
        else:
            keys = (_instance_secret(instance_path, "encryption.key", _fernet_key),)
            generated = True

        secret_key = reader.str("SECRET_KEY", "")
        if not secret_key:
            if environment == "production":
                raise SettingsError("SECRET_KEY is required in production")
            secret_key = _instance_secret(instance_path, "secret.key", lambda: secrets.token_hex(32))

        database_url = reader.str("DATABASE_URL", f"sqlite:///{instance_path / 'studio.db'}")
        if database_url.startswith("postgres://"):
            database_url = "postgresql+psycopg://" + database_url[len("postgres://"):]
        elif database_url.startswith("postgresql://"):
            database_url = "postgresql+psycopg://" + database_url[len("postgresql://"):]

        settings = cls(
            env=environment,
            instance_path=instance_path,
            shopify_api_key=api_key or ("dev-client-id" if dev_shop else ""),
            # The dev shop signs session tokens and webhooks with this; HS256 wants ≥ 32 bytes.
            shopify_api_secret=api_secret or (DEV_SHOP_SECRET if dev_shop else ""),
            shopify_api_secret_previous=reader.str("SHOPIFY_API_SECRET_PREVIOUS", ""),
            shopify_api_version=reader.str("SHOPIFY_API_VERSION", SHOPIFY_API_VERSION),
            shopify_scopes=reader.list("SHOPIFY_SCOPES") or cls.shopify_scopes,
            app_url=reader.url("APP_URL", "http://127.0.0.1:8000"),
            database_url=database_url,
            redis_url=reader.str("REDIS_URL", ""),
            encryption_keys=tuple(keys),
            encryption_key_generated=generated,
            secret_key=secret_key,
            media_root=Path(reader.str("MEDIA_ROOT", str(instance_path / "media"))),
            media_storage=reader.choice("MEDIA_STORAGE", MEDIA_STORAGES, "local"),
            credit_prices=reader.prices("CREDIT_PRICES", DEFAULT_CREDIT_PRICES),
            starter_credits=reader.int("STARTER_CREDITS", 50, minimum=0),
            log_level=reader.choice("LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), "INFO"),
            log_json=reader.bool("LOG_JSON", True),
            dev_shop=dev_shop,
            dev_shop_domain=reader.str("DEV_SHOP_DOMAIN", cls.dev_shop_domain),
            allow_dev_defaults=reader.bool("STUDIO_ALLOW_DEV_DEFAULTS", False),
            webhook_max_bytes=reader.int("WEBHOOK_MAX_BYTES", 1_000_000, minimum=1024),
            fetch_allowed_hosts=reader.list("FETCH_ALLOWED_HOSTS"),
            reconcile_interval_seconds=reader.int("RECONCILE_INTERVAL_SECONDS", 60, minimum=1),
            job_deadline_seconds=reader.int("JOB_DEADLINE_SECONDS", 3 * 3600, minimum=60),
            worker_heartbeat_seconds=reader.int("WORKER_HEARTBEAT_SECONDS", 10, minimum=1),
            file_url_ttl_seconds=reader.int("FILE_URL_TTL_SECONDS", 3600, minimum=1),
            provider_credentials=reader.provider_credentials(),
            provider_timeout_seconds=float(reader.int("PROVIDER_TIMEOUT_SECONDS", 30, minimum=1)),
            provider_technical_retries=reader.int("PROVIDER_TECHNICAL_RETRIES", 2, minimum=0),
        )
        if overrides:
            settings = dataclasses.replace(settings, **overrides)  # type: ignore[arg-type]
        settings.check_production_safety()
        return settings

    def replace(self, **changes: object) -> Settings:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    # ---------------------------------------------------------------- rules

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def dev_defaults_in_use(self) -> list[str]:
        found = []
        if self.dev_shop:
            found.append("the dev shop (STUDIO_DEV_SHOP)")
        if self.encryption_key_generated:
            found.append("a generated encryption key (ENCRYPTION_KEY)")
        if self.is_sqlite:
            found.append("SQLite (DATABASE_URL)")
        if not self.redis_url:
            found.append("an embedded Redis (REDIS_URL)")
        return found

    def check_production_safety(self) -> None:
        """Production refuses dev defaults unless STUDIO_ALLOW_DEV_DEFAULTS=1 says otherwise."""
        if not self.is_production or self.allow_dev_defaults:
            return
        if not self.shopify_api_key:
            raise SettingsError("SHOPIFY_API_KEY and SHOPIFY_API_SECRET are required in production")
        found = self.dev_defaults_in_use()
        if found:
            raise SettingsError(
                "production refuses development defaults: "
                + ", ".join(found)
                + "; configure them, or set STUDIO_ALLOW_DEV_DEFAULTS=1 to run anyway"
            )

    @property
    def webhook_secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.shopify_api_secret, self.shopify_api_secret_previous) if s)


class _Reader:
    """Typed reads of environment variables, each error naming its variable."""

    def __init__(self, environ: Mapping[str, str]):
        self.environ = environ

    def raw(self, name: str) -> str | None:
        value = self.environ.get(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def str(self, name: str, default: str) -> str:
        value = self.raw(name)
        return default if value is None else value

    def int(self, name: str, default: int, minimum: int | None = None) -> int:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise SettingsError(f"{name} must be a whole number, got {value!r}") from None
        if minimum is not None and number < minimum:
            raise SettingsError(f"{name} must be at least {minimum}, got {number}")
        return number

    def bool(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{name} must be a boolean (1/0, true/false), got {value!r}")

    def choice(self, name: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.raw(name)
        if value is None:
            return default
        if name == "LOG_LEVEL":
            value = value.upper()
        if value not in allowed:
            raise SettingsError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        return value

    def list(self, name: str) -> tuple[str, ...]:
        value = self.raw(name)
        if value is None:
            return ()
        return tuple(part.strip() for part in value.split(",") if part.strip())

    def url(self, name: str, default: str) -> str:
        value = self.str(name, default).rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise SettingsError(f"{name} must be an http(s) URL, got {value!r}")
        return value

    def provider_credentials(self) -> dict[str, ProviderCredentials]:
        found: dict[str, ProviderCredentials] = {}
        for provider_type in PROVIDER_ENV_TYPES:
            prefix = f"PROVIDER_{provider_type.upper()}"
            key = self.str(f"{prefix}_KEY", "")
            default_url = DEFAULT_PROVIDER_BASE_URLS.get(provider_type, "")
            base_url = self.str(f"{prefix}_BASE_URL", default_url).rstrip("/")
            if base_url and not base_url.startswith("https://"):
                raise SettingsError(f"{prefix}_BASE_URL must be an https:// URL, got {base_url!r}")
            if key or base_url:
                found[provider_type] = ProviderCredentials(api_key=key, base_url=base_url)
        return found

    def prices(self, name: str, default: Mapping[str, int]) -> dict[str, int]:
        value = self.raw(name)
        prices = dict(default)
        if value is None:
            return prices
        try:
            if value.startswith("{"):
                parsed = json.loads(value)
                items = list(parsed.items())
            else:
                items = [part.split("=", 1) for part in value.split(",") if part.strip()]
            for workflow, price in items:
                prices[str(workflow).strip()] = int(price)
        except (ValueError, TypeError, AttributeError):
            raise SettingsError(
                f"{name} must look like 'model-generator=4,try-on=1', got {value!r}"
            ) from None
        if any(p < 0 for p in prices.values()):
            raise SettingsError(f"{name} prices must not be negative")
        return prices


def _fernet_key() -> str:
    return Fernet.generate_key().decode()


def _instance_secret(instance_path: Path, filename: str, make: object) -> str:
    """A development secret generated once into instance/ (never used in production)."""
    path = instance_path / filename
    if path.exists():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    value = make()  # type: ignore[operator]
    # O_EXCL: two processes starting at once must end up with one key, not two.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    log.warning("generated a development %s at %s; set it explicitly in production", filename, path)
    return value
