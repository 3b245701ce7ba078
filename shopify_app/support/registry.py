"""The generation-model registry in the console: list, create, edit, delete (the API's rules)."""

from __future__ import annotations

import json
from typing import Any

from flask import abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from shopify_app import db
from shopify_app.models import GenerationModel
from shopify_app.registry import service
from shopify_app.registry.schemas import GenerationTool, ProviderCapability, ProviderType
from shopify_app.registry.validation import RequestValidationFailed
from shopify_app.staff import audit
from shopify_app.support import bp
from shopify_app.support.auth import admin_required, current_staff

PAGE_SIZE = 50
_OPTIONAL_TEXT = ("icon", "max_output_width", "max_output_height", "max_size_pixels")


def _form_body() -> tuple[dict[str, Any], dict[str, str]]:
    """The form as an API body, and JSON-syntax errors per field."""
    form = request.form
    body: dict[str, Any] = {
        "name": form.get("name", "").strip(),
        "provider": form.get("provider", ""),
        "tool_types": form.getlist("tool_types"),
        "recommended": form.get("recommended") == "on",
        "beta": form.get("beta") == "on",
        "provider_capabilities": form.getlist("provider_capabilities") or None,
        "fallback_provider": form.get("fallback_provider") or None,
        "fallback_provider_capabilities": form.getlist("fallback_provider_capabilities") or None,
    }
    for key in _OPTIONAL_TEXT:
        body[key] = form.get(key, "").strip() or None
    errors: dict[str, str] = {}
    for key, empty in (("provider_config", {}), ("fallback_provider_config", None)):
        text = form.get(key, "").strip()
        if not text:
            body[key] = empty
            continue
        try:
            body[key] = json.loads(text)
        except ValueError as exc:
            errors[key] = f"not valid JSON: {exc}"
    return body, errors


def _field_errors(exc: RequestValidationFailed) -> dict[str, str]:
    errors: dict[str, str] = {}
    for item in exc.errors:
        loc = item["loc"][1:] if item["loc"] and item["loc"][0] == "form" else item["loc"]
        field = str(loc[0]) if loc else "_"
        detail = ".".join(str(p) for p in loc[1:])
        message = f"{detail}: {item['msg']}" if detail else item["msg"]
        errors[field] = f"{errors[field]}; {message}" if field in errors else message
    return errors


def _render_form(model: GenerationModel | None, values: dict[str, Any], errors: dict[str, str],
                 status: int = 200) -> tuple[str, int]:
    return render_template(
        "support/generation_model_form.html", model=model, values=values, errors=errors,
        providers=list(ProviderType), capabilities=list(ProviderCapability),
        tools=list(GenerationTool),
    ), status


def _values_of(model: GenerationModel) -> dict[str, Any]:
    values = service.to_public(model)
    for key in ("provider_config", "fallback_provider_config"):
        values[key] = json.dumps(values[key], indent=2) if values[key] else ""
    return values


def _form_values() -> dict[str, Any]:
    values: dict[str, Any] = {key: request.form.get(key, "") for key in request.form}
    for key in ("tool_types", "provider_capabilities", "fallback_provider_capabilities"):
        values[key] = request.form.getlist(key)
    for key in ("recommended", "beta"):
        values[key] = request.form.get(key) == "on"
    return values


@bp.get("/generation-models")
def generation_models() -> str:
    try:
        page = max(0, int(request.args.get("page", "0")))
    except ValueError:
        page = 0
    rows, count = service.list_models(db.session(), page * PAGE_SIZE, PAGE_SIZE)
    return render_template("support/generation_models.html", rows=rows, count=count, page=page,
                           has_more=(page + 1) * PAGE_SIZE < count)


@bp.get("/generation-models/new")
@admin_required
def generation_model_new() -> tuple[str, int]:
    return _render_form(None, {"provider": "local", "provider_config": "{}", "tool_types": []}, {})


@bp.post("/generation-models/new")
@admin_required
def generation_model_create() -> ResponseReturnValue:
    body, errors = _form_body()
    reason = request.form.get("reason", "").strip()
    if not reason:
        errors["reason"] = "Say why (it goes in the audit log)."
    values = None
    if not errors:
        try:
            values = service.parse_create(body, ("form",))
        except RequestValidationFailed as exc:
            errors = _field_errors(exc)
    if errors or values is None:
        return _render_form(None, _form_values(), errors, 422)
    session = db.session()
    model = service.create_model(session, values)
    entry = audit.record(session, current_staff(), "generation_model.create", "generation_model",
                         model.id, reason, details={"name": model.name, "provider": model.provider})
    return redirect(url_for("support.generation_model_edit", model_id=model.id, audit=entry.id))


def _model_or_404(model_id: str) -> GenerationModel:
    model = service.get_model(db.session(), model_id)
    if model is None:
        abort(404)
    return model


@bp.get("/generation-models/<model_id>")
def generation_model_edit(model_id: str) -> tuple[str, int]:
    model = _model_or_404(model_id)
    return _render_form(model, _values_of(model), {})


@bp.post("/generation-models/<model_id>")
@admin_required
def generation_model_update(model_id: str) -> ResponseReturnValue:
    session = db.session()
    model = _model_or_404(model_id)
    body, errors = _form_body()
    reason = request.form.get("reason", "").strip()
    if not reason:
        errors["reason"] = "Say why (it goes in the audit log)."
    changes = None
    if not errors:
        try:
            changes = service.parse_update(model, body, ("form",))
        except RequestValidationFailed as exc:
            errors = _field_errors(exc)
    if errors or changes is None:
        return _render_form(model, _form_values(), errors, 422)
    service.update_model(session, model, changes)
    entry = audit.record(session, current_staff(), "generation_model.update", "generation_model",
                         model.id, reason, details={"changed": sorted(changes)})
    return redirect(url_for("support.generation_model_edit", model_id=model.id, audit=entry.id))


@bp.post("/generation-models/<model_id>/delete")
@admin_required
def generation_model_delete(model_id: str) -> ResponseReturnValue:
    session = db.session()
    model = _model_or_404(model_id)
    reason = request.form.get("reason", "").strip()
    if not reason:
        return render_template("support/error.html", title="Reason required",
                               message="Say why you delete this model (it goes in the audit log)."), 422
    entry = audit.record(session, current_staff(), "generation_model.delete", "generation_model",
                         model.id, reason, details={"name": model.name, "provider": model.provider})
    service.delete_model(session, model)
    return redirect(url_for("support.generation_models", audit=entry.id))
