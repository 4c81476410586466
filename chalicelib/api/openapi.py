"""The OpenAPI 3.1 document, generated from the route registry and the pydantic models.

Everything the server enforces is stated here, so that a generated client is right the first time:
bounds and patterns of ids, headers and text; which fields are optional (no `default` in request
bodies: openapi-typescript would make such fields required); the headers of each answer; the problem
types per status; and links from each created resource to what can be done with it next.
"""
from __future__ import annotations

import json
import re
import types
import typing
from collections import defaultdict
from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic.alias_generators import to_camel
from pydantic.json_schema import models_json_schema

from chalicelib.api.problems import CHALICE_ERRORS, INTERNAL, PROBLEM_BASE, PROBLEMS
from chalicelib.api.routing import (
    CORS_EXPOSED_HEADERS, ERROR_CACHE_CONTROL, PATH_ID, ROUTES, RouteSpec, cors_allowed_headers,
)
from chalicelib.api.schemas import Problem, ProblemError
from chalicelib.api.webhook_schemas import EVENT_MODELS

REF = "#/components/schemas/{model}"
STATUS_TEXT = {200: "OK", 201: "Created", 202: "Accepted", 204: "No content", 400: "Invalid input",
               401: "Missing or invalid credentials", 402: "Payment declined", 403: "Forbidden",
               404: "Not found",
               405: "Method not allowed",
               409: "Conflict", 413: "Payload too large", 415: "Unsupported media type",
               422: "Idempotency-Key reused", 429: "Too many requests", 503: "Busy; retry"}
SECURITY = {"operator": [{"operatorKey": []}], "brand": [{"brandKey": []}],
            "optional-brand": [{}, {"brandKey": []}], "public": [],
            "shopper": [{"shopperToken": []}], "shopper-or-brand": [{"shopperToken": []}, {"brandKey": []}],
            "id-token": [{"cognitoIdToken": []}]}
WHO = {"public": "Anyone, without a credential.",
       "operator": "The operator key.",
       "brand": "A brand's API key. Another brand's resource answers 404, as a missing one does.",
       "optional-brand": "Anyone. With the owner brand's key, the owner's view; without a key, or with a "
                         "shopper token, the public view.",
       "shopper": "A shopper token from POST /v1/shoppers.",
       "shopper-or-brand": "The order's shopper (shopper token) or the selling brand (API key).",
       "id-token": "A person signed in to the deployment's Cognito user pool, with its ID token."}
TAGS = [
    {"name": "brands", "description": "Onboarding brands (operator)."},
    {"name": "products", "description": "A brand's catalogue, and the public view of a product."},
    {"name": "sessions", "description": "Live sessions: scheduling, lineup of drops, status; the public listing."},
    {"name": "live", "description": "During the show: pins as timed metadata, chat, likes, and the replay."},
    {"name": "orders", "description": "Shoppers, checkout (reservations), payment, cancellation and refunds."},
    {"name": "drops", "description": "Queue and draw drops: joining one, and where the shopper's entry stands."},
    {"name": "payments", "description": "The payment provider's webhooks (Stripe)."},
    {"name": "analytics", "description": "What a show sold, minute by minute, and what featuring a product did."},
    {"name": "webhooks", "description": "Signed events to the brand's own systems, retried, with a delivery log "
                                        "(the events themselves are under `webhooks`)."},
    {"name": "meta", "description": "The API's description of itself."},
]
INFO_DESCRIPTION = """Headless live-shopping commerce: brands, products, live sessions, drops and orders.

Money is `{{amount, currency}}`: an integer of minor units and an ISO 4217 code. Timestamps are
ISO 8601 (the API writes UTC with milliseconds and a Z).

**Errors** are RFC 9457 `application/problem+json`; `type` is one of the problem types listed in
`x-problem-types` (each has exactly one status). Invalid input names the first offending field in
`field` and all of them in `errors`. A path id that can not exist answers 404 naming the parameter.
A method a path does not have answers 405 with `Allow` (components/responses/MethodNotAllowed).

**CORS**: every path answers a preflight (`OPTIONS`) itself. Allowed origins are configured per
deployment, one list for public and shopper routes and one for brand and operator routes; with a
list, the request's `Origin` is echoed when allowed (and `Vary: Origin` is sent). Browsers may send
`{allowed}` and read `{exposed}`.

**Caching**: each answer states it in `Cache-Control`: an answer that carries a secret (an API key,
a shopper token, a stream key, a chat token) is `no-store`; one that depends on the credential is
`private, no-cache` with `Vary: Authorization`; a public read may be cached for a few seconds
(`public, max-age=N`, 2 s for the live state); every error is `no-store`."""


def _models_of(annotation) -> list[type[BaseModel]]:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return [arg for arg in typing.get_args(annotation) if isinstance(arg, type)]
    return [annotation] if annotation else []


def _schema_ref(annotation) -> dict[str, Any]:
    models = _models_of(annotation)
    refs = [{"$ref": REF.format(model=m.__name__)} for m in models]
    return refs[0] if len(refs) == 1 else {"oneOf": refs}


def _is_request(model: type[BaseModel]) -> bool:
    return bool(model.model_config.get("strict"))


def _tidy(properties: dict[str, Any], request: bool) -> None:
    """An absent optional field is absent: no `default: null`. In a request body, a default is
    said in words (a generated client must not think the field required)."""
    for prop in properties.values():
        if "default" not in prop:
            continue
        default = prop.pop("default")
        if request and default is not None:
            prop["description"] = (prop.get("description", "") + f" Default: {json.dumps(default)}.").strip()
        elif not request and default is not None:
            prop["default"] = default


def _operation_id(spec: RouteSpec) -> str:
    return re.sub(r"\W+", "_", f"{spec.method.lower()}{spec.path}").strip("_")


def problem_types() -> list[dict[str, Any]]:
    seen = {code: (status, title) for status, code, title in PROBLEMS.values()}
    for status, (code, title) in CHALICE_ERRORS.items():
        seen.setdefault(code, (status, title))
    seen.setdefault(INTERNAL[1], (INTERNAL[0], INTERNAL[2]))
    return [{"type": PROBLEM_BASE + code, "status": status, "title": title}
            for code, (status, title) in sorted(seen.items(), key=lambda item: (item[1][0], item[0]))]


def _codes_by_status() -> dict[int, list[str]]:
    by_status: dict[int, list[str]] = defaultdict(list)
    for problem in problem_types():
        by_status[problem["status"]].append(problem["type"].removeprefix(PROBLEM_BASE))
    return by_status


def _header(description: str, schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"description": description, "required": required, "schema": schema}


def _vary(spec: RouteSpec) -> dict[str, Any]:
    if spec.varies_by_credential:
        return _header("Authorization: the answer depends on the credential (and Origin where CORS "
                       "is configured with a list of origins)", {"type": "string", "pattern": "Authorization"})
    return _header("Origin, where CORS is configured with a list of origins", {"type": "string"}, required=False)


def _success_headers(spec: RouteSpec) -> dict[str, Any]:
    headers = {"Cache-Control": _header("How this answer may be cached (see the API description)",
                                        {"type": "string", "const": spec.cache_control}),
               "Vary": _vary(spec)}
    for name, description, schema, *required in spec.response_headers:  # (..., False): only on some answers
        headers[name] = _header(description, schema, required=required[0] if required else True)
    return headers


def _error_response(spec: RouteSpec, status: int, codes: list[str]) -> dict[str, Any]:
    headers = {"Cache-Control": _header("Errors are never stored", {"type": "string", "const": ERROR_CACHE_CONTROL}),
               "Vary": _vary(spec)}
    if status in (429, 503) or "payment_in_progress" in codes:
        headers["Retry-After"] = _header("Seconds to wait before retrying", {"type": "string", "pattern": "^[0-9]+$"},
                                         required=status in (429, 503))
    return {
        "description": f"{STATUS_TEXT.get(status, 'Error')}. Problem types: " + ", ".join(f"`{c}`" for c in codes),
        "headers": headers,
        "content": {"application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}}},
    }


def _links(spec: RouteSpec) -> dict[str, Any]:
    """Where a created thing leads: its `id` is the path id of the operations under its collection;
    and a sibling operation whose body asks only for fields of the answer (a lineup item's
    productId, to feature it) gets them, with the same path ids."""
    models = _models_of(spec.response)
    if spec.status != 201 or not models:
        return {}
    answer = {field.alias or to_camel(name) for name, field in models[0].model_fields.items()}
    links = {}
    for other in ROUTES:
        params = other.path_params
        if "id" in answer and other.path.startswith(spec.path + "/{") and len(params) == 1:
            links[_operation_id(other)] = {
                "operationId": _operation_id(other), "parameters": {params[0]: "$response.body#/id"},
                "description": f"{other.method} {other.path} with the id of the created resource"}
        elif (other is not spec and other.request is not None and params and params == spec.path_params
              and other.path.rsplit("/", 1)[0] == spec.path.rsplit("/", 1)[0]):
            body = {field.alias or to_camel(name) for name, field in other.request.model_fields.items()}
            if body <= answer:
                links[_operation_id(other)] = {
                    "operationId": _operation_id(other),
                    "parameters": {name: f"$request.path.{name}" for name in params},
                    "requestBody": {name: f"$response.body#/{name}" for name in sorted(body)},
                    "description": f"{other.method} {other.path} with what was just created"}
    return links


def _operation(spec: RouteSpec, codes_by_status: dict[int, list[str]]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": _operation_id(spec),
        "summary": spec.summary,
        "description": f"{spec.description}\n\nWho may call: {WHO[spec.auth]}",
        "tags": [spec.tag] if spec.tag else [],
        "security": SECURITY[spec.auth],
        "parameters": [
            {"name": name, "in": "path", "required": True,
             "description": f"An id that can not exist answers 404 with `field: {to_camel(name)}`",
             "schema": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": f"^{PATH_ID}$"}}
            for name in spec.path_params
        ],
        "responses": {},
    }
    for header in spec.headers:
        operation["parameters"].append({
            "name": header.name, "in": "header", "required": True, "description": header.description,
            "schema": {"type": "string", "minLength": 1, "maxLength": header.max_length, "pattern": header.pattern}})
    if spec.query is not None:
        query_schema = spec.query.model_json_schema(by_alias=True, ref_template=REF)
        _tidy(query_schema["properties"], request=False)
        for name, schema in query_schema["properties"].items():
            parameter = {"name": name, "in": "query", "required": name in query_schema.get("required", []),
                         "schema": schema}
            if "description" in schema:
                parameter["description"] = schema["description"]
            operation["parameters"].append(parameter)
    if spec.request is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _schema_ref(spec.request)}},
        }
    success: dict[str, Any] = {"description": STATUS_TEXT.get(spec.status, "OK"), "headers": _success_headers(spec)}
    if spec.response is not None:
        success["content"] = {"application/json": {"schema": _schema_ref(spec.response)}}
    for media_type, schema in spec.also_as:
        success.setdefault("content", {})[media_type] = {"schema": schema}
    if links := _links(spec):
        success["links"] = links
    operation["responses"][str(spec.status)] = success
    for status in spec.also_status:
        operation["responses"][str(status)] = {**success, "description": STATUS_TEXT.get(status, "OK")}
    for status in spec.errors:
        operation["responses"][str(status)] = _error_response(spec, status, codes_by_status.get(status, []))
    return operation


def _schemas() -> dict[str, Any]:
    models: set[type[BaseModel]] = {Problem, ProblemError, *EVENT_MODELS.values()}
    for spec in ROUTES:
        models.update(_models_of(spec.request))
        models.update(_models_of(spec.response))
    # Requests validate by alias in "validation" mode; responses serialise by alias.
    ordered = sorted(models, key=lambda m: m.__name__)
    _, top = models_json_schema([(m, "validation" if _is_request(m) else "serialization") for m in ordered],
                                by_alias=True, ref_template=REF)
    schemas = top.get("$defs", {})
    for model in ordered:
        _tidy(schemas[model.__name__].get("properties", {}), request=_is_request(model))
    listed = problem_types()
    schemas["Problem"]["x-problem-types"] = listed
    schemas["Problem"]["properties"]["type"]["description"] = (
        "The problem type, a URI; one of: " + ", ".join(f"{p['type']} ({p['status']})" for p in listed))
    return schemas


WEBHOOK_HEADERS = {
    "webhook-id": "The event's id: the same on every attempt, so a receiver can drop one it has seen",
    "webhook-timestamp": "Unix seconds of this attempt (refuse ones far from now: replays)",
    "webhook-signature": "`v1,<base64 HMAC-SHA256 of id.timestamp.body>` per signing secret, space separated "
                         "(two during a secret's rotation)",
}
WEBHOOKS_DESCRIPTION = """Sent as a POST to each enabled endpoint subscribed to the type, signed per Standard
Webhooks (https://www.standardwebhooks.com): verify `webhook-signature` with the endpoint's secret
before trusting the body. At least once: an attempt that does not get a 2xx within 15 s (a 3xx
included; redirects are not followed) is retried after about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and
10 h (each give or take 10 %), later if a 429 or 503 asks so with Retry-After, with the same
`webhook-id`. A 410 disables the endpoint at once; so do 5 days without a success. Events of one
object can arrive out of order: keep the highest `data.sequence` seen per object."""


def _webhooks() -> dict[str, Any]:
    return {
        event_type: {"post": {
            "summary": (model.__doc__ or "").strip(),
            "description": WEBHOOKS_DESCRIPTION,
            "operationId": "webhook_" + event_type.replace(".", "_"),
            "tags": ["webhooks"],
            "parameters": [{"name": name, "in": "header", "required": True, "description": text,
                            "schema": {"type": "string"}} for name, text in WEBHOOK_HEADERS.items()],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": _schema_ref(model)}}},
            "responses": {"2XX": {"description": "Received: not sent again"},
                          "410": {"description": "Gone: the endpoint is disabled at once"},
                          "default": {"description": "Anything else, or no answer within 15 s: sent again later"}},
        }} for event_type, model in EVENT_MODELS.items()
    }


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    codes_by_status = _codes_by_status()
    paths: dict[str, Any] = {}
    for spec in ROUTES:
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec, codes_by_status)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Livedrop API", "version": "1.0.0",
                 "description": INFO_DESCRIPTION.format(allowed=cors_allowed_headers(),
                                                        exposed=", ".join(CORS_EXPOSED_HEADERS)),
                 "contact": {"name": "Livedrop", "url": "https://livedrop.dev"},
                 "license": {"name": "Proprietary"}},  # the repository names no licence yet
        "servers": [{"url": "/"}],
        "tags": TAGS,
        "paths": paths,
        "webhooks": _webhooks(),
        "x-problem-types": problem_types(),
        "components": {
            "schemas": _schemas(),
            "responses": {
                "MethodNotAllowed": {
                    "description": "The path does not take this method (" + ", ".join(
                        f"`{c}`" for c in codes_by_status[405]) + ")",
                    "headers": {"Allow": _header("The methods the path takes", {"type": "string"})},
                    "content": {"application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}}},
                },
            },
            "securitySchemes": {
                "operatorKey": {"type": "http", "scheme": "bearer", "description": "The operator key"},
                "brandKey": {"type": "http", "scheme": "bearer", "description": "A brand's API key"},
                "shopperToken": {"type": "http", "scheme": "bearer",
                                 "description": "A token from POST /v1/shoppers or POST /v1/shoppers/verified"},
                "cognitoIdToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                   "description": "An ID token (not an access token) of the deployment's Cognito "
                                                  "user pool, issued to one of its allowed app clients"},
            },
        },
    }
