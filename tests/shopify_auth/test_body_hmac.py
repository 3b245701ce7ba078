"""Body HMAC (webhooks, Flow actions): the fast path accepts exactly what the SDK accepts.

`sdk._verify_body_hmac` answers a signature the app's secrets made without the SDK (which
re-serialises the body for its log record on every call) and leaves every other request to the
SDK. These tests hold the two to the same verdict, request by request."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import random
from pathlib import Path

import pytest

from shopify_app.shopify import sdk
from tests.conftest import CLIENT_SECRET, PREVIOUS_SECRET, make_settings
from tests.support.shopify import fixture_bytes

BODY = fixture_bytes("webhooks", "products_create")
KINDS = {
    "webhook": (sdk._verify_webhook_req, sdk.verify_webhook),
    "flow": (sdk._verify_flow_action_req, sdk.verify_flow_action),
}
HEADER_NAMES = ("X-Shopify-Hmac-Sha256", "x-shopify-hmac-sha256", "shopify-hmac-sha256", "Shopify-Hmac-SHA256")


def _sign(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _sdk_only(kind: str, settings, method: str, headers: dict[str, str], body: bytes) -> sdk.Verdict:  # noqa: ANN001
    """The verdict with the fast path switched off: the wrapper's own checks, then the SDK."""
    verify, _ = KINDS[kind]
    lowered = {k.lower(): v for k, v in headers.items()}
    signature = next((lowered[h] for h in ("x-shopify-hmac-sha256", "shopify-hmac-sha256") if h in lowered), "")
    if method == "POST" and signature and not signature.isascii():
        return sdk.Verdict(False, 401, "invalid_hmac")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return sdk.Verdict(False, 400, "body_not_utf8")
    return sdk._sdk_body_hmac_verdict(verify, settings, method, lowered, text)


def _signatures(body: bytes) -> dict[str, str]:
    digest = hmac.new(CLIENT_SECRET.encode(), body, hashlib.sha256).digest()
    good = base64.b64encode(digest).decode()
    return {
        "current": good,
        "previous": _sign(body, PREVIOUS_SECRET),
        "other secret": _sign(body, "a-third-secret-0123456789abcdef"),
        "tampered body": _sign(body + b" ", CLIENT_SECRET),
        "hex": digest.hex(),
        "urlsafe unpadded": base64.urlsafe_b64encode(digest).decode().rstrip("="),
        "lower case": good.lower(),
        "padded with spaces": f" {good} ",
        "truncated": good[:-1],
        "non-ascii": "é" + good[1:],
        "empty": "",
    }


BODIES = {"fixture": BODY, "empty": b"", "non-json": b"not json at all", "non-utf8": b"\xff\xfe{}",
          "utf8": '{"title":"Café ☕"}'.encode()}


@pytest.fixture(params=["with previous secret", "without previous secret"])
def hmac_settings(request, tmp_path: Path, database_url: str, redis_url: str):  # noqa: ANN001, ANN201
    overrides = {} if request.param == "with previous secret" else {"shopify_api_secret_previous": ""}
    return make_settings(tmp_path, database_url, redis_url, **overrides)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_fast_path_and_sdk_agree(hmac_settings, kind: str) -> None:  # noqa: ANN001
    _, verify = KINDS[kind]
    checked = accepted = 0
    for (body_name, body), method, header in itertools.product(BODIES.items(), ("POST", "GET"), HEADER_NAMES):
        # Signatures of this body, and of the other bodies (a valid signature of something else).
        signatures = {**_signatures(body), **{f"sig of {n}": _sign(b, CLIENT_SECRET) for n, b in BODIES.items()
                                             if b != body}}
        for sig_name, signature in signatures.items():
            headers = {header: signature, "X-Shopify-Topic": "products/create"}
            got = verify(hmac_settings, method, headers, body)
            want = _sdk_only(kind, hmac_settings, method, headers, body)
            assert (got.ok, got.status, got.reason) == (want.ok, want.status, want.reason), \
                (kind, body_name, method, header, sig_name)
            checked += 1
            accepted += got.ok
    without_header = verify(hmac_settings, "POST", {"X-Shopify-Topic": "products/create"}, BODY)
    assert (without_header.ok, without_header.status) == (False, 400)
    assert checked > 500 and accepted > 0


def test_fast_path_and_sdk_agree_on_random_signatures(hmac_settings) -> None:  # noqa: ANN001
    rnd = random.Random(7)
    good = _sign(BODY, CLIENT_SECRET)
    for _ in range(300):
        # Near misses: the right signature with one character changed, dropped or added.
        chars = list(good)
        i = rnd.randrange(len(chars))
        op = rnd.choice(("change", "drop", "add"))
        if op == "change":
            chars[i] = rnd.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
        elif op == "drop":
            del chars[i]
        else:
            chars.insert(i, rnd.choice("A+/="))
        headers = {"X-Shopify-Hmac-Sha256": "".join(chars)}
        got = sdk.verify_webhook(hmac_settings, "POST", headers, BODY)
        want = _sdk_only("webhook", hmac_settings, "POST", headers, BODY)
        assert (got.ok, got.status, got.reason) == (want.ok, want.status, want.reason)


@pytest.mark.parametrize("secret", [CLIENT_SECRET, PREVIOUS_SECRET])
def test_accepted_signatures_skip_the_sdk(settings, monkeypatch: pytest.MonkeyPatch, secret: str) -> None:  # noqa: ANN001
    """What the fast path is for: a valid delivery never reaches the SDK's verifier."""
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("the SDK was called for a valid signature")

    monkeypatch.setattr(sdk, "_sdk_body_hmac_verdict", fail)
    verdict = sdk.verify_webhook(settings, "POST", {"X-Shopify-Hmac-Sha256": _sign(BODY, secret)}, BODY)
    assert verdict.ok and verdict.status == 200


def test_rejections_come_from_the_sdk(settings, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    calls: list[dict] = []
    real = sdk._verify_webhook_req

    def spy(request, config):  # noqa: ANN001, ANN202
        calls.append(request)
        return real(request, config)

    monkeypatch.setattr(sdk, "_verify_webhook_req", spy)
    verdict = sdk.verify_webhook(settings, "POST", {"X-Shopify-Hmac-Sha256": _sign(BODY + b"x", CLIENT_SECRET)},
                                 BODY)
    assert (verdict.ok, verdict.status, verdict.reason) == (False, 401, "invalid_hmac")
    assert len(calls) == 1
