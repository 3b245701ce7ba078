"""The embedded merchant UI: Jinja pages inside the Shopify admin (`pages`) and the JSON
endpoints under `/app/api/…` their JavaScript calls (`api`), all authenticated by Shopify
session tokens and scoped to the calling shop."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from shopify_app.embedded_ui import api, images, pages

    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(images.bp)
