"""POST /v1/shoppers/verified through the Chalice test client, against a user pool stand-in on
127.0.0.1 (tests/identity_provider.py): its JWKS served over HTTP, its ID tokens signed with PyJWT
and keys made here. Never against Cognito itself."""
import json
import secrets

import pytest

from cryptography.hazmat.primitives import serialization

from chalicelib import bootstrap
from chalicelib.settings import get_settings
from tests.conftest import live_drop, make_shopper, order
from tests.identity_provider import LocalUserPool, forged, new_key

PATH = "/v1/shoppers/verified"
PEM = serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo


@pytest.fixture(scope="module")
def pool():
    pool = LocalUserPool().start()
    yield pool
    pool.stop()


def rebuild() -> None:
    """Settings read again and the services rebuilt (a fresh key cache), overrides kept."""
    get_settings.cache_clear()
    bootstrap.services.cache_clear()


@pytest.fixture
def configured(api, pool, monkeypatch):
    """The in-process app configured with the pool, as a deployment would be (its env)."""
    for name, value in pool.env.items():
        monkeypatch.setenv(name, value)
    rebuild()
    yield pool
    monkeypatch.undo()
    rebuild()


def exchange(api, id_token):
    return api.post(PATH, key=id_token)


def assert_refused(response, status=401, code="unauthorized"):
    assert response.status_code == status, response.body
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json["type"].endswith("/" + code) and response.json["status"] == status
    assert response.headers["Cache-Control"] == "no-store"


def test_an_id_token_is_exchanged_for_a_verified_shopper_token_that_shopper_routes_take(api, brand, configured):
    answer = exchange(api, configured.id_token("alice"))
    assert answer.status_code == 201, answer.body
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.json["verified"] is True and answer.json["token"].startswith("shv.")
    assert answer.json["shopperId"].startswith("shp_") and answer.json["expiresAt"].endswith("Z")
    session, product = live_drop(api, brand["apiKey"], quantity=3)
    bought = order(api, answer.json, session["id"], product["id"])
    assert bought.status_code == 201, bought.body
    assert api.get(f"/v1/orders/{bought.json['id']}", key=answer.json["token"]).status_code == 200  # its shopper's
    assert api.get(f"/v1/orders/{bought.json['id']}", key=make_shopper(api)["token"]).status_code == 404
    # Where a brand key is optional, a verified shopper's token is no brand key: the public view.
    seen = api.get(f"/v1/products/{product['id']}", key=answer.json["token"])
    assert seen.status_code == 200 and "stock" not in seen.json
    # The anonymous mint says it is not verified.
    anonymous = make_shopper(api)
    assert anonymous["verified"] is False and anonymous["token"].startswith("shp.")


def test_the_same_person_is_the_same_shopper_so_a_per_customer_limit_counts_the_person(api, brand, configured,
                                                                                      clock):
    first = exchange(api, configured.id_token("bob"))
    clock.advance(60)  # a sign-in a minute later: another ID token, another shopper token
    second = exchange(api, configured.id_token("bob"))
    assert first.json["shopperId"] == second.json["shopperId"] and first.json["token"] != second.json["token"]
    assert exchange(api, configured.id_token("carol")).json["shopperId"] != first.json["shopperId"]
    session, product = live_drop(api, brand["apiKey"], quantity=5, per_customer_limit=1)
    assert order(api, first.json, session["id"], product["id"]).status_code == 201
    again = order(api, second.json, session["id"], product["id"])  # another sign-in, the same person
    assert again.status_code == 409 and again.json["type"].endswith("/limit_exceeded"), again.body


REFUSALS = {
    "signed with another key under the pool's kid": lambda pool: pool.id_token(key=new_key()),
    "a kid the pool never published": lambda pool: pool.id_token(kid="kid-unknown"),
    "another app client's": lambda pool: pool.id_token(aud="someone-elses-client"),
    "another pool's": lambda pool: pool.id_token(iss=pool.issuer.rsplit("/", 1)[0] + "/local-1_other"),
    "expired": lambda pool: pool.id_token(exp=pool.claims("x")["iat"] - 1),
    "an access token": lambda pool: pool.id_token(token_use="access", aud=None, client_id=pool.client_id),
    "an access token carrying an aud": lambda pool: pool.id_token(token_use="access"),
    "without token_use": lambda pool: pool.id_token(token_use=None),
    "without exp": lambda pool: pool.id_token(exp=None),
    "alg none": lambda pool: forged({"alg": "none", "kid": pool.kid, "typ": "JWT"}, pool.claims("mallory")),
    "HS256 keyed with the public key (PEM)": lambda pool: forged(
        {"alg": "HS256", "kid": pool.kid, "typ": "JWT"}, pool.claims("mallory"),
        hmac_key=pool.keys[pool.kid].public_key().public_bytes(*PEM)),
    "RS256 signature stripped": lambda pool: pool.id_token().rsplit(".", 1)[0] + ".",
    "not a JWT": lambda pool: "eyJhbGciOi.not.a-jwt",
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_any_other_token_is_refused_with_401(api, configured, case):
    assert_refused(exchange(api, REFUSALS[case](configured)))


def test_no_token_another_scheme_or_a_shopper_token_is_refused(api, configured):
    assert_refused(api.post(PATH))
    assert_refused(api.post(PATH, headers={"Authorization": "Basic " + configured.id_token()}))
    assert_refused(exchange(api, make_shopper(api)["token"]))


def test_a_key_rotated_out_of_the_jwks_no_longer_verifies_and_the_new_one_does(api, configured):
    old = configured.id_token("dave")
    assert exchange(api, old).status_code == 201
    configured.rotate()
    rebuild()  # a container that has not seen the old set (a cold start, or the hour's cache over)
    assert_refused(exchange(api, old))
    assert exchange(api, configured.id_token("dave")).status_code == 201


def test_the_keys_are_fetched_once_and_made_up_key_ids_do_not_fetch_them_again(api, configured):
    fetched = configured.fetches
    for _ in range(3):
        assert exchange(api, configured.id_token()).status_code == 201
    assert configured.fetches == fetched + 1
    for _ in range(5):  # within PyJWKClient's 30 s cooldown, an unknown kid fetches nothing
        assert_refused(exchange(api, configured.id_token(kid="kid-" + secrets.token_hex(4))))
    assert configured.fetches == fetched + 1


def test_expiry_is_read_on_the_apps_clock(api, configured, clock):
    token = configured.id_token("erin")  # valid an hour, by the wall clock
    assert exchange(api, token).status_code == 201
    clock.advance(3600)
    assert_refused(exchange(api, token))


def test_unreachable_or_unreadable_keys_are_a_503_to_retry_not_a_401(api, configured):
    configured.answer_status = 503
    try:
        answer = exchange(api, configured.id_token())
        assert_refused(answer, 503, "busy")
        assert answer.headers["Retry-After"].isdigit()
    finally:
        configured.answer_status = 200
    configured.raw_answer = b"<html>a login page</html>"
    try:
        assert_refused(exchange(api, configured.id_token()), 503, "busy")
    finally:
        configured.raw_answer = None
    assert exchange(api, configured.id_token()).status_code == 201  # a failed fetch is not cached


def test_a_key_of_another_type_in_the_jwks_verifies_nothing(api, configured):
    """Cognito signs with RSA only: an EC key published beside (an ES256 token under its kid) is
    not taken, whatever the token's header says."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec

    ec_key = ec.generate_private_key(ec.SECP256R1())
    configured.extra_jwks = [{**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key())),
                              "kid": "kid-ec", "alg": "ES256", "use": "sig"}]
    rebuild()
    try:
        assert_refused(exchange(api, jwt.encode(configured.claims("frank"), ec_key, algorithm="ES256",
                                                headers={"kid": "kid-ec"})))
        # Claiming RS256 under the EC key's kid: refused as a token, not a 500 from a key of the wrong type.
        assert_refused(exchange(api, forged({"alg": "RS256", "kid": "kid-ec"}, configured.claims("frank"), b"sig")))
        assert exchange(api, configured.id_token("frank")).status_code == 201  # the set itself is fine
    finally:
        configured.extra_jwks = []


def test_without_a_user_pool_the_route_answers_404(api, pool):
    rebuild()
    assert get_settings().cognito_issuer is None
    for key in (None, pool.id_token()):
        assert_refused(api.post(PATH, key=key), 404, "not_found")
