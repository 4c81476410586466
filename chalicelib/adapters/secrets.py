"""Secrets the deployment keeps outside the code: the operator key, the shopper token key, Stripe's keys."""
from __future__ import annotations

from functools import lru_cache

from chalicelib.adapters import aws
from chalicelib.settings import Settings


@lru_cache(maxsize=1)
def _parameters():
    """Powertools' SSM provider (a five-minute cache) on the container's one SSM client."""
    from aws_lambda_powertools.utilities.parameters import SSMProvider

    return SSMProvider(boto3_client=aws.client("ssm"))


@lru_cache(maxsize=1)
def _secrets():
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=aws.client("secretsmanager"))


def _parameter(name: str) -> str:
    return _parameters().get(name, decrypt=True, max_age=300)


def operator_key(settings: Settings) -> str | None:
    """From LIVEDROP_OPERATOR_KEY, or else from the SSM SecureString that
    LIVEDROP_OPERATOR_KEY_PARAMETER names (cached five minutes by Powertools Parameters)."""
    if settings.operator_key:
        return settings.operator_key
    if settings.operator_key_parameter:
        return _parameter(settings.operator_key_parameter)
    return None


def shopper_token_secret(settings: Settings) -> str:
    """The key that signs shopper tokens: LIVEDROP_SHOPPER_TOKEN_SECRET, or the SSM SecureString
    that LIVEDROP_SHOPPER_TOKEN_SECRET_PARAMETER names."""
    if settings.shopper_token_secret:
        return settings.shopper_token_secret
    if settings.shopper_token_secret_parameter:
        return _parameter(settings.shopper_token_secret_parameter)
    raise RuntimeError("no shopper token secret is configured (LIVEDROP_SHOPPER_TOKEN_SECRET[_PARAMETER])")


def stored_secret(value: str | None, parameter: str | None, variable: str) -> str:
    """A secret given in the environment (local runs), or else read from where `parameter` names:
    `secretsmanager:<secret id>` from Secrets Manager, anything else an SSM SecureString. Read on
    first use and cached five minutes by Powertools Parameters, so a rotation reaches every
    container within five minutes."""
    if value:
        return value
    if not parameter:
        raise RuntimeError(f"{variable} is not configured")
    if parameter.startswith("secretsmanager:"):
        return _secrets().get(parameter.removeprefix("secretsmanager:"), max_age=300)
    return _parameter(parameter)
