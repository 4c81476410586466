"""A local fake of Stripe's PaymentIntents and Refunds API, for the tests (not shipped).

`start_fake_stripe()` serves it on 127.0.0.1 (a free port, a daemon thread); point Stripe's SDK at
`fake.url` (StripeClient base_addresses={"api": fake.url}). It speaks the SDK's form encoding
(`metadata[order_id]=...`, `automatic_payment_methods[enabled]=true`) and answers JSON shaped like
Stripe's objects and errors, with Stripe's state machine for manual capture, its idempotency keys
(same key and parameters: the first answer replayed, with `Idempotent-Replayed: true`; same key,
other parameters: 400 idempotency_error) and its test payment methods:

    pm_card_visa (or any other pm_card_*)      -> requires_capture
    pm_card_chargeDeclined                     -> 402 card_error, generic_decline
    pm_card_chargeDeclinedInsufficientFunds    -> 402 card_error, insufficient_funds
    pm_card_chargeDeclinedExpiredCard          -> 402 card_error, expired_card
    pm_card_threeDSecure2Required              -> requires_action

Stripe.js's side too, as a browser calls it: a PaymentIntent is confirmed (POST
/v1/payment_intents/{id}/confirm) or read (GET /v1/payment_intents/{id}) with the publishable key
as the `key` form field (or a `pk_test_` bearer) and the intent's `client_secret`; nothing else is
open to a publishable key, and what it reads leaves out the metadata, as Stripe's restricted view
does. Every answer carries CORS headers for the request's Origin, and preflights are answered, so a
page on another loopback origin can call it (tests/browser/fake_stripe_js.js does).

Test controls (thread-safe): `calls`, `intent(id)`, `authorize(id)`, `decline(id)`,
`set_status(id, status)`, `fail_next(n, status)`, `drop_next_response()`, `event(type, intent_id)`,
`sign(body, secret, t)` and `on_request(hook)` (a hook sees each request before it is carried out,
outside the fake's lock, so it may call the system under test; what it raises is kept in
`hook_errors`). Only the standard library: the fake does not lean on the SDK it tests.
"""
from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

LOOPBACK = "127.0.0.1"
API_VERSION = "2026-10-28.endive"  # what stripe==16.1.0 sends and expects

CONFIRMABLE = {"requires_payment_method", "requires_confirmation", "requires_action"}
CANCELABLE = {"requires_payment_method", "requires_confirmation", "requires_action", "requires_capture"}
CANCELLATION_REASONS = {"duplicate", "fraudulent", "requested_by_customer", "abandoned"}
DECLINES = {  # test payment method -> (code, decline_code, message)
    "pm_card_chargeDeclined": ("card_declined", "generic_decline", "Your card was declined."),
    "pm_card_chargeDeclinedInsufficientFunds": ("card_declined", "insufficient_funds",
                                                "Your card has insufficient funds."),
    "pm_card_chargeDeclinedExpiredCard": ("expired_card", "expired_card", "Your card has expired."),
}
REQUIRES_ACTION = {"pm_card_threeDSecure2Required", "pm_card_authenticationRequired"}
PUBLISHABLE_ONLY = ("This API call cannot be made with a publishable API key. Please use a secret API key. You can "
                    "find a list of your API keys at https://dashboard.stripe.com/account/apikeys.")


def sign(body: bytes | str, secret: str, t: int | None = None) -> str:
    """A Stripe-Signature header for `body`: t=<unix>,v1=<hex HMAC-SHA256(secret, "{t}.{body}")>."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    t = int(time.time()) if t is None else t
    mac = hmac.new(secret.encode("utf-8"), f"{t}.{text}".encode("utf-8"), hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def parse_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding back into nested dicts: a[b][c]=v -> {"a": {"b": {"c": "v"}}}.
    Values stay strings, as on the wire (list indexes become dict keys "0", "1", ...)."""
    params: dict[str, Any] = {}
    for key, value in pairs:
        parts = [key.split("[", 1)[0], *re.findall(r"\[([^\]]*)\]", key)]
        node = params
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[parts[-1]] = value
    return params


class StripeFailure(Exception):
    """An error answer: HTTP status and Stripe's error object."""

    def __init__(self, status: int, type_: str, message: str, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.error = {"type": type_, "message": message, **({"code": code} if code else {}), **extra}


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


class _SpikeSizedServer(ThreadingHTTPServer):
    """A listen backlog for a spike (socketserver's default is 5): 32 payments reaching for Stripe
    at once must not have their connections dropped and retried a second later (CI saw a 503)."""
    request_queue_size = 1024
    daemon_threads = True


class FakeStripe:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._intents: dict[str, dict[str, Any]] = {}
        self._refunds: list[dict[str, Any]] = []
        self._idempotent: dict[str, tuple[str, str, dict[str, Any], int, dict[str, Any]]] = {}
        self._calls: list[tuple[str, str, dict[str, Any], str | None]] = []
        self._failures: list[int] = []
        self._drops = 0
        self._hooks: list[Callable[[str, str, dict[str, Any]], None]] = []
        self.hook_errors: list[BaseException] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # --- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> "FakeStripe":
        fake = self

        class Handler(_Handler):
            pass

        Handler.fake = fake
        self._server = _SpikeSizedServer((LOOPBACK, 0), Handler)
        self.url = f"http://{LOOPBACK}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-stripe", daemon=True)  # a short poll: stop() is quick
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # --- test controls ------------------------------------------------------------------------------

    @property
    def calls(self) -> list[tuple[str, str, dict[str, Any], str | None]]:
        """Every request seen, in order: (method, path, params, Idempotency-Key or None)."""
        with self._lock:
            return list(self._calls)

    def intent(self, intent_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._intents[intent_id])

    def intent_ids(self) -> list[str]:
        """The PaymentIntents created so far, oldest first."""
        with self._lock:
            return list(self._intents)

    def authorize(self, intent_id: str, payment_method: str = "pm_card_visa") -> dict[str, Any]:
        """As if Stripe.js confirmed the intent with a good card: requires_capture."""
        with self._lock:
            intent = self._intents[intent_id]
            self._authorized(intent, payment_method)
            return copy.deepcopy(intent)

    def decline(self, intent_id: str, payment_method: str = "pm_card_chargeDeclined") -> dict[str, Any]:
        """As if Stripe.js confirmed the intent and the card was declined."""
        with self._lock:
            intent = self._intents[intent_id]
            self._declined(intent, payment_method)
            return copy.deepcopy(intent)

    def set_status(self, intent_id: str, status: str) -> dict[str, Any]:
        """Put the intent in any status, with the amounts Stripe would show in it."""
        with self._lock:
            intent = self._intents[intent_id]
            intent["status"] = status
            intent["amount_capturable"] = intent["amount"] if status == "requires_capture" else 0
            if status == "succeeded":
                intent["amount_received"] = intent["amount"]
                intent["latest_charge"] = intent["latest_charge"] or _id("ch")
            if status == "canceled":
                intent["cancellation_reason"] = intent["cancellation_reason"] or "requested_by_customer"
            return copy.deepcopy(intent)

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        """The next n requests answer `status` (5xx, or 429) without doing anything."""
        with self._lock:
            self._failures.extend([status] * n)

    def drop_next_response(self) -> None:
        """The next request is carried out, then its connection closed without an answer."""
        with self._lock:
            self._drops += 1

    def event(self, type_: str, intent_id: str | None) -> bytes:
        """A Stripe event's body about the intent as it now is (a bare object when intent_id is None)."""
        with self._lock:
            subject = copy.deepcopy(self._intents[intent_id]) if intent_id else {"id": _id("ch"), "object": "charge"}
        return json.dumps({
            "id": _id("evt"), "object": "event", "api_version": API_VERSION, "created": int(time.time()),
            "data": {"object": subject}, "livemode": False, "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None}, "type": type_,
        }).encode()

    sign = staticmethod(sign)

    def on_request(self, hook: Callable[[str, str, dict[str, Any]], None]) -> None:
        """`hook(method, path, params)` runs before each request is carried out (not preflights),
        outside the lock: it may block the request, or call the API that sent it."""
        with self._lock:
            self._hooks.append(hook)

    # --- the API ------------------------------------------------------------------------------------

    def handle(self, method: str, path: str, params: dict[str, Any], headers: dict[str, str]
               ) -> tuple[int, dict[str, Any], dict[str, str], bool]:
        """(status, body, extra headers, drop the answer)."""
        key = headers.get("idempotency-key")
        with self._lock:
            hooks = list(self._hooks)
        for hook in hooks:
            try:
                hook(method, path, copy.deepcopy(params))
            except Exception as error:  # noqa: BLE001 - kept for the test to see; the request goes on
                with self._lock:
                    self.hook_errors.append(error)
        with self._lock:
            self._calls.append((method, path, copy.deepcopy(params), key))
            drop = self._drops > 0
            if drop:
                self._drops -= 1
            if self._failures:
                status = self._failures.pop(0)
                code = "rate_limit" if status == 429 else None
                kind = "invalid_request_error" if status == 429 else "api_error"
                return status, {"error": {"type": kind, "message": "Injected failure.",
                                          **({"code": code} if code else {})}}, {}, drop
            try:
                publishable = self._authenticate(headers.get("authorization", ""), params)
                if method == "POST" and key:
                    stored = self._idempotent.get(key)
                    if stored is not None:
                        if stored[:3] != (method, path, params):
                            raise StripeFailure(
                                400, "idempotency_error",
                                "Keys for idempotent requests can only be used with the same parameters they "
                                "were first used with. Try using a key other than "
                                f"'{key}' if you meant to execute a different request.")
                        return stored[3], copy.deepcopy(stored[4]), {"Idempotent-Replayed": "true"}, drop
                try:
                    route = self._route_publishable if publishable else self._route
                    status, body = 200, route(method, path, params)
                except StripeFailure as failure:
                    status, body = failure.status, {"error": failure.error}
                if method == "POST" and key and status < 500:
                    self._idempotent[key] = (method, path, copy.deepcopy(params), status, copy.deepcopy(body))
                return status, body, {}, drop
            except StripeFailure as failure:
                return failure.status, {"error": failure.error}, {}, drop

    def _authenticate(self, authorization: str, params: dict[str, Any]) -> bool:
        """The request's key: a secret key (False) or a publishable one (True). Stripe.js sends
        the publishable key as the `key` form field; a bearer may be either."""
        bearer = authorization.startswith("Bearer ")
        if bearer:
            api_key = authorization[len("Bearer "):]
        elif not authorization and isinstance(params.get("key"), str):
            api_key = params["key"]
        else:
            raise StripeFailure(401, "invalid_request_error",
                                "You did not provide an API key. You need to provide your API key in the "
                                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').")
        if bearer and re.fullmatch(r"sk_test_\w+", api_key):
            return False
        if re.fullmatch(r"pk_test_\w+", api_key):
            return True
        masked = api_key[:8] + "*" * max(len(api_key) - 12, 0) + api_key[-4:]
        raise StripeFailure(401, "invalid_request_error", f"Invalid API Key provided: {masked}")

    def _route_publishable(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        """What Stripe.js may do with the publishable key: confirm or read a PaymentIntent whose
        client_secret it holds, and see it without its metadata."""
        parts = path.strip("/").split("/")
        confirm = method == "POST" and len(parts) == 4 and parts[3] == "confirm"
        read = method == "GET" and len(parts) == 3
        if parts[:2] != ["v1", "payment_intents"] or not (confirm or read):
            raise StripeFailure(401, "invalid_request_error", PUBLISHABLE_ONLY)
        intent = self._intents.get(parts[2])
        if intent is None:
            raise StripeFailure(404, "invalid_request_error", f"No such payment_intent: '{parts[2]}'",
                                "resource_missing", param="intent")
        if params.get("client_secret") != intent["client_secret"]:
            raise StripeFailure(400, "invalid_request_error",
                                "The client_secret provided does not match the client_secret associated with the "
                                "PaymentIntent.", "payment_intent_invalid_parameter", param="client_secret")
        if confirm:
            try:
                self._confirm(intent, {k: v for k, v in params.items() if k not in ("key", "client_secret")})
            except StripeFailure as failure:
                if "payment_intent" in failure.error:
                    failure.error["payment_intent"] = _restricted(intent)
                raise
        return _restricted(intent)

    def _route(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        parts = path.strip("/").split("/")
        if parts[:2] == ["v1", "payment_intents"]:
            if method == "POST" and len(parts) == 2:
                return self._create(params)
            if len(parts) >= 3:
                intent = self._intents.get(parts[2])
                if intent is None:
                    raise StripeFailure(404, "invalid_request_error", f"No such payment_intent: '{parts[2]}'",
                                        "resource_missing", param="intent")
                if method == "GET" and len(parts) == 3:
                    return copy.deepcopy(intent)
                if method == "POST" and len(parts) == 4 and parts[3] in ("confirm", "capture", "cancel"):
                    return getattr(self, "_" + parts[3])(intent, params)
        if parts == ["v1", "refunds"]:
            if method == "POST":
                return self._refund(params)
            if method == "GET":
                return self._list_refunds(params)
        raise StripeFailure(404, "invalid_request_error", f"Unrecognized request URL ({method}: {path}).")

    def _create(self, params: dict[str, Any]) -> dict[str, Any]:
        amount = _integer(params, "amount", required=True)
        currency = params.get("currency")
        if not isinstance(currency, str) or not re.fullmatch(r"[a-z]{3}", currency):
            raise StripeFailure(400, "invalid_request_error", "Missing or invalid currency.",
                                "parameter_missing" if currency is None else "parameter_invalid_string",
                                param="currency")
        capture_method = params.get("capture_method", "automatic_async")
        if capture_method not in ("automatic", "automatic_async", "manual"):
            raise StripeFailure(400, "invalid_request_error", "Invalid capture_method.", "parameter_invalid_string",
                                param="capture_method")
        metadata = params.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise StripeFailure(400, "invalid_request_error", "Invalid metadata.", "parameter_invalid_string",
                                param="metadata")
        automatic = params.get("automatic_payment_methods")
        intent_id = _id("pi")
        intent: dict[str, Any] = {
            "id": intent_id, "object": "payment_intent", "amount": amount, "amount_capturable": 0,
            "amount_received": 0, "automatic_payment_methods": (
                {"enabled": automatic.get("enabled") == "true", "allow_redirects": automatic.get("allow_redirects",
                                                                                                "always")}
                if isinstance(automatic, dict) else None),
            "cancellation_reason": None, "capture_method": capture_method,
            "client_secret": f"{intent_id}_secret_{secrets.token_urlsafe(18).replace('-', 'x').replace('_', 'y')}",
            "confirmation_method": "automatic", "created": int(time.time()), "currency": currency,
            "description": params.get("description"), "last_payment_error": None, "latest_charge": None,
            "livemode": False, "metadata": dict(metadata), "next_action": None, "payment_method": None,
            "payment_method_types": ["card"], "status": "requires_payment_method",
        }
        self._intents[intent_id] = intent
        if params.get("confirm") == "true":
            return self._confirm(intent, params)
        return copy.deepcopy(intent)

    def _confirm(self, intent: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        if intent["status"] not in CONFIRMABLE:
            raise self._unexpected(intent, f"You cannot confirm this PaymentIntent because it has a status of "
                                           f"{intent['status']}.")
        payment_method = params.get("payment_method") or intent["payment_method"]
        if not payment_method:
            raise self._unexpected(intent, "You cannot confirm this PaymentIntent because it's missing a payment "
                                           "method.")
        if not isinstance(payment_method, str) or not payment_method.startswith("pm_"):
            raise StripeFailure(400, "invalid_request_error", f"No such PaymentMethod: '{payment_method}'",
                                "resource_missing", param="payment_method")
        if payment_method in DECLINES:
            self._declined(intent, payment_method)
            error = dict(intent["last_payment_error"])
            error.pop("payment_method", None)
            raise StripeFailure(402, "card_error", error["message"], error["code"], decline_code=error["decline_code"],
                                charge=intent["latest_charge"], payment_intent=copy.deepcopy(intent))
        if payment_method in REQUIRES_ACTION:
            intent.update(status="requires_action", payment_method=payment_method, last_payment_error=None,
                          next_action={"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect"}})
            return copy.deepcopy(intent)
        self._authorized(intent, payment_method)
        return copy.deepcopy(intent)

    def _capture(self, intent: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        if intent["status"] != "requires_capture":
            raise self._unexpected(
                intent, f"This PaymentIntent could not be captured because it has a status of {intent['status']}. "
                        "Only a PaymentIntent with one of the following statuses may be captured: requires_capture.")
        amount = _integer(params, "amount_to_capture") if "amount_to_capture" in params else intent["amount_capturable"]
        if amount > intent["amount_capturable"]:
            raise StripeFailure(400, "invalid_request_error", "amount_to_capture is greater than amount_capturable.",
                                "amount_too_large", param="amount_to_capture")
        intent.update(status="succeeded", amount_received=amount, amount_capturable=0)
        return copy.deepcopy(intent)

    def _cancel(self, intent: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        reason = params.get("cancellation_reason")
        if reason is not None and reason not in CANCELLATION_REASONS:
            raise StripeFailure(400, "invalid_request_error", "Invalid cancellation_reason.",
                                "parameter_invalid_string", param="cancellation_reason")
        if intent["status"] not in CANCELABLE:
            raise self._unexpected(
                intent, f"You cannot cancel this PaymentIntent because it has a status of {intent['status']}. Only "
                        "a PaymentIntent with one of the following statuses may be canceled: requires_payment_method,"
                        " requires_capture, requires_confirmation, requires_action, processing.")
        intent.update(status="canceled", cancellation_reason=reason, amount_capturable=0, next_action=None)
        return copy.deepcopy(intent)

    def _refund(self, params: dict[str, Any]) -> dict[str, Any]:
        intent_id = params.get("payment_intent")
        intent = self._intents.get(intent_id) if isinstance(intent_id, str) else None
        if intent is None:
            raise StripeFailure(400, "invalid_request_error", f"No such payment_intent: '{intent_id}'",
                                "resource_missing", param="payment_intent")
        if intent["status"] != "succeeded":
            raise self._unexpected(intent, f"This PaymentIntent does not have a successful charge to refund (status "
                                           f"{intent['status']}).")
        refunded = sum(r["amount"] for r in self._refunds if r["payment_intent"] == intent["id"])
        remaining = intent["amount_received"] - refunded
        if remaining <= 0:
            raise StripeFailure(400, "invalid_request_error",
                                f"Charge {intent['latest_charge']} has already been refunded.",
                                "charge_already_refunded")
        amount = _integer(params, "amount") if "amount" in params else remaining
        if amount <= 0 or amount > remaining:
            raise StripeFailure(400, "invalid_request_error",
                                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
                                "amount_too_large", param="amount")
        refund = {
            "id": _id("re"), "object": "refund", "amount": amount, "charge": intent["latest_charge"],
            "created": int(time.time()), "currency": intent["currency"], "metadata": {},
            "payment_intent": intent["id"], "reason": params.get("reason"), "status": "succeeded",
        }
        self._refunds.append(refund)
        return copy.deepcopy(refund)

    def _list_refunds(self, params: dict[str, Any]) -> dict[str, Any]:
        intent_id = params.get("payment_intent")
        limit = _integer(params, "limit") if "limit" in params else 10
        found = [r for r in reversed(self._refunds) if intent_id is None or r["payment_intent"] == intent_id]
        return {"object": "list", "data": copy.deepcopy(found[:limit]), "has_more": len(found) > limit,
                "url": "/v1/refunds"}

    # --- state changes ------------------------------------------------------------------------------

    @staticmethod
    def _authorized(intent: dict[str, Any], payment_method: str) -> None:
        intent.update(status="requires_capture", payment_method=payment_method, last_payment_error=None,
                      next_action=None, amount_capturable=intent["amount"], latest_charge=_id("ch"))

    @staticmethod
    def _declined(intent: dict[str, Any], payment_method: str) -> None:
        code, decline_code, message = DECLINES.get(payment_method, DECLINES["pm_card_chargeDeclined"])
        intent.update(status="requires_payment_method", payment_method=None, next_action=None, amount_capturable=0,
                      latest_charge=_id("ch"), last_payment_error={
                          "type": "card_error", "code": code, "decline_code": decline_code, "message": message,
                          "payment_method": {"id": payment_method, "object": "payment_method", "type": "card"}})

    @staticmethod
    def _unexpected(intent: dict[str, Any], message: str) -> StripeFailure:
        return StripeFailure(400, "invalid_request_error", message, "payment_intent_unexpected_state",
                             payment_intent=copy.deepcopy(intent))


def _restricted(intent: dict[str, Any]) -> dict[str, Any]:
    """A PaymentIntent as a publishable key sees it: no metadata."""
    view = copy.deepcopy(intent)
    view.pop("metadata", None)
    return view


def _integer(params: dict[str, Any], name: str, required: bool = False) -> int:
    value = params.get(name)
    if value is None and required:
        raise StripeFailure(400, "invalid_request_error", f"Missing required param: {name}.", "parameter_missing",
                            param=name)
    if not isinstance(value, str) or not value.isdigit():
        raise StripeFailure(400, "invalid_request_error", f"Invalid integer: {value}", "parameter_invalid_integer",
                            param=name)
    return int(value)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeStripe
    server_version = "FakeStripe/1.0"

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_OPTIONS(self) -> None:
        """A browser's CORS preflight: any origin, the methods and headers Stripe.js may send."""
        self.send_response(204)
        self._cors()
        self.send_header("Access-Control-Allow-Methods", "GET, POST, DELETE")
        asked = self.headers.get("Access-Control-Request-Headers")
        if asked:
            self.send_header("Access-Control-Allow-Headers", asked)
        self.send_header("Access-Control-Max-Age", "300")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _cors(self) -> None:
        origin = self.headers.get("Origin")
        if origin:
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Vary", "Origin")

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8") if length else ""
        pairs = parse_qsl(url.query, keep_blank_values=True) + parse_qsl(raw, keep_blank_values=True)
        headers = {name.lower(): value for name, value in self.headers.items()}
        status, body, extra, drop = self.fake.handle(method, url.path, parse_form(pairs), headers)
        if drop:
            self.close_connection = True  # the work is done; the answer never leaves
            return
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Request-Id", _id("req"))
        self._cors()
        if headers.get("idempotency-key"):
            self.send_header("Idempotency-Key", headers["idempotency-key"])
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the tests read .calls instead
        pass


def start_fake_stripe() -> FakeStripe:
    return FakeStripe().start()
