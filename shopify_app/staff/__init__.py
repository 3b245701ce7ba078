"""Support staff: accounts, passwords, sign-in throttling and lockout, bearer tokens.

The console (`shopify_app.support`) and the registry API (`shopify_app.registry`) both
authenticate staff through this package; a merchant's Shopify session token is never accepted.
"""
