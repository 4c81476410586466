"""Webhook signing secrets at rest: encrypted by KMS (the key infra/keys.py deploys), each bound
to an encryption context (the endpoint it signs for), which KMS checks on every decrypt."""
from __future__ import annotations

import base64
import binascii
from functools import lru_cache
from typing import Any, Mapping

from chalicelib.adapters import aws

DECRYPT_CACHE = 256  # secrets kept decrypted in memory: a sweep signs many deliveries per endpoint


class SecretRefused(ValueError):
    """The ciphertext does not open with this key and context (another endpoint's, or altered)."""


class KmsSecretBox:
    def __init__(self, key_id: str, client: Any = None) -> None:
        self.key_id = key_id  # an alias (alias/livedrop-<stage>-webhooks): the IAM policy grants by it
        self._client = client
        self._decrypt = lru_cache(maxsize=DECRYPT_CACHE)(self._decrypt_uncached)

    @property
    def client(self) -> Any:
        return self._client or aws.client("kms")

    def encrypt(self, plaintext: str, context: Mapping[str, str]) -> str:
        blob = self.client.encrypt(KeyId=self.key_id, Plaintext=plaintext.encode(),
                                   EncryptionContext=dict(context))["CiphertextBlob"]
        return base64.b64encode(blob).decode()

    def decrypt(self, ciphertext: str, context: Mapping[str, str]) -> str:
        return self._decrypt(ciphertext, tuple(sorted(context.items())))

    def _decrypt_uncached(self, ciphertext: str, context: tuple[tuple[str, str], ...]) -> str:
        client = self.client
        try:
            # KeyId too: a ciphertext made under any other key is refused, not opened.
            plaintext = client.decrypt(KeyId=self.key_id, CiphertextBlob=base64.b64decode(ciphertext, validate=True),
                                       EncryptionContext=dict(context))["Plaintext"]
        except (binascii.Error, client.exceptions.InvalidCiphertextException, client.exceptions.IncorrectKeyException):
            raise SecretRefused("the secret does not open with this key and context") from None
        return str(plaintext.decode())
