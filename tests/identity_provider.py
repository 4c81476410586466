"""A stand-in for a Cognito user pool, offline: its JWKS served on 127.0.0.1, its ID tokens signed
here with RSA keys made by `cryptography`, with PyJWT. Nothing of Livedrop's own code signs or
checks them here, so the app's verification meets tokens it did not make.

The issuer is `http://127.0.0.1:<port>/<pool id>`, and the keys are at `<issuer>/.well-known/jwks.json`,
as Cognito publishes them. `rotate()` publishes a new key and withdraws the current one.
"""
from __future__ import annotations

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from devstack.stack import LOOPBACK


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "alg": "RS256", "use": "sig"}


class LocalUserPool:
    def __init__(self) -> None:
        self.pool_id = "local-1_" + secrets.token_hex(5)
        self.client_id = "shop" + secrets.token_hex(11)
        self.kid = "kid-" + secrets.token_hex(4)
        self.keys: dict[str, rsa.RSAPrivateKey] = {self.kid: new_key()}  # published, by kid
        self.fetches = 0
        self.answer_status = 200  # what the JWKS endpoint answers (503: the provider is down)
        self.extra_jwks: list[dict[str, Any]] = []  # published beside the signing keys
        self.raw_answer: bytes | None = None  # answered instead of the JWKS (a misconfigured URL)
        pool = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if self.path != f"/{pool.pool_id}/.well-known/jwks.json":
                    self.send_error(404)
                    return
                pool.fetches += 1
                if pool.answer_status != 200:
                    self.send_error(pool.answer_status)
                    return
                keys = [public_jwk(key, kid) for kid, key in pool.keys.items()] + pool.extra_jwks
                body = pool.raw_answer or json.dumps({"keys": keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def issuer(self) -> str:
        return f"http://{LOOPBACK}:{self._server.server_address[1]}/{self.pool_id}"

    @property
    def env(self) -> dict[str, str]:
        """The app's settings for this pool (the JWKS URL is left to its default)."""
        return {"LIVEDROP_COGNITO_ISSUER": self.issuer, "LIVEDROP_COGNITO_CLIENT_IDS": f"other{self.client_id},{self.client_id}"}

    def start(self) -> "LocalUserPool":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def rotate(self) -> None:
        """A new signing key is published; the current one is withdrawn."""
        self.kid = "kid-" + secrets.token_hex(4)
        self.keys = {self.kid: new_key()}

    def claims(self, sub: str, **changes: Any) -> dict[str, Any]:
        """An ID token's claims as Cognito writes them; `changes` set (or, with None, drop) some."""
        now = int(time.time())
        claims = {"sub": sub, "iss": self.issuer, "aud": self.client_id, "token_use": "id",
                  "email": f"{sub}@example.com", "email_verified": True, "auth_time": now,
                  "iat": now, "exp": now + 3600, "cognito:username": sub}
        claims.update(changes)
        return {name: value for name, value in claims.items() if value is not None}

    def id_token(self, sub: str | None = None, key: rsa.RSAPrivateKey | None = None, kid: str | None = None,
                 algorithm: str = "RS256", **changes: Any) -> str:
        """A token signed with the current key (or `key`), naming `kid` (the current one by default)."""
        signing_key: Any = key or self.keys[self.kid]
        return jwt.encode(self.claims(sub or "user-" + secrets.token_hex(6), **changes), signing_key,
                          algorithm=algorithm, headers={"kid": kid or self.kid})


def b64url(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def forged(header: dict[str, Any], claims: dict[str, Any], signature: bytes | None = None,
           hmac_key: bytes | None = None) -> str:
    """A compact JWS put together by hand (PyJWT will not make these): `signature` as given, or an
    HMAC-SHA256 over the signing input keyed with `hmac_key` (the public key confusion attack)."""
    import hashlib
    import hmac

    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    if hmac_key is not None:
        signature = hmac.new(hmac_key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(signature or b"")
