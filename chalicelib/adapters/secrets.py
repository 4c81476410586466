"""Secrets the deployment keeps outside the code: the operator key, the shopper token key, Stripe's keys."""
from __future__ import annotations

from chalicelib.settings import Settings


def operator_key(settings: Settings) -> str | None:
    """From LIVEDROP_OPERATOR_KEY, or else from the SSM SecureString that
    LIVEDROP_OPERATOR_KEY_PARAMETER names (cached five minutes by Powertools Parameters)."""
    if settings.operator_key:
        return settings.operator_key
    if settings.operator_key_parameter:
        from aws_lambda_powertools.utilities.parameters import get_parameter

        return get_parameter(settings.operator_key_parameter, decrypt=True, max_age=300)
    return None


def shopper_token_secret(settings: Settings) -> str:
    """The key that signs shopper tokens: LIVEDROP_SHOPPER_TOKEN_SECRET, or the SSM SecureString
    that LIVEDROP_SHOPPER_TOKEN_SECRET_PARAMETER names."""
    if settings.shopper_token_secret:
        return settings.shopper_token_secret
    if settings.shopper_token_secret_parameter:
        from aws_lambda_powertools.utilities.parameters import get_parameter

        return get_parameter(settings.shopper_token_secret_parameter, decrypt=True, max_age=300)
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
        from aws_lambda_powertools.utilities.parameters import get_secret

        return get_secret(parameter.removeprefix("secretsmanager:"), max_age=300)
    from aws_lambda_powertools.utilities.parameters import get_parameter

    return get_parameter(parameter, decrypt=True, max_age=300)
