"""The runner driven by the workflow engine's steps: submit → scheduled polls → outputs,
retries, fallback.

Two real adapters are driven end to end through `responses`: FASHN as the primary and fal.ai as
the fallback (and PhotoGPT for a scheduled 5-minute training poll). Jobs start with the engine's
first step (`jobs.workflows:start`, as `service.create_job` schedules it) and run on an
in-process RQ worker (`tests.support.worker.drain`), scheduled polls included.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import responses
from flask import Flask
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from shopify_app import credits
from shopify_app.images.fetch import SafeFetcher
from shopify_app.images.storage import store_image
from shopify_app.models import (
    Asset,
    CatalogModel,
    GenerationJob,
    GenerationModel,
    JobStatus,
    ProviderTask,
    ProviderTaskStatus,
    Shop,
)
from shopify_app.models.enums import AssetKind, CatalogModelStatus, Gender
from shopify_app.providers.runner import AdvanceKind, ProviderRunner
from shopify_app.queues import get_broker
from shopify_app.steps import schedule_step
from shopify_app.workflows.engine import START_STEP
from shopify_app.workflows.provider_io import request_from_job
from tests.providers.conftest import FAL_URL, FASHN_URL, PHOTOGPT_URL, STUDIO_URL, fixture, png_bytes
from tests.support.worker import drain

FID = "123a87r9-4129-4bb3-be18-9c9fb5bd7fc1-u1"
FAL_REQ = f"{FAL_URL}/fal-ai/fashn/requests/764cabcf-b745-4b3e-ae38-1200304cf45b"
FAL_OUTPUT = "https://v3.fal.media/files/penguin/Wk2yYkm2oG_output_0.png"
GARMENT_URL = "https://cdn.shop.test/dress.jpg"
TRY_ON_INPUTS = {
    "operation": "try-on",
    "person_image": {"url": "https://cdn.shop.test/model.jpg"},
    "garment_image": {"url": "https://cdn.shop.test/dress.jpg"},
}


class PublicResolver:
    """Every name resolves to one public address (no DNS in tests)."""

    def __call__(self, host: str, port: int) -> list[str]:
        return ["93.184.216.34"]


@pytest.fixture(autouse=True)
def _no_dns_for_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        SafeFetcher, "from_settings",
        classmethod(lambda cls, settings, **kw: cls(allowed_hosts=(), resolver=PublicResolver(), **kw)),
    )


def create_job(
    session: Any,
    *,
    provider: str = "fashn",
    config: dict[str, Any] | None = None,
    fallback: str | None = "fal_standard",
    fallback_config: dict[str, Any] | None = None,
    workflow: str = "try-on",
    inputs: dict[str, Any] | None = None,
    catalog_model: bool = False,
) -> GenerationJob:
    """A charged job for the runner itself (no step scheduled)."""
    shop = Shop(domain=f"runner-{time.monotonic_ns()}.myshopify.com")
    session.add(shop)
    session.flush()
    model = GenerationModel(
        name="Try-on", provider=provider, provider_config=config or {},
        fallback_provider=fallback,
        fallback_provider_config=fallback_config if fallback_config is not None else {"fal_app_id": "fal-ai/fashn/tryon/v1.6"},
        tool_types=[],
    )
    session.add(model)
    session.flush()
    cm = None
    if catalog_model:
        cm = _catalog_model(session, shop.id)
    credits.grant(session, shop.id, 10, "test grant")
    job = GenerationJob(
        shop_id=shop.id, workflow=workflow, generation_model_id=model.id,
        inputs=inputs if inputs is not None else dict(TRY_ON_INPUTS),
        catalog_model_id=cm.id if cm else None,
    )
    session.add(job)
    session.flush()
    credits.charge(session, job, 1)
    session.commit()
    return job


def start_try_on(session: Any, rsps: responses.RequestsMock, on_technical_failure: str | None = None) -> GenerationJob:
    """A charged try-on job started by the engine's first step, as `service.create_job` does:
    a ready catalog model with a portrait, and a garment image the start step downloads."""
    rsps.get(GARMENT_URL, body=png_bytes((20, 120, 40)), content_type="image/png")
    inputs: dict[str, Any] = {"garment_image_url": GARMENT_URL, "num_images": 1}
    if on_technical_failure is not None:
        inputs["on_technical_failure"] = on_technical_failure
    job = create_job(session, inputs=inputs, catalog_model=True)
    cm = session.get(CatalogModel, job.catalog_model_id)
    cm.status = CatalogModelStatus.READY
    store_image(session, job.shop_id, AssetKind.PORTRAIT, png_bytes((180, 160, 150)), catalog_model_id=cm.id)
    schedule_step(session, job, START_STEP, "generation")
    session.commit()
    return job


def reload(session: Any, job_id: str) -> tuple[GenerationJob, list[ProviderTask]]:
    session.expire_all()
    job = session.get(GenerationJob, job_id)
    tasks = ProviderRunner.tasks(session, job)
    return job, tasks


def fal_succeeds(rsps: responses.RequestsMock) -> responses.BaseResponse:
    submit = rsps.post(f"{FAL_URL}/fal-ai/fashn/tryon/v1.6", json=fixture("fal_standard", "submit"))
    rsps.get(f"{FAL_REQ}/status", json=fixture("fal_standard", "status_in_progress"))
    rsps.get(f"{FAL_REQ}/status", json=fixture("fal_standard", "status_completed"))
    rsps.get(FAL_REQ, json=fixture("fal_standard", "result"))
    rsps.get(FAL_OUTPUT, body=png_bytes((10, 120, 60), (864, 1296)), content_type="image/png")
    return submit


# ------------------------------------------------------------------------------ fallback


def test_pipeline_errors_retry_then_fall_back(app: Flask, session: Any, mocked_responses: responses.RequestsMock) -> None:
    run = mocked_responses.post(f"{FASHN_URL}/run", json=fixture("fashn", "run"))
    mocked_responses.get(f"{FASHN_URL}/status/{FID}", json=fixture("fashn", "status_failed_pipeline"))
    fal_submit = fal_succeeds(mocked_responses)
    job = start_try_on(session, mocked_responses)

    drain(app, include_future=True)

    job, tasks = reload(session, job.id)
    assert job.status == JobStatus.SUCCESS, (job.error_code, job.error_message)
    assert run.call_count == 3  # attempt 1 + 2 retries on the primary
    assert fal_submit.call_count == 1
    assert [(t.provider, t.role, t.attempt, t.status) for t in tasks] == [
        ("fashn", "primary", 1, ProviderTaskStatus.FAILED),
        ("fashn", "primary", 2, ProviderTaskStatus.FAILED),
        ("fashn", "primary", 3, ProviderTaskStatus.FAILED),
        ("fal_standard", "fallback", 1, ProviderTaskStatus.SUCCEEDED),
    ]
    assert all(t.error_kind == "technical" for t in tasks[:3])
    assert tasks[3].upstream_id == "764cabcf-b745-4b3e-ae38-1200304cf45b"
    assert job.attempts == 4
    [garment] = session.scalars(select(Asset).where(Asset.job_id == job.id, Asset.kind == AssetKind.GARMENT)).all()
    [asset] = session.scalars(select(Asset).where(Asset.job_id == job.id, Asset.kind == AssetKind.TRY_ON)).all()
    assert garment.id == job.inputs["garment_asset_id"]  # the start step stored the garment it sent
    assert asset.kind == AssetKind.TRY_ON and (asset.width, asset.height) == (864, 1296)
    assert job.outputs["asset_ids"] == [asset.id]
    assert job.credits_refunded == 0
    # What support sees of each attempt carries no key.
    summaries = json.dumps([t.request_summary for t in tasks] + [t.response_summary for t in tasks])
    assert "test-key" not in summaries


def test_primary_5xx_on_submit_falls_back(app: Flask, session: Any, mocked_responses: responses.RequestsMock) -> None:
    run = mocked_responses.post(f"{FASHN_URL}/run", status=503, json=fixture("fashn", "error_500"))
    fal_succeeds(mocked_responses)
    job = start_try_on(session, mocked_responses)

    drain(app, include_future=True)

    job, tasks = reload(session, job.id)
    assert job.status == JobStatus.SUCCESS
    assert run.call_count == 3
    assert [t.role for t in tasks] == ["primary", "primary", "primary", "fallback"]
    assert tasks[0].upstream_id is None and tasks[0].error_message.startswith("fashn failed with 503")


def test_content_error_never_falls_back(app: Flask, session: Any, mocked_responses: responses.RequestsMock) -> None:
    run = mocked_responses.post(f"{FASHN_URL}/run", json=fixture("fashn", "run"))
    mocked_responses.get(f"{FASHN_URL}/status/{FID}", json=fixture("fashn", "status_failed_pose"))
    fal_submit = fal_succeeds(mocked_responses)
    job = start_try_on(session, mocked_responses)

    drain(app, include_future=True)

    job, tasks = reload(session, job.id)
    assert job.status == JobStatus.FAILURE
    assert job.error_code == "provider_content"
    assert "pose" in job.error_message.lower()
    assert run.call_count == 1 and fal_submit.call_count == 0
    assert len(tasks) == 1 and tasks[0].error_kind == "content"
    assert job.credits_refunded == 1
    assert credits.balance(session, job.shop_id) == 10


def test_configuration_error_fails_fast(app: Flask, session: Any, mocked_responses: responses.RequestsMock) -> None:
    run = mocked_responses.post(f"{FASHN_URL}/run", status=401, json=fixture("fashn", "error_401"))
    fal_submit = fal_succeeds(mocked_responses)
    job = start_try_on(session, mocked_responses)

    drain(app, include_future=True)

    job, tasks = reload(session, job.id)
    assert job.status == JobStatus.FAILURE and job.error_code == "provider_configuration"
    assert run.call_count == 1 and fal_submit.call_count == 0
    assert "PROVIDER_FASHN_KEY" in job.error_message


def test_on_technical_failure_fail_means_no_retry_no_fallback(app: Flask, session: Any, mocked_responses: responses.RequestsMock) -> None:
    run = mocked_responses.post(f"{FASHN_URL}/run", status=500, json=fixture("fashn", "error_500"))
    fal_submit = fal_succeeds(mocked_responses)
    job = start_try_on(session, mocked_responses, on_technical_failure="fail")

    drain(app, include_future=True)

    job, _ = reload(session, job.id)
    assert job.status == JobStatus.FAILURE and job.error_code == "provider_technical"
    assert run.call_count == 1 and fal_submit.call_count == 0
    assert job.credits_refunded == 1


def test_on_technical_failure_retry_never_falls_back(app: Flask, session: Any, mocked_responses: responses.RequestsMock) -> None:
    run = mocked_responses.post(f"{FASHN_URL}/run", status=500, json=fixture("fashn", "error_500"))
    fal_submit = fal_succeeds(mocked_responses)
    job = start_try_on(session, mocked_responses, on_technical_failure="retry")

    drain(app, include_future=True)

    job, _ = reload(session, job.id)
    assert job.status == JobStatus.FAILURE
    assert run.call_count == 3 and fal_submit.call_count == 0


def test_fallback_failing_too_fails_the_job_once(app: Flask, session: Any, mocked_responses: responses.RequestsMock) -> None:
    mocked_responses.post(f"{FASHN_URL}/run", status=500, json=fixture("fashn", "error_500"))
    fal_submit = mocked_responses.post(f"{FAL_URL}/fal-ai/fashn/tryon/v1.6", status=502, body="bad gateway")
    job = start_try_on(session, mocked_responses)

    drain(app, include_future=True)

    job, tasks = reload(session, job.id)
    assert job.status == JobStatus.FAILURE
    assert fal_submit.call_count == 3  # the fallback gets its own retries
    assert [t.role for t in tasks].count("fallback") == 3
    assert job.credits_refunded == 1


def test_quota_backs_off_by_retry_after(app: Flask, session: Any, mocked_responses: responses.RequestsMock) -> None:
    job = create_job(session)
    mocked_responses.post(f"{FASHN_URL}/run", status=429, headers={"Retry-After": "42"}, json=fixture("fashn", "error_429_rate_limit"))
    runner = ProviderRunner(app.config["STUDIO_SETTINGS"], _loader())
    advance = runner.start(session, job)
    assert advance.kind is AdvanceKind.POLL and advance.delay == 42
    assert advance.error is not None and advance.error.kind == "quota"


def test_poll_failures_are_rescheduled_not_task_failures(app: Flask, session: Any, mocked_responses: responses.RequestsMock) -> None:
    job = create_job(session)
    mocked_responses.post(f"{FASHN_URL}/run", json=fixture("fashn", "run"))
    status = mocked_responses.get(f"{FASHN_URL}/status/{FID}", status=503, body="busy")
    runner = ProviderRunner(app.config["STUDIO_SETTINGS"], _loader())
    runner.start(session, job)
    delays = [runner.advance(session, job).delay for _ in range(4)]
    assert delays == [5.0, 10.0, 20.0, 40.0]
    task = runner.current_task(session, job)
    assert task is not None and task.status == ProviderTaskStatus.QUEUED
    assert status.call_count == 8  # each GET tried twice (idempotent), never a resubmit
    final = runner.advance(session, job)  # the fifth failure in a row fails the task → retry
    assert final.error is not None and final.task is not None and final.task.status == ProviderTaskStatus.FAILED


# ------------------------------------------------------------------------------ idempotency


def _loader():  # type: ignore[no-untyped-def]
    return request_from_job


def test_a_submitted_task_is_polled_never_resubmitted(app: Flask, session: Any, mocked_responses: responses.RequestsMock) -> None:
    job = create_job(session)
    run = mocked_responses.post(f"{FASHN_URL}/run", json=fixture("fashn", "run"))
    status = mocked_responses.get(f"{FASHN_URL}/status/{FID}", json=fixture("fashn", "status_processing"))
    runner = ProviderRunner(app.config["STUDIO_SETTINGS"], _loader())
    runner.start(session, job)
    session.commit()
    # The submit step runs again (a duplicate message, a retried RQ job): it polls instead.
    again = runner.start(session, job)
    assert again.kind is AdvanceKind.POLL
    assert run.call_count == 1 and status.call_count == 1
    assert len(runner.tasks(session, job)) == 1


def test_an_unrecorded_submit_is_resent_with_the_same_idempotency_key(app: Flask, session: Any, mocked_responses: responses.RequestsMock) -> None:
    job = create_job(
        session, provider="studio", config={"base_url": STUDIO_URL}, fallback=None, workflow="model-generator",
        inputs={"operation": "model-generation"}, catalog_model=True,
    )
    # A crash after the row was written but before the upstream id was recorded.
    session.add(ProviderTask(job_id=job.id, provider="studio", role="primary", operation="model-generation", attempt=1))
    session.commit()
    post = mocked_responses.post(f"{STUDIO_URL}/v1/model-generator", status=202, json=fixture("studio", "accepted"))
    runner = ProviderRunner(app.config["STUDIO_SETTINGS"], _loader())
    advance = runner.advance(session, job)
    assert advance.kind is AdvanceKind.POLL
    assert post.calls[0].request.headers["Idempotency-Key"] == f"{job.id}:primary:1"
    assert json.loads(post.calls[0].request.body)["ethnicity"] == "south asian"  # from the catalog model
    [task] = runner.tasks(session, job)
    assert task.upstream_id == "01JDQ8W6X3M4N5P6Q7R8S9T0VA"


# ------------------------------------------------------------------------------ scheduled training


def test_photogpt_training_is_polled_every_five_minutes_without_a_worker(app: Flask, session: Any, mocked_responses: responses.RequestsMock) -> None:
    shop_job = create_job(session)  # a shop to own the reference photos
    refs = []
    for i in range(12):
        asset = store_image(session, shop_job.shop_id, "portrait", png_bytes((i * 10, 80, 90), (64, 96)))
        refs.append({"asset_id": asset.id})
    session.commit()
    job = GenerationJob(
        shop_id=shop_job.shop_id, workflow="model-generator",
        generation_model_id=_model(session, "photogpt").id,
        catalog_model_id=_catalog_model(session, shop_job.shop_id).id,
        inputs={"operation": "model-generation", "reference_images": refs},
    )
    session.add(job)
    session.flush()
    schedule_step(session, job, START_STEP, "generation")
    session.commit()

    MID = "mdl_5f2b9c1e"
    mocked_responses.post(f"{PHOTOGPT_URL}/models", json=fixture("photogpt", "create_model"))
    upload = mocked_responses.post(f"{PHOTOGPT_URL}/images/upload", json=fixture("photogpt", "upload"))
    mocked_responses.get(f"{PHOTOGPT_URL}/models/{MID}/train", json=fixture("photogpt", "train"))
    model_polls = mocked_responses.get(f"{PHOTOGPT_URL}/models/{MID}", json=fixture("photogpt", "model_training"))

    drain(app)  # due jobs only: the submit runs, the first poll waits 5 minutes
    assert upload.call_count == 12 and model_polls.call_count == 0
    registry = ScheduledJobRegistry(queue=get_broker(app).queue("generation"))
    [scheduled] = registry.get_job_ids()
    delay = registry.get_scheduled_time(scheduled).timestamp() - time.time()
    assert 280 < delay <= 300

    mocked_responses.replace(responses.GET, f"{PHOTOGPT_URL}/models/{MID}", json=fixture("photogpt", "model_ready"))
    mocked_responses.post(f"{PHOTOGPT_URL}/images/generation", json=fixture("photogpt", "generation"))
    mocked_responses.get(f"{PHOTOGPT_URL}/jobs/job_123", json=fixture("photogpt", "job_success"))
    mocked_responses.get("https://cdn.photogptai.com/outputs/image_123.jpg", body=png_bytes((1, 2, 3), (1024, 1536)), content_type="image/png")

    drain(app, include_future=True)

    session.expire_all()
    job = session.get(GenerationJob, job.id)
    assert job.status == JobStatus.SUCCESS, job.error_message
    cm = session.get(CatalogModel, job.catalog_model_id)
    assert cm.provider == "photogpt" and cm.provider_model_id == MID  # the identity is kept
    [portrait] = session.scalars(select(Asset).where(Asset.job_id == job.id)).all()
    assert portrait.kind == AssetKind.PORTRAIT and portrait.catalog_model_id == cm.id


def _model(session: Any, provider: str) -> GenerationModel:
    model = GenerationModel(name=provider, provider=provider, provider_config={}, tool_types=[])
    session.add(model)
    session.flush()
    return model


def _catalog_model(session: Any, shop_id: str) -> CatalogModel:
    cm = CatalogModel(shop_id=shop_id, display_name="Asha", gender=Gender.FEMALE, ethnicity="south asian",
                      body_type="athletic", age_range="25-34")
    session.add(cm)
    session.flush()
    return cm


def test_a_step_reads_the_attempts_and_generation_model_once_per_transaction(
    app: Flask, session: Any, mocked_responses: responses.RequestsMock
) -> None:
    from sqlalchemy import event

    job = create_job(session)
    session.commit()
    mocked_responses.post(f"{FASHN_URL}/run", json=fixture("fashn", "run"))
    mocked_responses.get(f"{FASHN_URL}/status/{FID}", json=fixture("fashn", "status_processing"))
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        runner = ProviderRunner(app.config["STUDIO_SETTINGS"], _loader())
        runner.start(session, job)
        runner.advance(session, job)
        runner.advance(session, job)
        selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        assert sum("FROM provider_tasks" in s for s in selects) == 1
        assert sum("FROM generation_models" in s for s in selects) == 1
        session.commit()  # the next transaction asks the database again
        statements.clear()
        assert runner.current_task(session, job) is not None
        assert sum("FROM provider_tasks" in s for s in statements) == 1
    finally:
        event.remove(engine, "before_cursor_execute", record)
