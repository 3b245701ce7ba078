"""The OpenAPI 3.1 document: valid, complete (every /v1 route), and faithful to seed 000."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate
from openapi_spec_validator.validation.validators import OpenAPIV31SpecValidator

from tests.api.conftest import ApiUser


def _document(client: FlaskClient) -> dict:
    response = client.get("/v1/openapi.json")
    assert response.status_code == 200
    return response.json


def test_document_is_valid_openapi_3_1(client: FlaskClient) -> None:
    document = _document(client)
    assert document["openapi"] == "3.1.0"
    validate(document, cls=OpenAPIV31SpecValidator)


def test_document_lists_every_v1_route(app: Flask, client: FlaskClient) -> None:
    documented = {
        (method.upper(), path)
        for path, item in _document(client)["paths"].items()
        for method in item
    }
    routed = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/v1/"):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routed.add((method, path))
    assert routed == documented


def test_seed_000_shapes_are_in_the_components(client: FlaskClient) -> None:
    schemas = _document(client)["components"]["schemas"]
    request = schemas["ModelGeneratorRequest"]
    assert request["description"] == "POST /v1/model-generator — a catalog-model spec."
    assert sorted(request["required"]) == ["age_range", "body_type", "ethnicity", "gender"]
    props = request["properties"]
    assert set(props) == {"image_model", "eval_enabled", "resolution", "aspect_ratio", "seed",
                          "on_technical_failure", "display_name", "gender", "ethnicity", "body_type",
                          "age_range", "metadata", "pilot_brand"}
    assert props["display_name"]["default"] == "" and props["display_name"]["title"] == "Display Name"
    assert props["gender"] == {"$ref": "#/components/schemas/UserCategory"}
    assert schemas["UserCategory"]["enum"] == ["MALE", "FEMALE"]
    assert props["seed"]["anyOf"][0]["type"] == "integer" and props["seed"]["default"] is None

    accepted = schemas["WorkflowAcceptedResponse"]
    assert sorted(accepted["required"]) == ["credits_cost", "job_id", "request_id"]
    assert accepted["properties"]["status"]["default"] == "NOT_STARTED"
    assert schemas["JobStatus"]["enum"] == ["NOT_STARTED", "IN_PROGRESS", "SUCCESS", "FAILURE"]

    error = schemas["ValidationError"]
    assert sorted(error["required"]) == ["loc", "msg", "type"]
    assert error["properties"]["type"]["title"] == "Error Type"
    assert schemas["HTTPValidationError"]["properties"]["detail"]["items"] == {
        "$ref": "#/components/schemas/ValidationError"}


def test_workflow_operations_carry_security_and_responses(client: FlaskClient) -> None:
    document = _document(client)
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["scheme"] == "bearer"
    assert schemes["shopifyFlowHmac"] == {**schemes["shopifyFlowHmac"], "type": "apiKey", "in": "header",
                                          "name": "X-Shopify-Hmac-Sha256"}
    for name in ("model-generator", "try-on", "catalog-shoot"):
        op = document["paths"][f"/v1/{name}"]["post"]
        assert {"202", "402", "422", "429", "401"} <= set(op["responses"])
        assert op["responses"]["422"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/HTTPValidationError"}
        assert {p["name"] for p in op["parameters"]} == {"Idempotency-Key", "X-Shopify-Hmac-Sha256"}
    assert document["paths"]["/v1/files/{token}"]["get"]["security"] == []


def test_every_answer_the_edge_gives_is_documented(client: FlaskClient, user: ApiUser) -> None:
    """A malformed request (400) is possible on every /v1 operation, a too-large body (413) on
    every workflow; both are in the document, with the shapes actually answered."""
    document = _document(client)
    for path, operations in document["paths"].items():
        if path not in ("/v1/openapi.json", "/v1/docs"):
            assert "400" in operations["get" if "get" in operations else "post"]["responses"], path
    for name in ("model-generator", "try-on", "catalog-shoot"):
        assert "413" in document["paths"][f"/v1/{name}"]["post"]["responses"]
    too_large = user.client.post("/v1/try-on", data=b"{" + b" " * 300_000 + b"}",
                                 headers={**user.headers(), "Content-Type": "application/json"})
    assert too_large.status_code == 413 and isinstance(too_large.get_json()["detail"], str)
    malformed = user.get("/v1/catalog-models?cursor=%00")
    assert malformed.status_code == 400 and isinstance(malformed.get_json()["detail"], str)


def test_docs_page_is_self_contained(client: FlaskClient) -> None:
    response = client.get("/v1/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "<script" not in html
    assert "https://" not in html.split("<main>", 1)[0]  # no external stylesheet or script in <head>
    for text in ("/v1/model-generator", "ModelGeneratorRequest", "WorkflowAcceptedResponse", "HTTPValidationError",
                 "X-Shopify-Hmac-Sha256", "<code>MALE</code>", "<code>FEMALE</code>", "<code>display_name</code>"):
        assert text in html, text
