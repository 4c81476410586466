"""The OpenAPI 3.1 document, generated from the route registry and the pydantic models."""
from __future__ import annotations

import re
import types
import typing
from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib.api.routing import ROUTES, RouteSpec
from chalicelib.api.schemas import Problem

REF = "#/components/schemas/{model}"
STATUS_TEXT = {200: "OK", 201: "Created", 400: "Invalid input", 401: "Missing or invalid credentials",
               402: "Payment declined", 404: "Not found", 409: "Conflict", 413: "Payload too large",
               415: "Unsupported media type", 422: "Idempotency-Key reused", 429: "Too many requests",
               503: "Busy; retry"}
SECURITY = {"operator": [{"operatorKey": []}], "brand": [{"brandKey": []}],
            "optional-brand": [{}, {"brandKey": []}], "public": [],
            "shopper": [{"shopperToken": []}], "shopper-or-brand": [{"shopperToken": []}, {"brandKey": []}]}


def _models_of(annotation) -> list[type[BaseModel]]:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return [arg for arg in typing.get_args(annotation) if isinstance(arg, type)]
    return [annotation] if annotation else []


def _schema_ref(annotation) -> dict[str, Any]:
    models = _models_of(annotation)
    refs = [{"$ref": REF.format(model=m.__name__)} for m in models]
    return refs[0] if len(refs) == 1 else {"oneOf": refs}


def _operation(spec: RouteSpec) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": re.sub(r"\W+", "_", f"{spec.method.lower()}{spec.path}").strip("_"),
        "summary": spec.summary,
        "tags": [spec.tag] if spec.tag else [],
        "security": SECURITY[spec.auth],
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"{(\w+)}", spec.path)
        ],
        "responses": {},
    }
    for name, description in spec.headers:
        operation["parameters"].append({"name": name, "in": "header", "required": True,
                                        "description": description, "schema": {"type": "string", "maxLength": 255}})
    if spec.query is not None:
        query_schema = spec.query.model_json_schema(by_alias=True)
        for name, schema in query_schema["properties"].items():
            operation["parameters"].append(
                {"name": name, "in": "query", "required": name in query_schema.get("required", []), "schema": schema})
    if spec.request is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _schema_ref(spec.request)}},
        }
    if spec.response is not None:
        operation["responses"][str(spec.status)] = {
            "description": STATUS_TEXT.get(spec.status, "OK"),
            "content": {"application/json": {"schema": _schema_ref(spec.response)}},
        }
    else:
        operation["responses"][str(spec.status)] = {"description": STATUS_TEXT.get(spec.status, "OK")}
    for status in spec.errors:
        operation["responses"][str(status)] = {
            "description": STATUS_TEXT.get(status, "Error"),
            "content": {"application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}}},
        }
    return operation


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    models: set[type[BaseModel]] = {Problem}
    for spec in ROUTES:
        models.update(_models_of(spec.request))
        models.update(_models_of(spec.response))
    # Requests validate by alias in "validation" mode; responses serialise by alias.
    pairs = [(m, "validation" if m.model_config.get("strict") else "serialization")
             for m in sorted(models, key=lambda m: m.__name__)]
    _, top = models_json_schema(pairs, by_alias=True, ref_template=REF)
    paths: dict[str, Any] = {}
    for spec in ROUTES:
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Livedrop API", "version": "1.0.0",
                 "description": "Headless live-shopping commerce: brands, products, live sessions."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": top.get("$defs", {}),
            "securitySchemes": {
                "operatorKey": {"type": "http", "scheme": "bearer", "description": "The operator key"},
                "brandKey": {"type": "http", "scheme": "bearer", "description": "A brand's API key"},
                "shopperToken": {"type": "http", "scheme": "bearer", "description": "A token from POST /v1/shoppers"},
            },
        },
    }
