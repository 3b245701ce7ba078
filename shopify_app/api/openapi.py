"""The OpenAPI 3.1 document of /v1, generated from the pydantic schemas, and a readable docs page.

Schemas come from `models_json_schema` with refs pointing at `#/components/schemas/…`, so the
document describes exactly what the handlers validate and return. The docs page renders the same
document server-side: no script, no CDN.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from flask import Response, jsonify, render_template
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shopify_app.api import schemas
from shopify_app.api.blueprint import bp
from shopify_app.api.idempotency import HEADER as IDEMPOTENCY_HEADER
from shopify_app.api.idempotency import MAX_KEY_LENGTH
from shopify_app.requestctx import REQUEST_ID_HEADER

REF = "#/components/schemas/{model}"
BEARER = "bearerAuth"
FLOW = "shopifyFlowHmac"

_REQUEST_MODELS: list[type[BaseModel]] = [
    schemas.ModelGeneratorRequest, schemas.TryOnRequest, schemas.CatalogShootRequest,
]
_RESPONSE_MODELS: list[type[BaseModel]] = [
    schemas.WorkflowAcceptedResponse, schemas.HTTPValidationError, schemas.ErrorResponse,
    schemas.InsufficientCreditsResponse, schemas.JobResponse, schemas.RequestLogResponse,
    schemas.CatalogModelResponse, schemas.CatalogModelPage,
]

WORKFLOWS = {
    "model-generator": (
        schemas.ModelGeneratorRequest,
        "Dispatch a model-generator workflow",
        "Create a catalog model from a spec. Its portraits are generated on the workers; poll "
        "`GET /v1/jobs/{job_id}`. When `display_name` is empty the studio coins one.",
    ),
    "try-on": (
        schemas.TryOnRequest,
        "Dispatch a try-on workflow",
        "Dress a ready catalog model in one garment: an image URL or a Shopify product's image. "
        "Costs the try-on price × `num_images`.",
    ),
    "catalog-shoot": (
        schemas.CatalogShootRequest,
        "Dispatch a catalog-shoot workflow",
        "Shoot products on a ready catalog model. `publish: review` (default) waits for approval; "
        "`direct` publishes passing images to the products. Costs the shoot price × products × `num_images`.",
    ),
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _json(model: type[BaseModel], description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": _ref(model)}},
        "headers": {REQUEST_ID_HEADER: {"$ref": "#/components/headers/RequestId"}, **(headers or {})},
    }
    return response


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    return _json(schemas.ErrorResponse, description, headers)


_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.",
                                "schema": {"type": "integer"}}}
_MALFORMED = {"400": _error("A malformed request: a NUL character in the path or query, or a query string "
                             "that is not UTF-8.")}
_COMMON_ERRORS = {
    **_MALFORMED,
    "401": _error("Missing, invalid or disabled credentials, or a bad Flow signature."),
    "403": _error("The shop has uninstalled Catalog Studio."),
    "429": _error("Rate limit exceeded for this client.", _RETRY_AFTER),
}
_VALIDATION = {"422": _json(schemas.HTTPValidationError, "Validation Error")}


def _workflow_path(name: str) -> dict[str, Any]:
    model, summary, description = WORKFLOWS[name]
    return {
        "post": {
            "operationId": name.replace("-", "_"),
            "summary": summary,
            "description": description,
            "tags": ["workflows"],
            "security": [{BEARER: []}, {FLOW: []}],
            "parameters": [
                {
                    "name": IDEMPOTENCY_HEADER, "in": "header", "required": False,
                    "description": "Same key and body: the first answer is replayed and nothing is "
                                   "charged again. Same key, other body: 422. A Flow action's "
                                   "`action_run_id` is its key.",
                    "schema": {"type": "string", "maxLength": MAX_KEY_LENGTH},
                },
                {
                    "name": "X-Shopify-Hmac-Sha256", "in": "header", "required": False,
                    "description": "Shopify Flow action signature (base64 HMAC-SHA256 of the body). "
                                   "The workflow request is then the action's `properties`.",
                    "schema": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                },
            ],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref(model)}}},
            "responses": {
                "202": _json(schemas.WorkflowAcceptedResponse, "Successful Response",
                             {"Location": {"description": "The job's URL.", "schema": {"type": "string"}}}),
                "200": _json(schemas.WorkflowAcceptedResponse,
                             "Successful Response to a Shopify Flow action (Flow re-sends on 202)."),
                "402": _json(schemas.InsufficientCreditsResponse,
                             "Not enough credits; nothing was created or charged."),
                "404": _error("The catalog model is not in this shop."),
                "413": _error("The request body is larger than 256 KB."),
                "409": _error("The catalog model is not ready, or a request with this Idempotency-Key is in progress."),
                **_VALIDATION,
                **_COMMON_ERRORS,
                "503": _error("No generation model is configured."),
            },
        }
    }


def _read(operation_id: str, summary: str, model: type[BaseModel], parameters: list[dict[str, Any]],
          tag: str, validation: bool = False) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": _json(model, "Successful Response"), "404": _error("Not found in this shop.")}
    if validation:
        responses.update(_VALIDATION)
    responses.update(_COMMON_ERRORS)
    return {"get": {"operationId": operation_id, "summary": summary, "tags": [tag],
                    "security": [{BEARER: []}], "parameters": parameters, "responses": responses}}


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "pattern": schemas.ULID_PATTERN}}


@functools.cache
def build_document() -> dict[str, Any]:
    _, top = models_json_schema(
        [(m, "validation") for m in _REQUEST_MODELS]
        + [(m, "serialization") for m in _RESPONSE_MODELS]
        + [(schemas.CatalogModelListQuery, "validation")],
        ref_template=REF,
    )
    components = top.get("$defs", {})
    query = schemas.CatalogModelListQuery.model_json_schema(ref_template=REF)
    list_parameters = [
        {"name": name, "in": "query", "required": False, "schema": prop}
        for name, prop in query["properties"].items()
    ]
    paths: dict[str, Any] = {f"/v1/{name}": _workflow_path(name) for name in WORKFLOWS}
    paths["/v1/jobs/{job_id}"] = _read(
        "get_job", "A job: status, stage, progress, outputs (signed URLs), error, credits", schemas.JobResponse,
        [_path_param("job_id", "The `job_id` of a WorkflowAcceptedResponse.")], "jobs")
    paths["/v1/requests/{request_id}"] = _read(
        "get_request", "The log of one /v1 call of this shop", schemas.RequestLogResponse,
        [_path_param("request_id", "The `request_id` (or X-Request-Id) of an earlier call.")], "requests")
    paths["/v1/catalog-models"] = _read(
        "list_catalog_models", "The shop's catalog models, newest first (cursor paging)",
        schemas.CatalogModelPage, list_parameters, "catalog models", validation=True)
    paths["/v1/catalog-models/{catalog_model_id}"] = _read(
        "get_catalog_model", "One catalog model with its portraits", schemas.CatalogModelResponse,
        [_path_param("catalog_model_id", "A catalog model id.")], "catalog models")
    paths["/v1/files/{token}"] = {"get": {
        "operationId": "download_file",
        "summary": "An output image through a signed, expiring link",
        "description": "The URLs in job outputs and portraits. No API key: the signature is the permission.",
        "tags": ["files"], "security": [],
        "parameters": [{"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {
            "200": {"description": "The image.", "content": {
                "image/png": {"schema": {"type": "string", "contentMediaType": "image/png"}},
                "image/jpeg": {"schema": {"type": "string", "contentMediaType": "image/jpeg"}},
                "image/webp": {"schema": {"type": "string", "contentMediaType": "image/webp"}},
            }},
            **_MALFORMED,
            "403": _error("The link is not valid (tampered or not ours)."),
            "404": _error("The file no longer exists."),
            "410": _error("The link has expired; fetch the job again for a fresh one."),
        },
    }}
    paths["/v1/openapi.json"] = {"get": {
        "operationId": "openapi", "summary": "This document", "tags": ["meta"], "security": [],
        "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}},
    }}
    paths["/v1/docs"] = {"get": {
        "operationId": "docs", "summary": "This document as a page", "tags": ["meta"], "security": [],
        "responses": {"200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}},
    }}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Catalog Studio API",
            "version": "1",
            "description": (
                "Workflows return 202 with a job id at once and run on workers; poll the job. Credits are "
                "charged when the job is created and refunded automatically on any failure path. Every "
                f"response carries `{REQUEST_ID_HEADER}`; workflow answers also carry it as `request_id`."
            ),
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "headers": {"RequestId": {"description": "26-char ULID of this call (its request log row).",
                                      "schema": {"type": "string", "pattern": schemas.ULID_PATTERN}}},
            "securitySchemes": {
                BEARER: {"type": "http", "scheme": "bearer", "bearerFormat": "csk_<prefix>_<secret>",
                         "description": "An API key from `flask studio create-api-key --shop DOMAIN`."},
                FLOW: {"type": "apiKey", "in": "header", "name": "X-Shopify-Hmac-Sha256",
                       "description": "A Shopify Flow action request signed with the app's client secret; "
                                      "the shop is the body's `shopify_domain`."},
            },
        },
        "tags": [{"name": t} for t in ("workflows", "jobs", "requests", "catalog models", "files", "meta")],
    }


@bp.get("/openapi.json")
def openapi_json() -> Response:
    return jsonify(build_document())


@bp.get("/docs")
def docs() -> str:
    document = build_document()
    return render_template("api/docs.html", doc=document, schemas=document["components"]["schemas"],
                           dumps=lambda value: json.dumps(value, indent=2, ensure_ascii=False))
