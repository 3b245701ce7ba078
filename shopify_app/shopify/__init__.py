"""The Shopify layer: auth, session tokens, webhooks, the Admin API client and media publishing.

Shopify's own `shopifyapp` package is reached only through `shopify_app.shopify.sdk`; outbound
HTTP to a shop goes only through `shopify_app.shopify.transport`.
"""
