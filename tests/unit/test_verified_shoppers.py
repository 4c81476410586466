"""Verified shoppers without I/O: the two kinds of shopper token, the exchange of an ID token on
fakes, the claims an ID token must carry, the settings, and the Cognito authorizer on the route."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.adapters.cognito import identity_of
from chalicelib.api.routing import user_pool_authorizer
from chalicelib.domain import shopper_tokens
from chalicelib.domain.errors import NotFound, Unauthorized
from chalicelib.domain.shopper_tokens import Shopper
from chalicelib.settings import Settings
from tests.fakes import fake_services

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cret"
NOW = 1_800_000_000
ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123"
POOL_ARN = "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbC123"


# --- the tokens ----------------------------------------------------------------------------------


def test_each_kind_of_token_says_whether_its_shopper_is_verified():
    anonymous, _ = shopper_tokens.issue(SECRET, "shp_a", NOW)
    verified, expires = shopper_tokens.issue(SECRET, "shp_b", NOW, verified=True)
    assert anonymous.startswith("shp.shp_a.") and verified.startswith("shv.shp_b.")
    assert shopper_tokens.verify(SECRET, anonymous, NOW) == Shopper("shp_a", verified=False)
    assert shopper_tokens.verify(SECRET, verified, NOW) == Shopper("shp_b", verified=True)
    assert shopper_tokens.verify(SECRET, verified, expires) is None  # expired
    assert shopper_tokens.verify("another", verified, NOW) is None


def test_the_kind_is_signed_an_anonymous_token_can_not_be_relabelled_verified():
    anonymous, _ = shopper_tokens.issue(SECRET, "shp_a", NOW)
    verified, _ = shopper_tokens.issue(SECRET, "shp_a", NOW, verified=True)
    assert shopper_tokens.verify(SECRET, "shv" + anonymous[3:], NOW) is None
    assert shopper_tokens.verify(SECRET, "shp" + verified[3:], NOW) is None
    for other in ("shx" + anonymous[3:], "ldk" + anonymous[3:], "", "shv.", "shv.a.b.c", "shv.a.1.c.d"):
        assert shopper_tokens.verify(SECRET, other, NOW) is None, other


def test_shopper_tokens_of_both_kinds_are_told_from_brand_keys_by_their_prefix():
    assert shopper_tokens.is_shopper_token("shp.x.1.y") and shopper_tokens.is_shopper_token("shv.x.1.y")
    for other in (None, "", "ldk.brd.secret", "shp", "shv", "shpx.1", "SHV.x.1.y", "xshv.x"):
        assert not shopper_tokens.is_shopper_token(other), other


def test_a_person_has_one_shopper_id_per_identity_provider():
    one = shopper_tokens.verified_shopper_id(ISSUER, "9d1f-alice")
    assert one == shopper_tokens.verified_shopper_id(ISSUER, "9d1f-alice")
    assert one.startswith("shp_") and len(one) == len(shopper_tokens.new_shopper_id())
    assert one != shopper_tokens.verified_shopper_id(ISSUER, "9d1f-bob")
    assert one != shopper_tokens.verified_shopper_id(ISSUER + "x", "9d1f-alice")
    # The pair is encoded without ambiguity: moving characters across the boundary is another person.
    assert (shopper_tokens.verified_shopper_id("https://a/b", "c") != shopper_tokens.verified_shopper_id("https://a/", "bc"))


# --- the exchange, on fakes ----------------------------------------------------------------------


def test_an_id_token_is_exchanged_for_a_verified_token_of_the_persons_own_shopper_id(world, clock):
    services, ports = world
    now = int(clock.now().timestamp())
    shopper, token, expires = services.shoppers.register_verified(ports.identity_tokens.issue("alice", now + 3600))
    assert shopper.verified and token.startswith("shv.") and expires == now + 24 * 3600
    assert shopper.id == shopper_tokens.verified_shopper_id(ports.identity_tokens.issuer, "alice")
    assert services.shoppers.authenticate(token) == shopper
    again, second_token, _ = services.shoppers.register_verified(ports.identity_tokens.issue("alice", now + 60))
    assert again == shopper and second_token.startswith("shv.")
    other, _, _ = services.shoppers.register_verified(ports.identity_tokens.issue("bob", now + 60))
    assert other.id != shopper.id
    # The anonymous mint is untouched: a new id each time, not verified.
    anonymous_id, anonymous_token, _ = services.shoppers.register()
    assert services.shoppers.authenticate(anonymous_token) == Shopper(anonymous_id, verified=False)


def test_a_missing_or_refused_id_token_is_unauthorized_and_time_is_the_clocks(world, clock):
    services, ports = world
    now = int(clock.now().timestamp())
    for token in (None, "", "not-an-id-token"):
        with pytest.raises(Unauthorized):
            services.shoppers.register_verified(token)
    token = ports.identity_tokens.issue("alice", now + 60)
    clock.advance(60)
    with pytest.raises(Unauthorized):
        services.shoppers.register_verified(token)


def test_without_an_identity_provider_the_exchange_does_not_exist(clock):
    services, _ = fake_services(clock, identity_tokens=None)
    for token in (None, "anything"):
        with pytest.raises(NotFound):
            services.shoppers.register_verified(token)


# --- what a verified ID token must say (signature, issuer and audience are PyJWT's checks) -------


def claims(**changes):
    base = {"iss": ISSUER, "aud": "client", "sub": "alice", "token_use": "id", "exp": NOW + 60}
    return {name: value for name, value in {**base, **changes}.items() if value is not None}


def test_an_id_token_unexpired_with_a_subject_names_its_person():
    identity = identity_of(claims(), NOW)
    assert (identity.issuer, identity.subject) == (ISSUER, "alice")
    assert identity_of(claims(nbf=NOW), NOW).subject == "alice"


@pytest.mark.parametrize("changes", [
    {"token_use": "access"}, {"token_use": None}, {"token_use": "ID"},
    {"exp": NOW}, {"exp": NOW - 1}, {"exp": str(NOW + 60)}, {"exp": True}, {"exp": None},
    {"nbf": NOW + 1}, {"nbf": "soon"},
    {"sub": ""}, {"sub": None}, {"sub": 7},
], ids=lambda changes: json.dumps(changes))
def test_anything_else_is_refused(changes):
    with pytest.raises(Unauthorized):
        identity_of(claims(**changes), NOW)


# --- settings ------------------------------------------------------------------------------------


def test_the_identity_provider_settings():
    settings = Settings.from_env({"LIVEDROP_COGNITO_ISSUER": ISSUER, "LIVEDROP_COGNITO_CLIENT_IDS": " a1, b2 ,"})
    assert settings.cognito_client_ids == ("a1", "b2")
    assert settings.cognito_keys_url == ISSUER + "/.well-known/jwks.json"
    assert Settings.from_env({"LIVEDROP_COGNITO_ISSUER": ISSUER, "LIVEDROP_COGNITO_CLIENT_IDS": "a1",
                              "LIVEDROP_COGNITO_JWKS_URL": "https://keys.example/jwks"}
                             ).cognito_keys_url == "https://keys.example/jwks"
    assert Settings.from_env({}).cognito_keys_url is None  # not configured: the route answers 404
    for local in ("http://127.0.0.1:9000/pool", "http://localhost:9000/pool"):
        assert Settings.from_env({"LIVEDROP_COGNITO_ISSUER": local, "LIVEDROP_COGNITO_CLIENT_IDS": "a"}).cognito_issuer


@pytest.mark.parametrize("env, named", [
    ({"LIVEDROP_COGNITO_ISSUER": "http://cognito-idp.eu-west-1.amazonaws.com/p", "LIVEDROP_COGNITO_CLIENT_IDS": "a"},
     "LIVEDROP_COGNITO_ISSUER"),
    ({"LIVEDROP_COGNITO_ISSUER": "http://127.0.0.1.example.com/p", "LIVEDROP_COGNITO_CLIENT_IDS": "a"},
     "LIVEDROP_COGNITO_ISSUER"),
    ({"LIVEDROP_COGNITO_ISSUER": "cognito-idp.eu-west-1.amazonaws.com/p", "LIVEDROP_COGNITO_CLIENT_IDS": "a"},
     "LIVEDROP_COGNITO_ISSUER"),
    ({"LIVEDROP_COGNITO_ISSUER": ISSUER + "/", "LIVEDROP_COGNITO_CLIENT_IDS": "a"}, "LIVEDROP_COGNITO_ISSUER"),
    ({"LIVEDROP_COGNITO_ISSUER": ISSUER}, "LIVEDROP_COGNITO_CLIENT_IDS"),
    ({"LIVEDROP_COGNITO_ISSUER": ISSUER, "LIVEDROP_COGNITO_CLIENT_IDS": "a b"}, "LIVEDROP_COGNITO_CLIENT_IDS"),
    ({"LIVEDROP_COGNITO_ISSUER": ISSUER, "LIVEDROP_COGNITO_CLIENT_IDS": "a",
      "LIVEDROP_COGNITO_JWKS_URL": "http://keys.example/jwks"}, "LIVEDROP_COGNITO_JWKS_URL"),
    ({"LIVEDROP_COGNITO_CLIENT_IDS": "a"}, "LIVEDROP_COGNITO_ISSUER"),
    ({"LIVEDROP_COGNITO_JWKS_URL": "https://keys.example/jwks"}, "LIVEDROP_COGNITO_ISSUER"),
], ids=lambda value: value if isinstance(value, str) else "")
def test_a_wrong_identity_provider_setting_fails_the_cold_start_naming_it(env, named):
    with pytest.raises(ValueError, match=named):
        Settings.from_env(env)


# --- API Gateway's own check, where the pool's ARN is set at deploy --------------------------------


def test_the_user_pool_authorizer_is_made_only_from_a_pool_arn():
    assert user_pool_authorizer({}) is None and user_pool_authorizer({"LIVEDROP_COGNITO_USER_POOL_ARN": ""}) is None
    swagger = user_pool_authorizer({"LIVEDROP_COGNITO_USER_POOL_ARN": POOL_ARN}).to_swagger()
    assert swagger["x-amazon-apigateway-authorizer"] == {"type": "cognito_user_pools", "providerARNs": [POOL_ARN]}
    assert swagger["name"] == "Authorization"
    for wrong in ("eu-west-1_AbC123", POOL_ARN.replace("cognito-idp", "iam"), POOL_ARN + " "):
        with pytest.raises(ValueError, match="LIVEDROP_COGNITO_USER_POOL_ARN"):
            user_pool_authorizer({"LIVEDROP_COGNITO_USER_POOL_ARN": wrong})


def routes_with_authorizers(extra_env: dict[str, str]) -> dict[str, object]:
    """The app as `chalice deploy` imports it: every (method path) that carries an authorizer."""
    probe = ("import json, app\n"
             "print(json.dumps({f'{method} {path}': entry.authorizer.to_swagger()\n"
             "                  for path, methods in app.app.routes.items()\n"
             "                  for method, entry in methods.items() if entry.authorizer}))\n")
    env = {"PYTHONPATH": str(ROOT), "AWS_DEFAULT_REGION": "us-east-1", "LIVEDROP_IVS_MODE": "embedded",
           "PATH": str(Path(sys.executable).parent), **extra_env}
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_exchange_carries_the_cognito_authorizer_only_when_the_pool_is_configured():
    assert routes_with_authorizers({}) == {}
    attached = routes_with_authorizers({"LIVEDROP_COGNITO_USER_POOL_ARN": POOL_ARN})
    assert list(attached) == ["POST /v1/shoppers/verified"]
    assert attached["POST /v1/shoppers/verified"]["x-amazon-apigateway-authorizer"]["providerARNs"] == [POOL_ARN]


def test_pyjwt_is_loaded_by_the_first_id_token_not_by_the_cold_start():
    probe = ("import sys, app\n"
             "from chalicelib.bootstrap import services\n"
             "tokens = services().shoppers._identity_tokens\n"
             "print(type(tokens).__name__, 'jwt' in sys.modules)\n")
    env = {"PYTHONPATH": str(ROOT), "AWS_DEFAULT_REGION": "us-east-1", "LIVEDROP_IVS_MODE": "embedded",
           "PATH": str(Path(sys.executable).parent), "LIVEDROP_COGNITO_ISSUER": "http://127.0.0.1:9/local-1_pool",
           "LIVEDROP_COGNITO_CLIENT_IDS": "shop"}
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["CognitoIdTokens", "False"]
