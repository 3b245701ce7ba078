"""The same end-to-end run with a remote provider: FASHN (mocked with `responses`, shaped like
its real answers) as primary, fal.ai as the fallback when FASHN keeps failing for a product.

The mocked upstreams render their "result" with the local preview renderer from the garment
they were sent, so the colour-fidelity check sees a real try-on of that garment.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import re
from typing import Any

import pytest
import responses
from PIL import Image, ImageStat

from shopify_app.devshop.catalog import seed_product
from shopify_app.images.fetch import SafeFetcher
from shopify_app.models import GenerationModel, LedgerKind, ProviderTask, PushState, ReviewState
from shopify_app.providers import local_render
from shopify_app.workflows import review
from tests.workflows.conftest import HANDLES, Studio

FASHN = "https://api.fashn.ai/v1"
FAL_QUEUE = "https://queue.fal.run"
FAL_APP = "fal-ai/fashn/tryon/v1.6"
CDN = "https://cdn.fashn.ai"
FAL_CDN = "https://v3.fal.media/files/penguin"


class PublicResolver:
    """Every name resolves to one public address (no DNS in tests)."""

    def __call__(self, host: str, port: int) -> list[str]:
        return ["93.184.216.34"]


@pytest.fixture(autouse=True)
def _no_dns_for_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SafeFetcher, "from_settings",
                        classmethod(lambda cls, settings, **kw: cls(allowed_hosts=(), resolver=PublicResolver(), **kw)))


@pytest.fixture
def provider_settings(app, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN001, ANN201
    from shopify_app.settings import ProviderCredentials

    settings = app.config["STUDIO_SETTINGS"]
    app.config["STUDIO_SETTINGS"] = settings.replace(provider_credentials={
        "fashn": ProviderCredentials("fashn-test-key-0123456789", FASHN),
        "fal_standard": ProviderCredentials("fal-test-key-0123456789", FAL_QUEUE),
    })
    return app.config["STUDIO_SETTINGS"]


def _garment_from(data_url: str) -> bytes:
    return base64.b64decode(data_url.split(",", 1)[1])


def _render(garment: bytes) -> bytes:
    image = local_render.try_on((864, 1296), garment, 11, "auto", local_render.PortraitSpec("FEMALE", "athletic"))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _is(garment: bytes, handle: str) -> bool:
    """Is this the product photo of `handle`? (its centre is the garment's colour)"""
    image = Image.open(io.BytesIO(garment)).convert("RGB")
    w, h = image.size
    mean = ImageStat.Stat(image.crop((w * 2 // 5, h * 2 // 5, w * 3 // 5, h * 3 // 5))).mean
    colour = seed_product(handle).looks[0].color
    return sum(abs(a - b) for a, b in zip(mean, colour)) < 60


class Upstreams:
    """FASHN and fal.ai as `responses` callbacks, counting what they were asked."""

    def __init__(self, rsps: responses.RequestsMock, failing_handle: str) -> None:
        self.ids = itertools.count(1)
        self.results: dict[str, bytes] = {}
        self.fashn_runs: list[str] = []
        self.fal_submits: list[str] = []
        self.failing_handle = failing_handle
        rsps.add_callback(responses.POST, f"{FASHN}/run", callback=self.fashn_run)
        rsps.add_callback(responses.GET, re.compile(rf"{re.escape(FASHN)}/status/.+"), callback=self.fashn_status)
        rsps.add_callback(responses.POST, f"{FAL_QUEUE}/{FAL_APP}", callback=self.fal_submit)
        rsps.add_callback(responses.GET, re.compile(rf"{re.escape(FAL_QUEUE)}/fal-ai/fashn/requests/[^/]+/status"),
                          callback=self.fal_status)
        rsps.add_callback(responses.GET, re.compile(rf"{re.escape(FAL_QUEUE)}/fal-ai/fashn/requests/[^/]+$"),
                          callback=self.fal_result)
        rsps.add_callback(responses.GET, re.compile(rf"({re.escape(CDN)}|{re.escape(FAL_CDN)})/.+"),
                          callback=self.cdn)

    def fashn_run(self, request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        garment = _garment_from(body["inputs"]["garment_image"])
        if _is(garment, self.failing_handle):
            self.fashn_runs.append("500")
            return 500, {}, json.dumps({"id": None, "error": {"name": "InternalServerError", "message": "overloaded"}})
        upstream = f"fashn-{next(self.ids)}"
        self.fashn_runs.append(upstream)
        self.results[upstream] = _render(garment)
        return 200, {}, json.dumps({"id": upstream, "error": None})

    def fashn_status(self, request: Any) -> tuple[int, dict[str, str], str]:
        upstream = request.url.rsplit("/", 1)[-1]
        return 200, {}, json.dumps({"id": upstream, "status": "completed",
                                    "output": [f"{CDN}/{upstream}/output_0.png"], "error": None})

    def fal_submit(self, request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        garment = _garment_from(body["garment_image"])
        upstream = f"fal-{next(self.ids)}"
        self.fal_submits.append(upstream)
        self.results[upstream] = _render(garment)
        base = f"{FAL_QUEUE}/fal-ai/fashn/requests/{upstream}"
        return 200, {}, json.dumps({"request_id": upstream, "response_url": base, "status_url": f"{base}/status",
                                    "cancel_url": f"{base}/cancel", "queue_position": 0})

    def fal_status(self, request: Any) -> tuple[int, dict[str, str], str]:
        upstream = request.url.rsplit("/", 2)[-2]
        return 200, {}, json.dumps({"status": "COMPLETED", "response_url": f"{FAL_QUEUE}/fal-ai/fashn/requests/{upstream}",
                                    "logs": None, "metrics": {"inference_time": 7.42}})

    def fal_result(self, request: Any) -> tuple[int, dict[str, str], str]:
        upstream = request.url.rsplit("/", 1)[-1]
        return 200, {}, json.dumps({"images": [{"url": f"{FAL_CDN}/{upstream}_output_0.png", "width": 864,
                                                "height": 1296, "content_type": "image/png",
                                                "file_name": "output_0.png", "file_size": 1}]})

    def cdn(self, request: Any) -> tuple[int, dict[str, str], bytes]:
        name = request.url.rsplit("/", 2)
        upstream = name[-2] if request.url.startswith(CDN) else name[-1].split("_output_")[0]
        return 200, {"Content-Type": "image/png"}, self.results[upstream]


def test_remote_provider_with_fallback_end_to_end(
    studio: Studio, ready_model, provider_settings, mocked_responses: responses.RequestsMock,  # noqa: ANN001
) -> None:
    studio.settings = provider_settings
    remote = GenerationModel(
        name="FASHN try-on", provider="fashn", provider_config={"poll_interval_seconds": 1.0},
        provider_capabilities=["model_generation", "try_on"], tool_types=["TRY_ON"],
        fallback_provider="fal_standard",
        fallback_provider_config={"fal_app_id": FAL_APP, "poll_interval_seconds": 1.0},
        fallback_provider_capabilities=["try_on"],
    )
    studio.session.add(remote)
    studio.session.commit()
    model = ready_model()  # the catalog model itself comes from the built-in renderer
    upstreams = Upstreams(mocked_responses, failing_handle=HANDLES[2])
    products = studio.products()

    shoot = studio.create("catalog-shoot", catalog_model_id=model.id, product_ids=products,
                          image_model="FASHN try-on")
    studio.run()

    shoot = studio.job(shoot.id)
    assert shoot.status == "SUCCESS", shoot.error_message
    assert shoot.stage == "review" and shoot.credits_cost == 3
    # FASHN answered 500 three times for the dress (first try + two retries), then fal.ai ran it.
    assert upstreams.fashn_runs.count("500") == 3 and len(upstreams.fal_submits) == 1
    tasks = [t for t in studio.session.query(ProviderTask).all() if t.operation == "try-on"]
    assert sorted((t.provider, t.role, str(t.status)) for t in tasks) == sorted(
        [("fashn", "primary", "succeeded")] * 2 + [("fashn", "primary", "failed")] * 3
        + [("fal_standard", "fallback", "succeeded")])

    images = review.job_assets(studio.session, studio.shop, shoot.id)
    assert len(images) == 3 and all(a.held_reason is None for a in images), [a.eval_scores for a in images]
    for image in images:
        review.set_review(studio.session, studio.shop, image.id, ReviewState.APPROVED)
    push = review.publish_approved(studio.session, studio.shop, shoot.id)
    studio.session.commit()
    studio.run()
    assert studio.job(push.id).status == "SUCCESS"
    for product in products:
        media = studio.our_media(product)
        assert len(media) == 1 and media[0]["status"] == "READY"
    assert all(a.push_state == PushState.READY for a in review.job_assets(studio.session, studio.shop, shoot.id))

    undo = review.undo(studio.session, studio.shop, shoot.id)
    studio.session.commit()
    studio.run()
    assert studio.job(undo.id).status == "SUCCESS"
    assert all(studio.our_media(p) == [] for p in products)
    assert studio.ledger(LedgerKind.REFUND) == []
