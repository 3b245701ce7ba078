"""Registry rules shared by the API and the support console.

Bodies arrive as dicts; `parse_create` / `parse_update` validate them (pydantic for the shape,
`validate_provider_config` for each provider's config) and raise `RequestValidationFailed`
with seed 002's error list, rooted at `loc_prefix` (("body",) for the API).
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shopify_app.models import GenerationModel
from shopify_app.providers.config import validate_provider_config
from shopify_app.registry.schemas import (
    GenerationModelCreate,
    GenerationModelPublic,
    GenerationModelUpdate,
)
from shopify_app.registry.validation import RequestValidationFailed, error, from_pydantic

# Columns that cannot hold NULL: in an update, null means "leave as it is".
_NOT_NULL = ("name", "provider", "tool_types", "recommended", "beta")


class OutputLimitExceeded(ValueError):
    """A job asks for a larger output than its generation model allows (answer 422)."""


def check_output_limits(model: GenerationModel, width: int, height: int) -> None:
    """Raise OutputLimitExceeded, with a message a merchant can act on, when width × height
    is beyond the model's `max_output_width`, `max_output_height` or `max_size_pixels`."""
    if width <= 0 or height <= 0:
        raise OutputLimitExceeded(f"the output size must be positive, got {width}×{height}")
    problems = []
    if model.max_output_width is not None and width > model.max_output_width:
        problems.append(f"width {width} px is over its maximum of {model.max_output_width} px")
    if model.max_output_height is not None and height > model.max_output_height:
        problems.append(f"height {height} px is over its maximum of {model.max_output_height} px")
    if model.max_size_pixels is not None and width * height > model.max_size_pixels:
        problems.append(
            f"{width}×{height} = {width * height:,} pixels is over its maximum of "
            f"{model.max_size_pixels:,} pixels"
        )
    if problems:
        raise OutputLimitExceeded(
            f"generation model {model.name!r} cannot produce a {width}×{height} image: "
            + "; ".join(problems)
        )


# ----------------------------------------------------------------------------- reads

def list_models(session: Session, skip: int, limit: int) -> tuple[list[GenerationModel], int]:
    count = session.scalar(select(func.count()).select_from(GenerationModel)) or 0
    rows = session.scalars(
        select(GenerationModel)
        .order_by(GenerationModel.created_at, GenerationModel.id)
        .offset(skip)
        .limit(limit)
    ).all()
    return list(rows), int(count)


def get_model(session: Session, model_id: str | uuid.UUID) -> GenerationModel | None:
    if not isinstance(model_id, uuid.UUID):
        try:
            model_id = uuid.UUID(str(model_id))
        except ValueError:
            return None  # the seed's id is a string; anything not a UUID simply does not exist
    return session.get(GenerationModel, model_id)


def _capabilities(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, dict):  # rows written before capabilities became a list
        return [str(k) for k, v in value.items() if v]
    return [str(v) for v in value]


def to_public(model: GenerationModel) -> dict[str, Any]:
    return GenerationModelPublic(
        id=model.id,
        name=model.name,
        icon=model.icon,
        provider=model.provider,
        provider_config=model.provider_config,
        provider_capabilities=_capabilities(model.provider_capabilities),
        fallback_provider=model.fallback_provider,
        fallback_provider_config=model.fallback_provider_config,
        fallback_provider_capabilities=_capabilities(model.fallback_provider_capabilities),
        tool_types=[str(t) for t in (model.tool_types or [])],
        recommended=bool(model.recommended),
        beta=bool(model.beta),
        max_output_width=model.max_output_width,
        max_output_height=model.max_output_height,
        max_size_pixels=model.max_size_pixels,
    ).model_dump(mode="json")


# ----------------------------------------------------------------------------- validation

def _config(provider: str, config: dict[str, Any] | None, loc: tuple[str | int, ...],
            errors: list[dict[str, Any]]) -> dict[str, Any] | None:
    try:
        typed = validate_provider_config(provider, config)
    except ValidationError as exc:
        errors.extend(from_pydantic(exc, loc))
        return None
    # Only what was given (normalised), so later changes to a provider's defaults apply.
    return typed.model_dump(mode="json", exclude_unset=True)


def _check_configs(values: dict[str, Any], prefix: tuple[str | int, ...]) -> dict[str, Any]:
    """Validate provider_config and fallback_provider_config of the final values."""
    errors: list[dict[str, Any]] = []
    values["provider_config"] = _config(
        values["provider"], values.get("provider_config"), (*prefix, "provider_config"), errors
    )
    fallback = values.get("fallback_provider")
    if fallback is None:
        if values.get("fallback_provider_config"):
            errors.append(error(
                (*prefix, "fallback_provider_config"),
                "fallback_provider_config needs a fallback_provider",
                "value_error", values.get("fallback_provider_config"),
            ))
        values["fallback_provider_config"] = None
    else:
        values["fallback_provider_config"] = _config(
            fallback, values.get("fallback_provider_config"),
            (*prefix, "fallback_provider_config"), errors,
        )
    if errors:
        raise RequestValidationFailed(errors)
    return values


def _enum_values(values: dict[str, Any]) -> dict[str, Any]:
    for key in ("provider_capabilities", "fallback_provider_capabilities", "tool_types"):
        if values.get(key) is not None:
            values[key] = [str(v) for v in values[key]]
    for key in ("provider", "fallback_provider"):
        if values.get(key) is not None:
            values[key] = str(values[key])
    return values


def parse_create(body: Any, prefix: tuple[str | int, ...] = ("body",)) -> dict[str, Any]:
    try:
        parsed = GenerationModelCreate.model_validate(body)
    except ValidationError as exc:
        raise RequestValidationFailed(from_pydantic(exc, prefix)) from None
    return _check_configs(_enum_values(parsed.model_dump()), prefix)


def parse_update(model: GenerationModel, body: Any,
                 prefix: tuple[str | int, ...] = ("body",)) -> dict[str, Any]:
    """The column values to change on `model`."""
    try:
        parsed = GenerationModelUpdate.model_validate(body)
    except ValidationError as exc:
        raise RequestValidationFailed(from_pydantic(exc, prefix)) from None
    changes = _enum_values(
        {k: v for k, v in parsed.model_dump(exclude_unset=True).items()
         if not (v is None and k in _NOT_NULL)}
    )
    if "fallback_provider" in changes and changes["fallback_provider"] is None:
        changes.setdefault("fallback_provider_config", None)
        changes.setdefault("fallback_provider_capabilities", None)
    # Configs are checked against the provider they will run with, changed or not.
    merged = {
        "provider": changes.get("provider", model.provider),
        "provider_config": changes.get("provider_config", model.provider_config),
        "fallback_provider": changes.get("fallback_provider", model.fallback_provider),
        "fallback_provider_config": changes.get("fallback_provider_config", model.fallback_provider_config),
    }
    touched = {"provider", "provider_config", "fallback_provider", "fallback_provider_config"} & changes.keys()
    if touched:
        checked = _check_configs(merged, prefix)
        changes["provider_config"] = checked["provider_config"]
        changes["fallback_provider_config"] = checked["fallback_provider_config"]
    return changes


# ----------------------------------------------------------------------------- writes

def create_model(session: Session, values: dict[str, Any]) -> GenerationModel:
    model = GenerationModel(**values)
    session.add(model)
    session.flush()
    return model


def update_model(session: Session, model: GenerationModel, changes: dict[str, Any]) -> GenerationModel:
    for key, value in changes.items():
        setattr(model, key, value)
    session.flush()
    return model


def delete_model(session: Session, model: GenerationModel) -> None:
    # Jobs and shops keep working: their foreign keys are ON DELETE SET NULL, and the engine
    # falls back to the recommended model when a shop's default is gone.
    session.delete(model)
    session.flush()
