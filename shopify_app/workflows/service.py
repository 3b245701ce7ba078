"""Creating a workflow job: choose the generation model, price it, charge it, schedule it.

`create_job` is the one way a GenerationJob comes into existence (the /v1 API, the embedded UI,
auto-shoot and the CLI all call it). It adds and flushes in the caller's transaction and never
commits: the charge and the job become durable together or not at all, and the first step is
enqueued only after that commit (`steps.schedule_step`).

Everything that can refuse the job (unknown catalog model, unknown image model, too few credits)
is checked before the first row is written, so on any of these exceptions the caller's session
holds nothing of the job.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Mapping
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shopify_app import credits
from shopify_app.models import (
    CatalogModel,
    CatalogModelStatus,
    Gender,
    GenerationJob,
    GenerationModel,
    JobStatus,
    Shop,
    Workflow,
    new_ulid,
)
from shopify_app.settings import Settings
from shopify_app.steps import schedule_step
from shopify_app.workflows.names import coin_unique_name

log = logging.getLogger(__name__)

# The seam between job creation and the workflow engine: the first step every job runs.
FIRST_STEP = "jobs.workflows:start"
FIRST_STEP_QUEUE = "generation"

# Which provider capability a workflow needs (seed 002 capability flags).
REQUIRED_CAPABILITY = {
    Workflow.MODEL_GENERATOR: "model_generation",
    Workflow.TRY_ON: "try_on",
    Workflow.CATALOG_SHOOT: "try_on",
}
DEFAULT_ON_TECHNICAL_FAILURE = "fallback"


class WorkflowRefused(Exception):
    """The job cannot be created as asked. `field` names the input at fault, if any."""

    status = 422

    def __init__(self, message: str, field: str | None = None, kind: str = "value_error"):
        super().__init__(message)
        self.message = message
        self.field = field
        self.kind = kind


class CatalogModelNotFound(WorkflowRefused):
    """No catalog model with that id in this shop (another shop's model is not found either)."""

    status = 404


class CatalogModelNotReady(WorkflowRefused):
    status = 409


class NoGenerationModel(WorkflowRefused):
    """The registry is empty: an operator must add a generation model (`flask studio seed`)."""

    status = 503


def create_job(
    session: Session,
    shop: Shop,
    workflow: str | Workflow,
    inputs: Mapping[str, Any],
    api_client_id: str | None = None,
    request_id: str | None = None,
) -> GenerationJob:
    """Create, charge and schedule one job; raises WorkflowRefused or credits.InsufficientCredits.

    `inputs` is the validated request (`schemas.*Request.model_dump(mode="json")`). The job's
    `inputs` keep it, with the generation model, `on_technical_failure` and `eval_enabled`
    resolved, so the engine never re-derives a default.
    """
    settings: Settings = current_app.config["STUDIO_SETTINGS"]
    workflow = Workflow(workflow)
    if workflow not in REQUIRED_CAPABILITY:
        raise WorkflowRefused(f"{workflow.value} jobs are not created through create_job")
    inputs = dict(inputs)

    generation_model = pick_generation_model(session, shop, inputs.get("image_model"), workflow)
    catalog_model: CatalogModel | None = None
    if workflow in (Workflow.TRY_ON, Workflow.CATALOG_SHOOT):
        catalog_model = _ready_catalog_model(session, shop, str(inputs["catalog_model_id"]))
    cost = price(settings, workflow, inputs, generation_model)
    # Refuse before writing anything: the lock taken here is the one `credits.charge` takes,
    # so on PostgreSQL no other charge can slip in between this check and the charge below.
    _check_balance(session, shop.id, cost)

    inputs["generation_model_id"] = str(generation_model.id)
    inputs["generation_model"] = generation_model.name
    inputs["on_technical_failure"] = inputs.get("on_technical_failure") or DEFAULT_ON_TECHNICAL_FAILURE
    if inputs.get("eval_enabled") is None:
        inputs["eval_enabled"] = True

    if workflow is Workflow.MODEL_GENERATOR:
        catalog_model = _new_catalog_model(session, shop, inputs, generation_model)
        inputs["display_name"] = catalog_model.display_name

    job = GenerationJob(
        id=new_ulid(),
        shop_id=shop.id,
        api_client_id=api_client_id,
        request_id=request_id,
        workflow=workflow.value,
        status=JobStatus.NOT_STARTED,
        stage="queued",
        progress=0,
        inputs=inputs,
        outputs={},
        catalog_model_id=catalog_model.id if catalog_model else None,
        generation_model_id=generation_model.id,
        shopify_product_id=inputs.get("product_id") if workflow is Workflow.TRY_ON else None,
    )
    session.add(job)
    # No relationship ties the ledger row to the job, so the job row is flushed first (FK).
    session.flush()
    credits.charge(session, job, cost, reason=f"{workflow.value} job {job.id}")
    schedule_step(session, job, FIRST_STEP, FIRST_STEP_QUEUE)
    log.info("created %s job %s for %s credits", workflow.value, job.id, cost)
    return job


# ----------------------------------------------------------------------------- pricing


def units(workflow: Workflow, inputs: Mapping[str, Any]) -> int:
    """How many priced units a request asks for: images for try-on, images × products for a shoot."""
    if workflow is Workflow.TRY_ON:
        return int(inputs.get("num_images") or 1)
    if workflow is Workflow.CATALOG_SHOOT:
        return len(inputs.get("product_ids") or ()) * int(inputs.get("num_images") or 1)
    return 1


def credit_multiplier(generation_model: GenerationModel) -> float:
    raw = generation_model.credit_multiplier
    multiplier = 1.0 if raw is None else float(raw)
    if not math.isfinite(multiplier) or multiplier < 0:
        log.warning("generation model %s has an invalid credit_multiplier %r; using 1",
                    generation_model.name, raw)
        return 1.0
    return multiplier


def price(
    settings: Settings, workflow: Workflow, inputs: Mapping[str, Any], generation_model: GenerationModel
) -> int:
    """Credits for a request: the workflow's unit price × units × the model's multiplier, rounded up."""
    unit_price = int(settings.credit_prices.get(workflow.value, 0))
    raw = unit_price * units(workflow, inputs) * credit_multiplier(generation_model)
    # round() first: 3 × 1.1 is 3.3000000000000003, which must still cost 4, not 5.
    return max(0, math.ceil(round(raw, 6)))


# ----------------------------------------------------------------------------- lookups


def pick_generation_model(
    session: Session, shop: Shop, requested: str | None, workflow: Workflow
) -> GenerationModel:
    """The requested model (by name or id), else the shop's default, else the recommended one."""
    model: GenerationModel | None = None
    if requested:
        model = _generation_model_by_name_or_id(session, requested)
        if model is None:
            raise WorkflowRefused(f"unknown image model {requested!r}", field="image_model")
    elif shop.default_generation_model_id is not None:
        model = session.get(GenerationModel, shop.default_generation_model_id)
    if model is None:
        model = session.scalar(
            select(GenerationModel)
            .order_by(GenerationModel.recommended.desc(), GenerationModel.created_at, GenerationModel.name)
            .limit(1)
        )
    if model is None:
        raise NoGenerationModel("no generation model is configured; an operator must add one")
    capability = REQUIRED_CAPABILITY[workflow]
    if not _supports(model, capability):
        raise WorkflowRefused(
            f"image model {model.name!r} does not support {workflow.value}",
            field="image_model" if requested else None,
        )
    return model


def _supports(model: GenerationModel, capability: str) -> bool:
    """Seed 002 capabilities are a list; null means "not declared", which does not refuse."""
    declared = model.provider_capabilities
    if declared is None:
        return True
    if isinstance(declared, dict):  # rows written before capabilities became a list
        return bool(declared.get(capability, True))
    return capability in {str(c) for c in declared}


def _generation_model_by_name_or_id(session: Session, requested: str) -> GenerationModel | None:
    try:
        model_id = uuid.UUID(requested)
    except ValueError:
        model_id = None
    if model_id is not None:
        found = session.get(GenerationModel, model_id)
        if found is not None:
            return found
    return session.scalar(
        select(GenerationModel)
        .where(func.lower(GenerationModel.name) == requested.strip().lower())
        .order_by(GenerationModel.created_at)
        .limit(1)
    )


def _ready_catalog_model(session: Session, shop: Shop, catalog_model_id: str) -> CatalogModel:
    model = session.scalar(
        select(CatalogModel).where(CatalogModel.id == catalog_model_id, CatalogModel.shop_id == shop.id)
    )
    if model is None:
        raise CatalogModelNotFound(f"catalog model {catalog_model_id} not found", field="catalog_model_id")
    if CatalogModelStatus(model.status) is not CatalogModelStatus.READY:
        raise CatalogModelNotReady(
            f"catalog model {catalog_model_id} is {CatalogModelStatus(model.status).value}, not ready",
            field="catalog_model_id",
        )
    return model


def _check_balance(session: Session, shop_id: str, cost: int) -> None:
    if cost <= 0:
        return
    session.execute(select(Shop.id).where(Shop.id == shop_id).with_for_update())
    available = credits.balance(session, shop_id)
    if available < cost:
        raise credits.InsufficientCredits(cost, available)


def _new_catalog_model(
    session: Session, shop: Shop, inputs: dict[str, Any], generation_model: GenerationModel
) -> CatalogModel:
    display_name = (inputs.get("display_name") or "").strip()
    if not display_name:
        taken = set(
            session.scalars(select(CatalogModel.display_name).where(CatalogModel.shop_id == shop.id)).all()
        )
        display_name = coin_unique_name(inputs, taken)
    model = CatalogModel(
        id=new_ulid(),
        shop_id=shop.id,
        display_name=display_name,
        gender=Gender(inputs["gender"]),
        ethnicity=inputs["ethnicity"],
        body_type=inputs["body_type"],
        age_range=inputs["age_range"],
        image_model=inputs.get("image_model"),
        resolution=inputs.get("resolution"),
        aspect_ratio=inputs.get("aspect_ratio"),
        seed=inputs.get("seed"),
        extra=dict(inputs.get("metadata") or {}),
        pilot_brand=inputs.get("pilot_brand"),
        status=CatalogModelStatus.PENDING,
        generation_model_id=generation_model.id,
        provider=generation_model.provider,
    )
    session.add(model)
    session.flush()
    return model
