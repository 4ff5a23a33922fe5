"""Secrets at rest: Fernet (AES-128-CBC + HMAC) keyed from MAILGATE_SECRET_KEY.

The key never enters the database. Rotation: build a :class:`SecretBox` with the
new key first and the old ones after; :meth:`rotate` re-encrypts a token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from mailgate.errors import ConfigurationError


def _fernet(secret: str) -> Fernet:
    # Derive a proper 32-byte key from whatever string the operator set.
    digest = hashlib.sha256(b"mailgate-secrets\0" + secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


class SecretBox:
    """Encrypts and decrypts small secrets (passwords, API keys, DKIM keys)."""

    def __init__(self, key: str, *old_keys: str) -> None:
        self._keys = [key, *old_keys]
        self._fernet = MultiFernet([_fernet(k) for k in self._keys])
        self._hmac_key = hashlib.sha256(b"mailgate-hmac\0" + key.encode()).digest()

    def encrypt(self, values: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(values).encode()).decode()

    def decrypt(self, token: str | None) -> dict[str, Any]:
        if not token:
            return {}
        try:
            return dict(json.loads(self._fernet.decrypt(token.encode())))
        except InvalidToken:
            raise ConfigurationError(
                "MAILGATE_SECRET_KEY",
                "cannot decrypt stored secrets: the key differs from the one they were "
                "written with (set the old key as MAILGATE_OLD_SECRET_KEYS to rotate)",
            ) from None

    def merge(
        self, config: dict[str, Any], secret_names: set[str], old_token: str | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Split a config into (plain, secrets), secrets merged over the stored ones.

        PATCH semantics for write-only fields: a secret left out is kept, ``None``
        clears it, a value replaces it.
        """
        secrets = self.decrypt(old_token)
        plain: dict[str, Any] = {}
        for key, value in config.items():
            if key not in secret_names:
                plain[key] = value
            elif value is None:
                secrets.pop(key, None)
            else:
                secrets[key] = value
        return plain, secrets

    def seal(self, secrets: dict[str, Any]) -> str | None:
        """The encrypted token for a secrets dict, or None when there is nothing to keep."""
        return self.encrypt(secrets) if secrets else None

    def rotate(self, token: str) -> str:
        return self._fernet.rotate(token.encode()).decode()

    def sign(self, data: str) -> str:
        """A keyed MAC for tokens that must not be forged (reply addresses, VERP)."""
        return hmac.new(self._hmac_key, data.encode(), hashlib.sha256).hexdigest()
