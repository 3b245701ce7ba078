"""The /v1 blueprint object (its routes live in routes.py and openapi.py)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/v1")
