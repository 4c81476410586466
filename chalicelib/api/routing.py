"""How a route is declared, once, for both Chalice and the OpenAPI document.

`api_route` registers a thin handler with Chalice and records its contract (auth, request and
response models, query model, error statuses) for chalicelib/api/openapi.py. Around every handler
it does what no handler should repeat: authentication, the body size and media type, parsing
through the request model, and mapping domain errors to problem+json.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from chalice import Response
from pydantic import BaseModel, ValidationError

from chalicelib.api.problems import PayloadTooLarge, UnsupportedMediaType, error_response, invalid_input
from chalicelib.bootstrap import is_transient, services
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.records import Brand
from chalicelib.observability import logger

Auth = Literal["public", "operator", "brand", "optional-brand", "shopper", "shopper-or-brand"]
MAX_BODY_BYTES = 64 * 1024
JSON_TYPE = re.compile(r"^application/([\w.+-]+\+)?json\s*(;.*)?$", re.IGNORECASE)


@dataclass(frozen=True)
class RouteSpec:
    method: str
    path: str
    summary: str
    auth: Auth
    status: int
    request: type[BaseModel] | None
    response: type[BaseModel] | None
    query: type[BaseModel] | None
    errors: tuple[int, ...]
    tag: str
    headers: tuple[tuple[str, str], ...] = ()  # required request headers: (name, description)


ROUTES: list[RouteSpec] = []


@dataclass
class ApiRequest:
    """What a handler needs from the request, already checked."""
    raw: Any
    brand: Brand | None = None
    shopper_id: str | None = None
    body: Any = None
    query: Any = None
    path: dict[str, str] = field(default_factory=dict)


def bearer_token(request) -> str | None:
    header = request.headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def parse_body(request, model: type[BaseModel]) -> BaseModel:
    raw = request.raw_body or b""
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the body is larger than {MAX_BODY_BYTES} bytes")
    content_type = request.headers.get("content-type")
    if content_type and not JSON_TYPE.match(content_type):
        raise UnsupportedMediaType(f"send application/json, not {content_type}")
    try:
        return model.model_validate_json(raw or b"")
    except ValidationError as error:
        raise invalid_input(error, "body") from None


def required_header(request, name: str, max_length: int = 255) -> str:
    value = (request.headers.get(name) or "").strip()
    if not value or len(value) > max_length or not value.isprintable():
        raise InvalidInput(f"the {name} header is required (1 to {max_length} printable characters)",
                           [{"field": name, "message": "missing or invalid header"}])
    return value


def parse_query(request, model: type[BaseModel]) -> BaseModel:
    try:
        return model.model_validate(dict(request.query_params or {}))
    except ValidationError as error:
        raise invalid_input(error, "query") from None


def authenticate(req: ApiRequest, auth: Auth) -> None:
    token = bearer_token(req.raw)
    if auth == "operator":
        services().brands.authorize_operator(token)
    elif auth == "shopper-or-brand":
        # A brand key and a shopper token are told apart by their prefix.
        if token is not None and token.startswith("ldk."):
            req.brand = services().brands.authenticate(token)
        else:
            req.shopper_id = services().shoppers.authenticate(token)
    elif auth == "shopper":
        req.shopper_id = services().shoppers.authenticate(token)
    elif auth == "brand" or (auth == "optional-brand" and req.raw.headers.get("authorization")):
        req.brand = services().brands.authenticate(token)


def api_route(app, path: str, method: str, *, summary: str, auth: Auth, status: int = 200,
              request: type[BaseModel] | None = None, response: type[BaseModel] | None = None,
              query: type[BaseModel] | None = None, errors: tuple[int, ...] = (), tag: str = "",
              headers: tuple[tuple[str, str], ...] = ()):
    """Register `handler(req: ApiRequest) -> BaseModel | Response | None` at `method path`."""
    implied = {400} if request or query else set()
    implied |= {401} if auth != "public" else set()
    implied |= {404} if "{" in path else set()
    implied |= {413, 415} if request else set()
    implied |= {503}  # a backing AWS service throttled or failed: retry later
    spec = RouteSpec(method, path, summary, auth, status, request, response, query,
                     tuple(sorted(implied | set(errors))), tag, headers)
    ROUTES.append(spec)

    def register(handler: Callable[[ApiRequest], BaseModel | None]):
        @functools.wraps(handler)
        def view(**path_params: str) -> Response:
            raw = app.current_request
            try:
                req = ApiRequest(raw=raw, path=path_params)
                authenticate(req, auth)
                if query is not None:
                    req.query = parse_query(raw, query)
                if request is not None:
                    req.body = parse_body(raw, request)
                result = handler(req)
            except Exception as error:
                return error_response(error, is_transient, logger)
            if isinstance(result, Response):
                return result
            body = "" if result is None else result.model_dump(mode="json", by_alias=True)
            return Response(body=body, status_code=status, headers={"Content-Type": "application/json"})

        # Media types are checked above, so that a wrong one gets problem+json, not Chalice's own 415.
        app.route(path, methods=[method], content_types=["*/*"])(view)
        return handler

    return register
