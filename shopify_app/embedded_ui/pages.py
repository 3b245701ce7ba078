"""The embedded pages: thin documents (`@embedded_page`) whose JavaScript loads every piece of
data from `/app/api/…` with a session token.

App Bridge is loaded from Shopify's CDN on every document the admin frames. In dev mode (the dev
shop, never production) a page opened directly — no `host` parameter, so no admin around it — is
the dev shop's merchant standalone: no App Bridge (it would try to reach the admin), a session
token minted for the dev shop instead of `shopify.idToken()`, and a banner saying so.
"""

from __future__ import annotations

import re

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select
from werkzeug.wrappers import Response

from shopify_app import db
from shopify_app.models import GenerationJob
from shopify_app.settings import Settings
from shopify_app.shopify.embedded import current_shop, dev_mode, embedded_page

bp = Blueprint("embedded_ui", __name__)

APP_BRIDGE_URL = "https://cdn.shopify.com/shopifycloud/app-bridge.js"
# Query parameters Shopify puts on the app URL that the next page needs too (never id_token:
# the script asks for a fresh one on every navigation).
CARRIED_PARAMS = ("shop", "host", "embedded", "locale")
NAV = (
    ("home", "Home", "embedded_ui.home"),
    ("models", "Catalog models", "embedded_ui.models"),
    ("shoot", "Shoot", "embedded_ui.shoot"),
    ("jobs", "Jobs", "embedded_ui.jobs"),
    ("settings", "Settings", "embedded_ui.settings"),
)
_ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
_PARAM_VALUE = re.compile(r"^[A-Za-z0-9._=\-]{1,255}$")


def _settings() -> Settings:
    return current_app.config["STUDIO_SETTINGS"]  # type: ignore[no-any-return]


def _carried() -> dict[str, str]:
    return {k: v for k in CARRIED_PARAMS if (v := request.args.get(k, "")) and _PARAM_VALUE.match(v)}


@bp.after_request
def _preloads(response: Response) -> Response:
    # The session-token check adds Shopify's recommended preloads (App Bridge, Polaris web
    # components). These pages use no Polaris script, and a standalone dev page no App Bridge:
    # preloading what is never used only costs bandwidth and a console warning.
    if g.get("embedded_page_rendered"):
        if g.get("standalone_dev"):
            response.headers.pop("Link", None)
        else:
            response.headers["Link"] = (f'<https://cdn.shopify.com>; rel="preconnect", '
                                        f'<{APP_BRIDGE_URL}>; rel="preload"; as="script"')
    return response


def _render(page: str, title: str, **context: object) -> str:
    settings = _settings()
    standalone_dev = dev_mode(settings) and not request.args.get("host")
    g.embedded_page_rendered = True
    g.standalone_dev = standalone_dev
    carried = _carried()
    nav = [(key, label, url_for(endpoint, **carried)) for key, label, endpoint in NAV]
    return render_template(
        f"app/{page}.html",
        page=page,
        title=title,
        nav=nav,
        links={key: href for key, _, href in nav},
        api_key=settings.shopify_api_key,
        app_bridge_url=None if standalone_dev else APP_BRIDGE_URL,
        dev=dev_mode(settings),
        standalone_dev=standalone_dev,
        dev_token=g.get("dev_session_token") if dev_mode(settings) else None,
        shop_domain=current_shop().domain,
        **context,
    )


@bp.get("/")
def root() -> Response:
    """The app URL's root: the home page, with Shopify's query parameters kept."""
    return redirect(url_for("embedded_ui.home") + ("?" + request.query_string.decode() if request.query_string else ""))


@bp.get("/app")
@embedded_page
def home() -> str:
    return _render("home", "Home")


@bp.get("/app/models")
@embedded_page
def models() -> str:
    return _render("models", "Catalog models")


@bp.get("/app/shoot")
@embedded_page
def shoot() -> str:
    return _render("shoot", "Shoot")


@bp.get("/app/jobs")
@embedded_page
def jobs() -> str:
    return _render("jobs", "Jobs")


@bp.get("/app/review/<job_id>")
@embedded_page
def review(job_id: str) -> str:
    job = None
    if _ULID.match(job_id):
        job = db.session.scalar(select(GenerationJob.id).where(
            GenerationJob.id == job_id, GenerationJob.shop_id == current_shop().id))
    if job is None:
        abort(404)
    return _render("review", "Review", job_id=job_id)


@bp.get("/app/settings")
@embedded_page
def settings() -> str:
    return _render("settings", "Settings")
