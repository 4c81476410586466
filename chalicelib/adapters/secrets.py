"""Secrets the deployment keeps outside the code: the operator key."""
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
