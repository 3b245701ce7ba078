"""Shopify webhooks: the receiving endpoint (`receiver`), the group-commit `writer` that records
deliveries, and what each topic does (`handlers`)."""

from shopify_app.webhooks.receiver import bp, init_app

__all__ = ["bp", "init_app"]
