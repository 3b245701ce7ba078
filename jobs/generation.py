"""RQ steps that drive a job's provider work: submit → scheduled polls → outputs.

Each step takes the job id, claims the row (`steps.claim`, which turns late or duplicate messages
into no-ops), does ONE thing through `ProviderRunner`, and schedules the next step with a delay
(`steps.schedule_step`), so a 25-minute PhotoGPT training is a handful of short jobs five
minutes apart, never a worker asleep.

The seam with the workflow engine (issue 5): when a task's outputs are ready, `deliver_outputs`
calls `shopify_app.workflows.engine.on_outputs_ready(session, job, outputs)` if that function
exists (the engine then stores, evaluates and decides what comes next). Without an engine it
stores the outputs as `Asset` rows itself (`store_outputs`) and finishes the job.

`job.inputs` understood by `request_from_job` (the engine may pass its own loader instead):

    operation        "model-generation" | "try-on" (default: from the workflow)
    spec             seed 000 ModelGeneratorRequest fields (default: the job's CatalogModel)
    person_image     {"asset_id": …} | {"url": …}      (try-on)
    garment_image    {"asset_id": …} | {"url": …}      (try-on)
    reference_images [{"asset_id": …} | {"url": …}, …] (identity training)
    options          {width, height, aspect_ratio, num_images, seed, category, prompt}
    on_technical_failure  "fallback" (default) | "retry" | "fail"
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
from collections.abc import Callable
from typing import Any

from flask import current_app
from sqlalchemy.orm import Session

from jobs.runtime import current_rq_job_id, studio_job
from shopify_app import db
from shopify_app.models import Asset, CatalogModel, GenerationJob, JobStatus, Workflow, utcnow
from shopify_app.models.enums import AssetKind
from shopify_app.providers.base import (
    ConfigurationError,
    GenerationOptions,
    Identity,
    ImageInput,
    ModelSpec,
    Operation,
    OutputImage,
    ProviderError,
)
from shopify_app.providers.runner import Advance, AdvanceKind, ProviderRequest, ProviderRunner
from shopify_app.settings import Settings
from shopify_app.steps import claim, fail_job, finish_job, schedule_step

log = logging.getLogger(__name__)

QUEUE = "generation"
POLL_STEP = "jobs.generation:poll"
OUTPUT_FETCH_RETRIES = 3


def _settings() -> Settings:
    return current_app.config["STUDIO_SETTINGS"]  # type: ignore[no-any-return]


def runner() -> ProviderRunner:
    return ProviderRunner(_settings(), request_from_job)


# ---------------------------------------------------------------------------- steps


@studio_job
def submit(job_id: str) -> None:
    """Submit the job's provider task (primary provider)."""
    session = db.session()
    job = claim(session, job_id, current_rq_job_id())
    if job is None:
        return
    if job.status == JobStatus.NOT_STARTED:
        job.status = JobStatus.IN_PROGRESS
        job.started_at = job.started_at or utcnow()
    job.stage = "submitting"
    try:
        advance = runner().start(session, job)
    except ProviderError as exc:  # e.g. no generation model, inputs that cannot be loaded
        fail_job(session, job, f"provider_{exc.kind}", exc.message)
        return
    follow(session, job, advance)


@studio_job
def poll(job_id: str) -> None:
    """Look at the job's current provider task once and schedule what comes next."""
    session = db.session()
    job = claim(session, job_id, current_rq_job_id())
    if job is None:
        return
    try:
        advance = runner().advance(session, job)
    except ProviderError as exc:
        fail_job(session, job, f"provider_{exc.kind}", exc.message)
        return
    follow(session, job, advance)


def follow(session: Session, job: GenerationJob, advance: Advance) -> None:
    """Act on what the runner said: schedule a poll, deliver outputs, or fail the job."""
    if advance.identity is not None:
        remember_identity(session, job, advance)
    if advance.kind is AdvanceKind.POLL:
        job.stage = "training" if (advance.task and (advance.task.state or {}).get("phase") == "training") else "generating"
        if advance.progress is not None:
            job.progress = max(job.progress or 0, min(95, advance.progress))
        schedule_step(session, job, POLL_STEP, QUEUE, delay=dt.timedelta(seconds=max(0.0, advance.delay)))
        return
    if advance.kind is AdvanceKind.FAILED:
        error = advance.error
        kind = str(error.kind) if error else "technical"
        fail_job(session, job, f"provider_{kind}", error.message if error else "the provider failed")
        return
    try:
        outputs = runner().fetch_outputs(session, job)
    except ProviderError as exc:
        task = advance.task
        tries = int((task.state or {}).get("fetch_errors", 0)) + 1 if task else OUTPUT_FETCH_RETRIES
        if exc.retryable and task is not None and tries < OUTPUT_FETCH_RETRIES:
            task.state = {**(task.state or {}), "fetch_errors": tries}
            schedule_step(session, job, POLL_STEP, QUEUE, delay=dt.timedelta(seconds=5 * tries))
            return
        fail_job(session, job, f"provider_{exc.kind}", exc.message)
        return
    deliver_outputs(session, job, outputs)


# ---------------------------------------------------------------------------- seams


def _engine_hook() -> Callable[[Session, GenerationJob, list[OutputImage]], None] | None:
    try:
        engine = importlib.import_module("shopify_app.workflows.engine")
    except ModuleNotFoundError as exc:
        if exc.name != "shopify_app.workflows.engine":
            raise  # the engine exists but is broken: say so, do not silently bypass it
        return None
    return getattr(engine, "on_outputs_ready", None)


def deliver_outputs(session: Session, job: GenerationJob, outputs: list[OutputImage]) -> None:
    hook = _engine_hook()
    if hook is not None:
        hook(session, job, outputs)
        return
    from shopify_app.images.errors import ImageIntakeError

    try:
        store_outputs(session, job, outputs)
    except ImageIntakeError as exc:
        # The provider said it succeeded but its image is unusable (or unreachable/unsafe).
        fail_job(session, job, "provider_output_invalid", str(exc))
        return
    finish_job(job)


def output_bytes(output: OutputImage, settings: Settings) -> bytes:
    """An output's bytes: in hand, or downloaded with the SSRF-safe fetcher (never with a
    provider's credentials)."""
    if output.data is not None:
        return output.data
    from shopify_app.images.fetch import fetch_image

    assert output.url is not None
    return fetch_image(output.url, settings).content


def store_outputs(session: Session, job: GenerationJob, outputs: list[OutputImage]) -> list[Asset]:
    """Download (SSRF-safe), validate, normalise and store each output as an `Asset`
    (`shopify_app.images.storage.store_image`: the one path every image takes)."""
    from shopify_app.images.storage import store_image

    settings = _settings()
    kind = AssetKind.PORTRAIT if job.workflow == Workflow.MODEL_GENERATOR else AssetKind.TRY_ON
    assets = []
    for output in outputs:
        asset = store_image(
            session, job.shop_id, kind, output_bytes(output, settings),
            job_id=job.id, catalog_model_id=job.catalog_model_id, settings=settings,
        )
        assets.append(asset)
    job.outputs = {**(job.outputs or {}), "asset_ids": [a.id for a in assets]}
    return assets


def remember_identity(session: Session, job: GenerationJob, advance: Advance) -> None:
    """Keep a trained identity on the catalog model so the rest of the catalog reuses it."""
    identity = advance.identity
    if identity is None or job.catalog_model_id is None or advance.task is None:
        return
    model = session.get(CatalogModel, job.catalog_model_id)
    if model is None or model.shop_id != job.shop_id:
        return
    model.provider = advance.task.provider
    model.provider_model_id = identity.provider_model_id
    model.trigger_word = identity.trigger_word or model.trigger_word
    model.provider_state = {**(model.provider_state or {}), "identity": identity.to_dict()}


# ---------------------------------------------------------------------------- inputs


def request_from_job(session: Session, job: GenerationJob) -> ProviderRequest:
    inputs: dict[str, Any] = dict(job.inputs or {})
    operation = Operation(
        inputs.get("operation")
        or (Operation.MODEL_GENERATION if job.workflow == Workflow.MODEL_GENERATOR else Operation.TRY_ON)
    )
    options_in = dict(inputs.get("options") or {})
    catalog_model = session.get(CatalogModel, job.catalog_model_id) if job.catalog_model_id else None
    if catalog_model is not None and catalog_model.shop_id != job.shop_id:
        catalog_model = None  # never another shop's model
    identity = None
    if catalog_model is not None:
        identity = Identity.from_dict((catalog_model.provider_state or {}).get("identity"))
    options = GenerationOptions(
        width=options_in.get("width"),
        height=options_in.get("height"),
        aspect_ratio=options_in.get("aspect_ratio"),
        num_images=int(options_in.get("num_images") or 1),
        seed=options_in.get("seed"),
        output_format=options_in.get("output_format") or "png",
        category=options_in.get("category") or "auto",
        prompt=options_in.get("prompt"),
        reference_images=tuple(_image(session, job, ref) for ref in inputs.get("reference_images") or ()),
        identity=identity,
    )
    spec = None
    if operation is Operation.MODEL_GENERATION:
        spec = _spec(inputs.get("spec"), catalog_model)
    person = garment = None
    if operation is Operation.TRY_ON:
        person = _image(session, job, inputs.get("person_image"))
        garment = _image(session, job, inputs.get("garment_image"))
    return ProviderRequest(operation=operation, spec=spec, person_image=person, garment_image=garment, options=options)


def _spec(raw: dict[str, Any] | None, model: CatalogModel | None) -> ModelSpec:
    if raw:
        return ModelSpec(
            gender=str(raw["gender"]),
            ethnicity=str(raw["ethnicity"]),
            body_type=str(raw["body_type"]),
            age_range=str(raw["age_range"]),
            display_name=str(raw.get("display_name") or ""),
            image_model=raw.get("image_model"),
            resolution=raw.get("resolution"),
            aspect_ratio=raw.get("aspect_ratio"),
            seed=raw.get("seed"),
            metadata=dict(raw.get("metadata") or {}),
            pilot_brand=raw.get("pilot_brand"),
        )
    if model is None:
        raise ConfigurationError("a model generation needs a spec or a catalog model", code="missing_spec")
    return ModelSpec(
        gender=str(model.gender),
        ethnicity=model.ethnicity,
        body_type=model.body_type,
        age_range=model.age_range,
        display_name=model.display_name,
        image_model=model.image_model,
        resolution=model.resolution,
        aspect_ratio=model.aspect_ratio,
        seed=model.seed,
        metadata=dict(model.extra or {}),
        pilot_brand=model.pilot_brand,
    )


def _image(session: Session, job: GenerationJob, ref: Any) -> ImageInput:
    if not isinstance(ref, dict):
        raise ConfigurationError("an image input is missing", code="missing_image")
    if ref.get("asset_id"):
        asset = session.get(Asset, ref["asset_id"])
        if asset is None or asset.shop_id != job.shop_id:
            raise ConfigurationError("an input image no longer exists", code="missing_asset")
        from shopify_app.images.storage import MEDIA_TYPES, get_storage

        data = get_storage(_settings()).read(asset.storage_key)
        content_type = MEDIA_TYPES.get(str(asset.format).lower(), "image/jpeg")
        return ImageInput(data=data, content_type=content_type, filename=f"{asset.id}")
    if ref.get("url"):
        return ImageInput(url=str(ref["url"]), content_type=str(ref.get("content_type") or "image/jpeg"))
    raise ConfigurationError("an image input needs an asset_id or a url", code="missing_image")
