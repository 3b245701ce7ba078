"""The dev shop: a local emulation of the Shopify Admin API operations the app uses.

It lets the whole app run and be tested with no Shopify store: Admin GraphQL validated against a
schema subset (`schema.graphql`), staged uploads, media processing states, cost extensions with a
leaky bucket, injectable faults, the OAuth token endpoint, and signed webhooks back to the app.

Two faces:
- `server.wsgi_app_for(settings)`: the "shop" itself (`https://{dev shop domain}/admin/...`), which
  `shopify_app.shopify.transport` calls in-process;
- `views.bp`: the `/_devshop` blueprint in the app (catalog browser, fault control, webhooks).

State lives in `settings.instance_path / "devshop"` (a SQLite file and upload files) so that the
web process and the workers of `make run` see the same shop. Never loaded in production.
"""

from __future__ import annotations

from shopify_app.settings import Settings, SettingsError


def ensure_allowed(settings: Settings) -> None:
    """Refuse the dev shop in a production configuration."""
    if settings.is_production:
        raise SettingsError("the dev shop cannot run in production (unset STUDIO_DEV_SHOP)")
    if not settings.dev_shop:
        raise SettingsError("the dev shop is disabled (STUDIO_DEV_SHOP=0)")
