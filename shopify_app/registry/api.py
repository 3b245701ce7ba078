"""`/api/v1/generation-models/` exactly as seed 002: public reads, admin-only writes."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from pydantic import ValidationError

from shopify_app import db, errors
from shopify_app.registry import service
from shopify_app.registry.schemas import ListParams
from shopify_app.registry.validation import RequestValidationFailed, error, from_pydantic
from shopify_app.staff import audit
from shopify_app.staff.bearer import admin_required

bp = Blueprint("registry_api", __name__, url_prefix="/api/v1/generation-models")


@bp.errorhandler(RequestValidationFailed)
def _invalid(exc: RequestValidationFailed) -> tuple[Response, int]:
    return jsonify({"detail": exc.errors}), 422


def _not_found() -> tuple[Response, int]:
    return jsonify({"detail": "Generation model not found"}), 404


def _json_body() -> Any:
    raw = request.get_data(cache=False)
    if not raw.strip():
        raise RequestValidationFailed([error(("body",), "Field required", "missing", None)])
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        position = getattr(exc, "pos", 0)
        raise RequestValidationFailed([
            error(("body", position), "JSON decode error", "json_invalid", {}, {"error": str(exc)})
        ]) from None
    nul = errors.nul_location(body)
    if nul is not None:
        raise RequestValidationFailed([error(("body", *nul), errors.NUL_REFUSED, "string_nul")])
    return body


@bp.get("/")
def read_models() -> Response:
    try:
        params = ListParams.model_validate(
            {k: request.args[k] for k in ("skip", "limit") if k in request.args}
        )
    except ValidationError as exc:
        raise RequestValidationFailed(from_pydantic(exc, ("query",))) from None
    rows, count = service.list_models(db.session(), params.skip, params.limit)
    return jsonify({"data": [service.to_public(row) for row in rows], "count": count})


@bp.post("/")
@admin_required
def create_model() -> Response:
    values = service.parse_create(_json_body())
    session = db.session()
    model = service.create_model(session, values)
    audit.record(session, g.staff_user, "generation_model.create", "generation_model", model.id,
                 "via the registry API", details={"name": model.name, "provider": model.provider})
    return jsonify(service.to_public(model))


@bp.get("/<model_id>")
def read_model(model_id: str) -> Response | tuple[Response, int]:
    model = service.get_model(db.session(), model_id)
    if model is None:
        return _not_found()
    return jsonify(service.to_public(model))


@bp.put("/<model_id>")
@admin_required
def update_model(model_id: str) -> Response | tuple[Response, int]:
    session = db.session()
    model = service.get_model(session, model_id)
    if model is None:
        return _not_found()
    changes = service.parse_update(model, _json_body())
    service.update_model(session, model, changes)
    audit.record(session, g.staff_user, "generation_model.update", "generation_model", model.id,
                 "via the registry API", details={"changed": sorted(changes)})
    return jsonify(service.to_public(model))


@bp.delete("/<model_id>")
@admin_required
def delete_model(model_id: str) -> Response | tuple[Response, int]:
    session = db.session()
    model = service.get_model(session, model_id)
    if model is None:
        return _not_found()
    audit.record(session, g.staff_user, "generation_model.delete", "generation_model", model.id,
                 "via the registry API", details={"name": model.name, "provider": model.provider})
    service.delete_model(session, model)
    return jsonify({"message": "Generation model deleted successfully"})
