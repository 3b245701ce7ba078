"""What the engine hands the provider runner, and what it keeps from it.

`runner()` builds the `ProviderRunner` with `request_from_job`, which turns a job into a
`ProviderRequest`; `remember_identity` keeps a trained identity on the catalog model;
`output_bytes` gets an output image's bytes. The steps that act on the runner's answers are
the engine's (`shopify_app.workflows.engine`: `start`, `poll`, `follow`).

`job.inputs` understood by `request_from_job` (the engine writes them in its start step):

    operation        "model-generation" | "try-on" (default: from the workflow)
    spec             seed 000 ModelGeneratorRequest fields (default: the job's CatalogModel)
    person_image     {"asset_id": …} | {"url": …}      (try-on)
    garment_image    {"asset_id": …} | {"url": …}      (try-on)
    reference_images [{"asset_id": …} | {"url": …}, …] (identity training)
    options          {width, height, aspect_ratio, num_images, seed, category, prompt}
    on_technical_failure  "fallback" (default) | "retry" | "fail"
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy.orm import Session

from shopify_app.models import Asset, CatalogModel, GenerationJob, Workflow
from shopify_app.providers.base import (
    ConfigurationError,
    GenerationOptions,
    Identity,
    ImageInput,
    ModelSpec,
    Operation,
    OutputImage,
)
from shopify_app.providers.runner import Advance, ProviderRequest, ProviderRunner
from shopify_app.settings import Settings


def _settings() -> Settings:
    return current_app.config["STUDIO_SETTINGS"]  # type: ignore[no-any-return]


def runner() -> ProviderRunner:
    return ProviderRunner(_settings(), request_from_job)


def output_bytes(output: OutputImage, settings: Settings) -> bytes:
    """An output's bytes: in hand, or downloaded with the SSRF-safe fetcher (never with a
    provider's credentials)."""
    if output.data is not None:
        return output.data
    from shopify_app.images.fetch import fetch_image

    assert output.url is not None
    return fetch_image(output.url, settings).content


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


def find_asset(session: Session, asset_id: str) -> Asset | None:
    """The Asset with this id: one the step stored and has not flushed yet (`store_image(...,
    flush=False)`: not in the identity map, not in the database), else `session.get`."""
    for pending in session.new:
        if isinstance(pending, Asset) and pending.id == asset_id:
            return pending
    return session.get(Asset, asset_id)


def _image(session: Session, job: GenerationJob, ref: Any) -> ImageInput:
    if not isinstance(ref, dict):
        raise ConfigurationError("an image input is missing", code="missing_image")
    if ref.get("asset_id"):
        asset = find_asset(session, ref["asset_id"])
        if asset is None or asset.shop_id != job.shop_id:
            raise ConfigurationError("an input image no longer exists", code="missing_asset")
        from shopify_app.images.storage import MEDIA_TYPES, get_storage

        data = get_storage(_settings()).read(asset.storage_key)
        content_type = MEDIA_TYPES.get(str(asset.format).lower(), "image/jpeg")
        return ImageInput(data=data, content_type=content_type, filename=f"{asset.id}")
    if ref.get("url"):
        return ImageInput(url=str(ref["url"]), content_type=str(ref.get("content_type") or "image/jpeg"))
    raise ConfigurationError("an image input needs an asset_id or a url", code="missing_image")
