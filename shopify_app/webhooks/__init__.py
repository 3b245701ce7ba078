"""Shopify webhooks: the receiving endpoint (`receiver`) and what each topic does (`handlers`)."""

from shopify_app.webhooks.receiver import bp

__all__ = ["bp"]
