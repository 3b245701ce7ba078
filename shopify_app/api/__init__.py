"""The public /v1 studio API (seed 000): workflows, jobs, catalog models, files, OpenAPI.

`init_app(app)` registers the blueprint, the JSON rendering of `ApiError`, the request-log
hook (every /v1 call, 4xx included) and the `flask studio create-api-key` command.
"""

from __future__ import annotations

from flask import Flask, Response, g, jsonify

from shopify_app.api.blueprint import bp
from shopify_app.api.context import ApiCall, ApiError


@bp.errorhandler(ApiError)
def _render_api_error(exc: ApiError) -> Response:
    response = jsonify({"detail": exc.detail, **exc.extra})
    response.status_code = exc.status
    for name, value in exc.headers.items():
        response.headers[name] = value
    return response


def init_app(app: Flask) -> None:
    # Importing the modules attaches their routes and commands.
    from shopify_app.api import cli, openapi, routes  # noqa: F401
    from shopify_app.api.requestlog import write_request_log

    app.register_blueprint(bp)

    @app.before_request
    def _fresh_call() -> None:
        # `g` lives as long as the app context, which several requests may share (tests, CLI
        # scripts using the test client): each request starts with its own call record.
        g.api_call = ApiCall()
        g.api_logged = False

    # App-level, so unmatched /v1 paths (404/405) are logged too; registered after the
    # database hook, so it runs before the request's commit.
    app.after_request(write_request_log)


__all__ = ["ApiError", "bp", "init_app"]
