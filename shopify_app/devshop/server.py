"""The dev shop as a WSGI app: what `https://{dev shop domain}/...` answers.

`shopify_app.shopify.transport` routes the app's calls for the dev shop domain here, in-process:
- `POST /admin/oauth/access_token`: token exchange, refresh and authorization-code grants;
- `GET  /admin/oauth/authorize`: approves the legacy install at once and redirects back;
- `POST /admin/api/{version}/graphql.json`: Admin GraphQL with cost extensions, a leaky bucket and
  injected faults;
- `PUT  /_staged_uploads/{key}` and `POST /_staged_uploads`: the staged upload targets.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
import urllib.parse
from typing import Any

import jwt
from flask import Flask, Response, abort, redirect, request

from shopify_app.devshop import admin_graphql, ensure_allowed
from shopify_app.devshop.store import DevShopStore, store_for
from shopify_app.settings import Settings

API_VERSION = re.compile(r"^(\d{4}-(01|04|07|10)|unstable)$")
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json", headers=headers)


def _throttle_status(bucket: Any) -> dict[str, float]:
    return {"maximumAvailable": float(bucket.maximum), "currentlyAvailable": int(bucket.available),
            "restoreRate": float(bucket.restore_rate)}


def create_devshop_app(settings: Settings) -> Flask:
    ensure_allowed(settings)
    app = Flask("shopify_app.devshop.server")
    app.config["MAX_CONTENT_LENGTH"] = MAX_UPLOAD_BYTES + 64 * 1024

    def store() -> DevShopStore:
        return store_for(settings)

    # ------------------------------------------------------------------ OAuth

    def oauth_error(error: str, description: str, status: int = 400) -> Response:
        return _json({"error": error, "error_description": description}, status)

    @app.post("/admin/oauth/access_token")
    def access_token() -> Response:
        params: dict[str, Any] = (request.get_json(silent=True) if request.is_json else None) or request.form.to_dict()
        client_id = str(params.get("client_id") or "")
        client_secret = str(params.get("client_secret") or "")
        if not (hmac.compare_digest(client_id, settings.shopify_api_key)
                and hmac.compare_digest(client_secret, settings.shopify_api_secret)):
            return oauth_error("invalid_client", "Client credentials are invalid", 401)
        scope = ",".join(settings.shopify_scopes)
        grant = params.get("grant_type")
        expiring = str(params.get("expiring", "0")) in ("1", "true")
        if grant == TOKEN_EXCHANGE:
            if params.get("subject_token_type") != ID_TOKEN_TYPE:
                return oauth_error("invalid_request", "subject_token_type must be an id_token")
            try:
                claims = jwt.decode(str(params.get("subject_token") or ""), settings.shopify_api_secret,
                                    algorithms=["HS256"], audience=settings.shopify_api_key, leeway=10)
            except jwt.PyJWTError as exc:
                return oauth_error("invalid_subject_token", f"Invalid subject token: {exc}")
            dest = urllib.parse.urlsplit(str(claims.get("dest", ""))).netloc
            if dest != settings.dev_shop_domain:
                return oauth_error("invalid_subject_token", "The token was not issued for this shop")
            requested = str(params.get("requested_token_type") or "")
            if requested.endswith(":online-access-token"):
                body = store().mint_tokens(scope, expiring=False)
                body.update(expires_in=86399, associated_user_scope=scope, associated_user={
                    "id": int(claims.get("sub") or 1), "first_name": "Dev", "last_name": "Merchant",
                    "email": "dev@example.com", "account_owner": True, "locale": "en",
                    "collaborator": False, "email_verified": True})
                return _json(body)
            return _json(store().mint_tokens(scope, expiring=expiring))
        if grant == "refresh_token":
            body = store().rotate_refresh(str(params.get("refresh_token") or ""))
            if body is None:
                return oauth_error("invalid_grant", "The refresh token is invalid, expired or already used")
            return _json(body)
        if grant in (None, "", "authorization_code") and params.get("code"):
            granted = store().redeem_auth_code(str(params["code"]))
            if granted is None:
                return oauth_error("invalid_request", "The authorization code was not found or was already used")
            return _json(store().mint_tokens(granted, expiring=expiring))
        return oauth_error("unsupported_grant_type", f"Unsupported grant_type {grant!r}")

    @app.get("/admin/oauth/authorize")
    def authorize() -> Response:
        """The merchant "approves" at once: redirect back with a signed code, as Shopify does."""
        if request.args.get("client_id") != settings.shopify_api_key:
            abort(400)
        redirect_uri = request.args.get("redirect_uri", "")
        if not redirect_uri.startswith(settings.app_url + "/"):
            abort(400)
        scope = request.args.get("scope") or ",".join(settings.shopify_scopes)
        query = {
            "code": store().create_auth_code(scope),
            "host": _host_param(settings.dev_shop_domain),
            "shop": settings.dev_shop_domain,
            "state": request.args.get("state", ""),
            "timestamp": str(int(time.time())),
        }
        message = "&".join(f"{k}={v}" for k, v in sorted(query.items()))
        query["hmac"] = hmac.new(settings.shopify_api_secret.encode(), message.encode(), hashlib.sha256).hexdigest()
        return redirect(f"{redirect_uri}?{urllib.parse.urlencode(query)}")

    # ------------------------------------------------------------------ GraphQL

    @app.post("/admin/api/<version>/graphql.json")
    def graphql(version: str) -> Response:
        shop_store = store()
        token = request.headers.get("X-Shopify-Access-Token", "")
        if not token or not shop_store.token_valid(token):
            shop_store.record_call(request.path, version, None, [], 401, "unauthorized")
            return _json({"errors": INVALID_TOKEN}, 401)
        if not API_VERSION.match(version):
            shop_store.record_call(request.path, version, None, [], 404, "bad_version")
            return _json({"errors": "Not Found"}, 404)
        if request.mimetype == "application/graphql":
            body: Any = {"query": request.get_data(as_text=True)}
        else:
            body = request.get_json(silent=True)
        prepared = admin_graphql.prepare(body)
        if isinstance(prepared, list):
            shop_store.record_call(request.path, version, None, [], 200, "invalid")
            return _json({"errors": prepared})
        roots = prepared.root_fields
        op_type = "mutation" if prepared.is_mutation else "query"

        def record(status: int, outcome: str, actual: int | None = None) -> None:
            shop_store.record_call(request.path, version, op_type, roots, status, outcome, prepared.cost, actual)

        fault = shop_store.take_fault(roots, ("SLOW", "HTTP_429", "HTTP_5XX", "THROTTLED"))
        if fault is not None and fault["kind"] == "SLOW":
            time.sleep(float(fault["delay"] or 1.0))
        elif fault is not None and fault["kind"] == "HTTP_429":
            record(429, "http_429")
            retry_after = fault["retry_after"] if fault["retry_after"] is not None else 1.0
            return _json({"errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."},
                         429, {"Retry-After": f"{retry_after:g}"})
        elif fault is not None and fault["kind"] == "HTTP_5XX":
            record(int(fault["status"] or 503), "http_5xx")
            return _json({"errors": "Internal Server Error"}, int(fault["status"] or 503))
        elif fault is not None and fault["kind"] == "THROTTLED":
            shop_store.configure_bucket(available=0)

        if prepared.cost > admin_graphql.SINGLE_QUERY_MAX_COST:
            record(200, "max_cost")
            return _json({"errors": [{"message": f"Query cost is {prepared.cost}, which exceeds the single query max cost limit ({admin_graphql.SINGLE_QUERY_MAX_COST}).",
                                      "extensions": {"code": "MAX_COST_EXCEEDED", "cost": prepared.cost,
                                                     "maxCost": admin_graphql.SINGLE_QUERY_MAX_COST}}]})
        allowed, bucket = shop_store.spend(prepared.cost)
        if not allowed:
            record(200, "throttled")
            return _json({
                "errors": [{"message": "Throttled", "extensions": {
                    "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
                "extensions": {"cost": {"requestedQueryCost": prepared.cost, "actualQueryCost": None,
                                        "throttleStatus": _throttle_status(bucket)}},
            })

        media_faults = shop_store.pending_faults()
        with shop_store.write() as conn:
            def media_fault() -> bool:
                # Consumed inside the same transaction as the media it dooms.
                for item in media_faults:
                    if item["kind"] == "MEDIA_FAILED" and item["remaining"] > 0:
                        item["remaining"] -= 1
                        conn.execute("UPDATE faults SET remaining = remaining - 1 WHERE id = ?", (item["id"],))
                        return True
                return False

            ctx = admin_graphql.Context(store=shop_store, conn=conn, media_fault=media_fault)
            result = admin_graphql.run(ctx, prepared)
        actual = admin_graphql.actual_cost(result.get("data"), prepared.is_mutation)
        bucket = shop_store.refund(prepared.cost - actual)
        after = shop_store.take_fault(roots, ("HTTP_5XX_AFTER",))
        if after is not None:
            # The work is done and committed, but the answer is lost (a 502 from a proxy): the
            # client must not assume the mutation did nothing.
            record(int(after["status"] or 502), "http_5xx_after", actual)
            return _json({"errors": "Bad Gateway"}, int(after["status"] or 502))
        record(200, "ok", actual)
        result["extensions"] = {"cost": {"requestedQueryCost": prepared.cost, "actualQueryCost": actual,
                                         "throttleStatus": _throttle_status(bucket)}}
        return _json(result)

    # ------------------------------------------------------------------ staged uploads

    def upload_fault() -> Response | None:
        fault = store().take_fault(["upload"], ("HTTP_5XX",))
        if fault is not None:
            return Response("<Error><Code>InternalError</Code></Error>", int(fault["status"] or 503),
                            mimetype="application/xml")
        return None

    def too_large() -> Response:
        return Response("<Error><Code>EntityTooLarge</Code></Error>", 413, mimetype="application/xml")

    @app.put("/_staged_uploads/<path:key>")
    def put_upload(key: str) -> Response:
        if not store().verify_signature(key, request.args.get("X-Goog-Signature", "")):
            return Response("<Error><Code>SignatureDoesNotMatch</Code></Error>", 403, mimetype="application/xml")
        if (failed := upload_fault()) is not None:
            return failed
        data = request.get_data(cache=False)
        if len(data) > MAX_UPLOAD_BYTES:
            return too_large()
        if not store().store_upload(key, data):
            return Response("<Error><Code>NoSuchUpload</Code></Error>", 404, mimetype="application/xml")
        return Response("", 200, headers={"ETag": f'"{hashlib.md5(data).hexdigest()}"'})  # noqa: S324 - an ETag, as GCS sends

    @app.post("/_staged_uploads")
    def post_upload() -> Response:
        key = request.form.get("key", "")
        if not store().verify_signature(key, request.form.get("x-goog-signature", "")):
            return Response("<Error><Code>SignatureDoesNotMatch</Code></Error>", 403, mimetype="application/xml")
        if (failed := upload_fault()) is not None:
            return failed
        upload = request.files.get("file")
        if upload is None:
            return Response("<Error><Code>InvalidArgument</Code><Message>file is missing</Message></Error>",
                            400, mimetype="application/xml")
        data = upload.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            return too_large()
        if not store().store_upload(key, data):
            return Response("<Error><Code>NoSuchUpload</Code></Error>", 404, mimetype="application/xml")
        if request.form.get("success_action_status") == "201":
            location = store().resource_url(key)
            xml = (f"<?xml version='1.0' encoding='UTF-8'?><PostResponse><Location>{location}</Location>"
                   f"<Bucket>shopify-staged-uploads</Bucket><Key>{key}</Key>"
                   f"<ETag>\"{hashlib.md5(data).hexdigest()}\"</ETag></PostResponse>")  # noqa: S324
            return Response(xml, 201, mimetype="application/xml")
        return Response("", 204)

    return app


def _host_param(domain: str) -> str:
    import base64

    store_name = domain.split(".")[0]
    return base64.urlsafe_b64encode(f"admin.shopify.com/store/{store_name}".encode()).decode().rstrip("=")


_apps: dict[tuple[Any, ...], Flask] = {}
_apps_lock = threading.Lock()


def wsgi_app_for(settings: Settings) -> Flask:
    """The dev shop WSGI app for these settings (built once per process and settings)."""
    key = (str(settings.instance_path), settings.dev_shop_domain, settings.shopify_api_key,
           settings.shopify_api_secret, settings.app_url, settings.shopify_scopes)
    with _apps_lock:
        app = _apps.get(key)
        if app is None:
            app = create_devshop_app(settings)
            _apps[key] = app
        return app
