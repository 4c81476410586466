"""How a route is declared, once, for both Chalice and the OpenAPI document.

`api_route` registers a thin handler with Chalice and records its contract (auth, request and
response models, query model, path ids, required headers, caching, error statuses) for
chalicelib/api/openapi.py. Around every handler it does what no handler should repeat:
authentication, bounded path ids, required headers, the body size and media type, parsing through
the request model, and mapping domain errors to problem+json.

`install_edge` adds what every HTTP answer needs whoever produced it (a handler, a CORS preflight,
Chalice's own 405): CORS headers and the caching headers of the route's rule.
"""
from __future__ import annotations

import functools
import inspect
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping, get_args

from chalice import CognitoUserPoolAuthorizer, Response
from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_camel

from chalicelib.api.problems import PayloadTooLarge, UnsupportedMediaType, error_response, invalid_input
from chalicelib.bootstrap import is_transient, services
from chalicelib.domain.errors import InvalidInput, NotFound
from chalicelib.domain.records import Brand
from chalicelib.domain.shopper_tokens import is_shopper_token
from chalicelib.observability import logger
from chalicelib.settings import get_settings

# "id-token": the identity provider's ID token (a JWT), which the route itself verifies and exchanges.
Auth = Literal["public", "operator", "brand", "optional-brand", "shopper", "shopper-or-brand", "id-token"]
MAX_BODY_BYTES = 64 * 1024
JSON_TYPE = re.compile(r"^application/([\w.+-]+\+)?json\s*(;.*)?$", re.IGNORECASE)

# Every id in a path. Ours are 26 to 28 characters; DynamoDB refuses keys over 2 KB, so a longer
# or stranger one could only fail deeper down.
PATH_ID = "[A-Za-z0-9_-]{1,64}"

# Who calls a route from a browser: a shop front-end, or the brands' console (CORS origins of each
# come from the settings). Routes that take either credential are called from both.
AUDIENCES: dict[str, frozenset[str]] = {
    "public": frozenset({"shop"}), "shopper": frozenset({"shop"}),
    "operator": frozenset({"console"}), "brand": frozenset({"console"}),
    "optional-brand": frozenset({"shop", "console"}), "shopper-or-brand": frozenset({"shop", "console"}),
    "id-token": frozenset({"shop"}),
}
ERROR_CACHE_CONTROL = "no-store"  # a refusal is about one request at one moment
DEFAULT_MAX_AGE = 5
CORS_EXPOSED_HEADERS = ("Idempotent-Replayed", "Retry-After")
CORS_MAX_AGE_SECONDS = 600


def cache_rule(auth: Auth, method: str, secret: bool, max_age: int) -> str:
    """The Cache-Control of a route's success, the one rule for every route: an answer carrying a
    secret is never stored; one that depends on the credential is for that client alone and
    revalidated; a public read may be served by any cache for `max_age` seconds; anything else is
    a write, not stored."""
    if secret:
        return "no-store"
    if auth != "public":
        return "private, no-cache"
    return f"public, max-age={max_age}" if method == "GET" else "no-store"


@dataclass(frozen=True)
class HeaderSpec:
    """A required request header: the same rule checks it and describes it in the document."""
    name: str
    description: str
    chars: str = "[!-~]"  # visible ASCII: what every HTTP stack carries unchanged
    max_length: int = 255

    @property
    def pattern(self) -> str:
        return f"^{self.chars}{{1,{self.max_length}}}$"

    def read(self, request) -> str:
        value = (request.headers.get(self.name) or "").strip(" \t")  # HTTP's own whitespace, no other
        if not re.fullmatch(f"{self.chars}{{1,{self.max_length}}}", value):
            raise InvalidInput(f"the {self.name} header is required (1 to {self.max_length} visible ASCII characters)",
                               [{"field": self.name, "message": "missing or invalid header"}])
        return value


@dataclass(frozen=True)
class RouteSpec:
    method: str
    path: str
    summary: str
    description: str
    auth: Auth
    status: int
    request: type[BaseModel] | None
    response: type[BaseModel] | None
    query: type[BaseModel] | None
    errors: tuple[int, ...]
    tag: str
    headers: tuple[HeaderSpec, ...] = ()
    cache_control: str = "no-store"  # of a success (see cache_rule); errors are ERROR_CACHE_CONTROL
    response_headers: tuple[tuple, ...] = ()  # a success's own: (name, description, JSON schema[, required])
    also_as: tuple[tuple[str, dict], ...] = ()  # other media types of a success: (type, JSON schema)
    also_status: tuple[int, ...] = ()  # other success statuses, with the same answer (an idempotent create's 200)

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)

    @property
    def varies_by_credential(self) -> bool:
        return self.auth != "public"


ROUTES: list[RouteSpec] = []


def build_crowd_models() -> None:
    """Build the models of the routes a show's viewers and shoppers call (public and shopper
    auth), and the problem answer's, now: Lambda's init phase rather than a buyer's first request.
    The back office's stay deferred to their first use (schemas.DEFERRED)."""
    from chalicelib.api.schemas import Problem

    pending = [Problem, *(model for spec in ROUTES if spec.auth in ("public", "shopper")
                          for model in (spec.request, spec.response, spec.query) if model is not None)]
    built: set[type[BaseModel]] = set()
    while pending:  # with the models in their fields: a handler builds a nested view on its own too
        model = pending.pop()
        if model in built:
            continue
        model.model_rebuild()
        built.add(model)
        pending += [nested for field in model.model_fields.values() for nested in _models_in(field.annotation)]


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for argument in get_args(annotation) for model in _models_in(argument)]


@dataclass
class ApiRequest:
    """What a handler needs from the request, already checked."""
    raw: Any
    brand: Brand | None = None
    shopper_id: str | None = None
    shopper_verified: bool = False  # the shopper's token is a verified one (`shv.`): one person
    body: Any = None
    query: Any = None
    path: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def client_address(self) -> str | None:
        """The client's address as API Gateway saw the connection (None where there is none).
        Never X-Forwarded-For: any client writes that header as it likes."""
        identity = (getattr(self.raw, "context", None) or {}).get("identity") or {}
        return identity.get("sourceIp") or None


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


def parse_query(request, model: type[BaseModel]) -> BaseModel:
    try:
        return model.model_validate(dict(request.query_params or {}))
    except ValidationError as error:
        raise invalid_input(error, "query") from None


def check_path_ids(path_params: dict[str, str]) -> None:
    """An id that can not exist is reported as a missing one, before it reaches a key."""
    for name, value in path_params.items():
        if not re.fullmatch(PATH_ID, value or ""):
            kind = name.removesuffix("_id")
            raise NotFound(kind, "", field=to_camel(name), detail=f"no {kind} has this id")


def _authenticate_shopper(req: ApiRequest, token: str | None) -> None:
    shopper = services().shoppers.authenticate(token)
    req.shopper_id, req.shopper_verified = shopper.id, shopper.verified


def authenticate(req: ApiRequest, auth: Auth) -> None:
    """Who calls, from the bearer credential the route's auth kind takes. An "id-token" route is
    left to its handler: verifying the ID token is what the route does (Shoppers.register_verified)."""
    token = bearer_token(req.raw)
    if auth == "operator":
        services().brands.authorize_operator(token)
    elif auth == "shopper-or-brand":
        # A brand key and a shopper token are told apart by their prefix.
        if token is not None and token.startswith("ldk."):
            req.brand = services().brands.authenticate(token)
        else:
            _authenticate_shopper(req, token)
    elif auth == "shopper":
        _authenticate_shopper(req, token)
    elif auth == "optional-brand":
        # A shopper's token (of either kind) says nothing to a brand route: the shopper sees the public view.
        if req.raw.headers.get("authorization") and not is_shopper_token(token):
            req.brand = services().brands.authenticate(token)
    elif auth == "brand":
        req.brand = services().brands.authenticate(token)


USER_POOL_ARN = re.compile(r"arn:aws[\w-]*:cognito-idp:[a-z0-9-]+:\d{12}:userpool/[\w-]+_[0-9A-Za-z]+")


def user_pool_authorizer(env: Mapping[str, str] = os.environ) -> CognitoUserPoolAuthorizer | None:
    """API Gateway's check of the user pool's tokens, when LIVEDROP_COGNITO_USER_POOL_ARN is set
    where the app is imported to be deployed (as the stream ARNs in app.py are); else None. It
    refuses bad tokens before the function runs; the function verifies them all the same, since
    `chalice local` and the test client run no Cognito authorizer."""
    arn = env.get("LIVEDROP_COGNITO_USER_POOL_ARN")
    if not arn:
        return None
    if not USER_POOL_ARN.fullmatch(arn):
        raise ValueError(f"LIVEDROP_COGNITO_USER_POOL_ARN={arn!r} is not a Cognito user pool ARN")
    return CognitoUserPoolAuthorizer("shoppers", provider_arns=[arn])


def api_route(app, path: str, method: str, *, summary: str, auth: Auth, status: int = 200,
              request: type[BaseModel] | None = None, response: type[BaseModel] | None = None,
              query: type[BaseModel] | None = None, errors: tuple[int, ...] = (), tag: str = "",
              headers: tuple[HeaderSpec, ...] = (), secret: bool = False, max_age: int = DEFAULT_MAX_AGE,
              response_headers: tuple[tuple, ...] = (), also_as: tuple[tuple[str, dict], ...] = (),
              authorizer: Any = None, also_status: tuple[int, ...] = ()):
    """Register `handler(req: ApiRequest) -> BaseModel | Response | None` at `method path`.

    The handler's docstring is the operation's description. `secret=True`: the answer carries a
    credential (never stored by any cache); `max_age`: how long a cache may serve a public read.
    `authorizer`: a Chalice authorizer API Gateway runs before the function (deployed only)."""
    implied = {400} if request or query or headers else set()
    implied |= {401} if auth != "public" else set()
    implied |= {404} if "{" in path else set()
    implied |= {413, 415} if request else set()
    implied |= {503}  # a backing AWS service throttled or failed: retry later

    def register(handler: Callable[[ApiRequest], BaseModel | None]):
        description = inspect.getdoc(handler)
        if not description:
            raise TypeError(f"{handler.__name__}: its docstring is the OpenAPI description; write one")
        spec = RouteSpec(method, path, summary, description, auth, status, request, response, query,
                         tuple(sorted(implied | set(errors))), tag, headers, cache_rule(auth, method, secret, max_age),
                         response_headers, also_as, also_status)
        ROUTES.append(spec)

        @functools.wraps(handler)
        def view(**path_params: str) -> Response:
            raw = app.current_request
            try:
                req = ApiRequest(raw=raw, path=path_params)
                authenticate(req, auth)
                check_path_ids(path_params)
                if query is not None:
                    req.query = parse_query(raw, query)
                if request is not None:
                    req.body = parse_body(raw, request)
                req.headers = {header.name: header.read(raw) for header in headers}
                result = handler(req)
            except Exception as error:
                return error_response(error, is_transient, logger)
            if isinstance(result, Response):
                return result
            body = "" if result is None else result.model_dump(mode="json", by_alias=True)
            return Response(body=body, status_code=status, headers={"Content-Type": "application/json"})

        # Media types are checked above, so that a wrong one gets problem+json, not Chalice's own 415.
        app.route(path, methods=[method], content_types=["*/*"], authorizer=authorizer)(view)
        return handler

    return register


# --- the edge: CORS and caching on every answer ----------------------------------------------------


_by_path: dict[int, dict[str, dict[str, RouteSpec]]] = {}


def routes_by_path() -> dict[str, dict[str, RouteSpec]]:
    """Each path's routes by method; built once per set of registered routes, not per request."""
    if len(ROUTES) not in _by_path:
        by_path: dict[str, dict[str, RouteSpec]] = {}
        for spec in ROUTES:
            by_path.setdefault(spec.path, {})[spec.method] = spec
        _by_path.clear()
        _by_path[len(ROUTES)] = by_path
    return _by_path[len(ROUTES)]


def cors_allowed_headers() -> str:
    """What a browser may send: the credential, the JSON body's type, and every declared header."""
    names = ["Authorization", "Content-Type"]
    names += sorted({header.name for spec in ROUTES for header in spec.headers})
    return ", ".join(names)


def allowed_origin(audiences: frozenset[str], origin: str | None) -> tuple[str | None, bool]:
    """(the Access-Control-Allow-Origin to send, if any; whether the answer depends on Origin)."""
    allowed = {o for audience in audiences for o in get_settings().cors_origins.get(audience, ())}
    if "*" in allowed:
        return "*", False
    return (origin if origin in allowed else None), True


def _add_vary(headers: dict[str, str], names: list[str]) -> None:
    present = [v.strip() for v in headers.get("Vary", "").split(",") if v.strip()]
    merged = present + [name for name in names if name.lower() not in {p.lower() for p in present}]
    if merged:
        headers["Vary"] = ", ".join(merged)


def edge_headers(event, get_response):
    """Chalice http middleware: CORS and Cache-Control/Vary on every answer, errors included (a
    browser can read no error without them). A preflight takes the rule of the method it asks
    about; a method the path does not have (405) takes those of all the path's routes."""
    response = get_response(event)
    on_path = routes_by_path().get((getattr(event, "context", None) or {}).get("resourcePath"), {})
    asked = (event.headers.get("access-control-request-method") or "").upper() if event.method == "OPTIONS" else ""
    spec = on_path.get(asked or event.method)
    specs = [spec] if spec else list(on_path.values())
    origin, varies_by_origin = allowed_origin(frozenset().union(*(AUDIENCES[s.auth] for s in specs)),
                                              event.headers.get("origin"))
    headers = dict(response.headers)
    if origin:
        headers["Access-Control-Allow-Origin"] = origin
    vary = ["Origin"] if varies_by_origin else []
    if event.method != "OPTIONS":
        if origin:
            headers["Access-Control-Expose-Headers"] = ", ".join(CORS_EXPOSED_HEADERS)
        ok = spec is not None and response.status_code < 400
        headers["Cache-Control"] = spec.cache_control if ok else ERROR_CACHE_CONTROL
        vary = (["Authorization"] if any(s.varies_by_credential for s in specs) else []) + vary
    _add_vary(headers, vary)
    response.headers = headers
    return response


def _preflight(path: str, methods: list[str]):
    allow = ", ".join(methods + ["OPTIONS"])

    def preflight(**_path_params: str) -> Response:
        # Origin, Vary and caching are added by edge_headers, as on every answer.
        return Response(body="", status_code=204, headers={
            "Allow": allow, "Access-Control-Allow-Methods": allow,
            "Access-Control-Allow-Headers": cors_allowed_headers(),
            "Access-Control-Max-Age": str(CORS_MAX_AGE_SECONDS)})

    preflight.__name__ = "preflight" + re.sub(r"\W+", "_", path)
    return preflight


def install_edge(app) -> None:
    """CORS preflights answered by the function (API Gateway then deploys an OPTIONS method per
    path; Chalice's own CORSConfig takes a single origin), and the edge headers on every answer."""
    app.register_middleware(edge_headers, "http")
    for path, on_path in routes_by_path().items():
        app.route(path, methods=["OPTIONS"], content_types=["*/*"])(_preflight(path, sorted(on_path)))
