"""Catalog Studio: a Shopify embedded app for AI catalog-model imagery."""

from __future__ import annotations

import logging

from flask import Flask

from shopify_app.settings import Settings

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app. `settings` defaults to the environment (`Settings.from_env()`)."""
    from shopify_app import cooperative, crypto, db, errors, health, logs, queues, requestctx
    from shopify_app.cli import studio_cli

    settings = settings or Settings.from_env()
    app = Flask(
        __name__,
        instance_path=str(settings.instance_path),
        template_folder="../templates",
        static_folder="../static",
    )
    app.config.update(
        SECRET_KEY=settings.secret_key,
        STUDIO_SETTINGS=settings,
        MAX_CONTENT_LENGTH=30 * 1024 * 1024,
        SESSION_COOKIE_SECURE=settings.app_url.startswith("https://"),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        JSON_SORT_KEYS=False,
    )

    logs.configure_logging(
        settings.log_level,
        settings.log_json,
        secrets=(*settings.encryption_keys, settings.secret_key, *settings.webhook_secrets),
    )
    crypto.configure(settings.encryption_keys)
    db.init_app(app, settings)
    queues.init_app(app, _redis_url(settings))
    requestctx.init_app(app)
    errors.init_app(app)

    app.register_blueprint(health.bp)
    if cooperative.gevent_active():
        # Inside the webhook endpoint's middleware (installed next): webhooks take no slot.
        app.wsgi_app = cooperative.RequestSlots(app.wsgi_app, db.REQUEST_SLOTS)  # type: ignore[method-assign]
    _register_feature_blueprints(app, settings)
    app.cli.add_command(studio_cli)
    for warning in settings.dev_defaults_in_use():
        if settings.is_production:
            log.warning("running in production with %s", warning)
    return app


def _redis_url(settings: Settings) -> str:
    if settings.redis_url:
        return settings.redis_url
    # No REDIS_URL: use the embedded server the dev runner (`flask studio dev`) started for this
    # instance folder. Without one, commands that need Redis fail with a message saying so.
    from shopify_app import embedded_redis

    return embedded_redis.running_url(settings.instance_path / "redis") or embedded_redis.socket_url(
        settings.instance_path / "redis"
    )


def _register_feature_blueprints(app: Flask, settings: Settings) -> None:
    """Each feature area registers itself here (Shopify auth and webhooks, /v1, UI, support)."""
    from shopify_app.shopify import auth_views; auth_views.init_app(app)  # noqa: E702
    from shopify_app import webhooks; webhooks.init_app(app)  # noqa: E702
    if settings.dev_shop:  # raises in a production configuration
        from shopify_app.devshop import views as devshop_views; devshop_views.init_app(app)  # noqa: E702
    from shopify_app import api; api.init_app(app)  # noqa: E702
    from shopify_app import support; support.init_app(app)  # noqa: E702
    from shopify_app import embedded_ui; embedded_ui.init_app(app)  # noqa: E702
    from shopify_app.workflows import cli as workflows_cli; workflows_cli.init_app(app)  # noqa: E702
