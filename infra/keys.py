"""The KMS key that encrypts webhook signing secrets at rest (chalicelib/adapters/webhook_secrets.py).

The template deploys it (`KEY_RESOURCES`, put into the one generated template by infra/tables.py);
`ensure_webhook_key` makes the same key and alias on the embedded stack (moto), for `make run`
and the tests. The app only ever names the key by its alias.
"""
from __future__ import annotations

from typing import Any


def webhook_key_alias(stage: str) -> str:
    return f"alias/livedrop-{stage}-webhooks"


DESCRIPTION = "Livedrop: encrypts webhook signing secrets"

KEY_RESOURCES: dict[str, Any] = {
    "WebhookSecretsKey": {
        "Type": "AWS::KMS::Key",
        # Retained like the tables: the secrets stored under it would be unreadable without it.
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "Description": {"Fn::Sub": f"{DESCRIPTION} (${{Stage}})"},
            "EnableKeyRotation": True,
            # The account's IAM policies decide who uses it (.chalice/policy-*.json: the app, by alias).
            "KeyPolicy": {
                "Version": "2012-10-17",
                "Statement": [{
                    "Sid": "AccountIamPolicies",
                    "Effect": "Allow",
                    "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}},
                    "Action": "kms:*",
                    "Resource": "*",
                }],
            },
        },
    },
    "WebhookSecretsKeyAlias": {
        "Type": "AWS::KMS::Alias",
        "Properties": {
            "AliasName": {"Fn::Sub": webhook_key_alias("${Stage}")},
            "TargetKeyId": {"Ref": "WebhookSecretsKey"},
        },
    },
}

KEY_OUTPUTS: dict[str, Any] = {
    "WebhookKeyAlias": {
        "Description": "The KMS alias that encrypts webhook signing secrets (the app's default for the stage)",
        "Value": {"Ref": "WebhookSecretsKeyAlias"},
    },
}


def ensure_webhook_key(kms_client: Any, alias: str) -> str:
    """The id of the key behind `alias`, made (with rotation on, as deployed) if the alias does
    not exist yet. Idempotent, and safe against another process making it at the same moment."""
    try:
        return str(kms_client.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"])
    except kms_client.exceptions.NotFoundException:
        pass
    key_id = str(kms_client.create_key(Description=DESCRIPTION)["KeyMetadata"]["KeyId"])
    kms_client.enable_key_rotation(KeyId=key_id)
    try:
        kms_client.create_alias(AliasName=alias, TargetKeyId=key_id)
    except kms_client.exceptions.AlreadyExistsException:
        # Another process won: use its key, and leave ours (unnamed, unused) to be scheduled away.
        kms_client.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
        return str(kms_client.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"])
    return key_id
