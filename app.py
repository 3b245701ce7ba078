"""The one module that builds an app at import: `gunicorn app:app`, `flask --app app …`."""

from shopify_app import create_app

app = create_app()
