"""Secrets at rest: Fernet (AES-128-CBC + HMAC) keyed from MAILGATE_SECRET_KEY.

The key never enters the database. Rotation (docs/secrets.md): set the new key as
``MAILGATE_SECRET_KEY`` and the earlier ones, newest first, as
``MAILGATE_OLD_SECRET_KEYS``. Decryption and MAC checks accept every key; encryption
and signing always use the current one; ``mailgate secrets rotate`` re-encrypts what
is stored, after which the old keys can be dropped.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from mailgate.errors import SecretUnreadable


def _fernet(secret: str) -> Fernet:
    # Derive a proper 32-byte key from whatever string the operator set.
    digest = hashlib.sha256(b"mailgate-secrets\0" + secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _hmac_key(secret: str) -> bytes:
    return hashlib.sha256(b"mailgate-hmac\0" + secret.encode()).digest()


class SecretBox:
    """Encrypts and decrypts small secrets (passwords, API keys, DKIM keys); signs tokens."""

    def __init__(self, key: str, *old_keys: str) -> None:
        self._current = _fernet(key)
        self._fernet = MultiFernet([self._current, *(_fernet(k) for k in old_keys)])
        self._hmac_keys = [_hmac_key(k) for k in (key, *old_keys)]

    def encrypt(self, values: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(values).encode()).decode()

    def decrypt(self, token: str | None) -> dict[str, Any]:
        if not token:
            return {}
        try:
            return dict(json.loads(self._fernet.decrypt(token.encode())))
        except InvalidToken:
            raise SecretUnreadable(
                "cannot decrypt a stored secret: it was written under a key that is neither "
                "MAILGATE_SECRET_KEY nor one of MAILGATE_OLD_SECRET_KEYS (add the earlier key "
                "to MAILGATE_OLD_SECRET_KEYS and run `mailgate secrets rotate`, or set the "
                "secret again)",
                field="secrets",
            ) from None

    def describe(self, token: str | None) -> dict[str, Any]:
        """What an API view may say about stored secrets: their names, and whether we can read them.

        A secret sealed under a key that is gone is listed with ``secrets_readable:
        false`` (the object stays visible and fixable), not answered with an error.
        """
        try:
            return {"secrets_set": sorted(self.decrypt(token)), "secrets_readable": True}
        except SecretUnreadable:
            return {"secrets_set": [], "secrets_readable": False}

    def is_current(self, token: str) -> bool:
        """Whether ``token`` is already encrypted under the current key (rotation skips it)."""
        try:
            self._current.decrypt(token.encode())
        except InvalidToken:
            return False
        return True

    def merge(
        self, config: dict[str, Any], secret_names: set[str], old_token: str | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Split a config into (plain, secrets), secrets merged over the stored ones.

        PATCH semantics for write-only fields: a secret left out is kept, ``None``
        clears it, a value replaces it. When the stored secrets were sealed under a
        key that is gone, setting a secret again starts afresh (what could not be
        read is lost already); changing anything else still raises SecretUnreadable.
        """
        try:
            secrets = self.decrypt(old_token)
        except SecretUnreadable:
            if not any(k in secret_names and v is not None for k, v in config.items()):
                raise
            secrets = {}
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
        """``token`` re-encrypted under the current key (raises SecretUnreadable if no key fits)."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            self.decrypt(token)  # raises the error that names the setting
            raise

    def sign(self, data: str) -> str:
        """A keyed MAC (hex) for tokens that must not be forged, always under the current key."""
        return hmac.new(self._hmac_keys[0], data.encode(), hashlib.sha256).hexdigest()

    def verify(self, data: str, mac: str, *, length: int | None = None) -> bool:
        """Whether ``mac`` is :meth:`sign` of ``data`` under the current key or an old one.

        ``length`` checks a MAC truncated to that many hex digits (reply addresses
        carry 12); ``mac`` must then have exactly that length.
        """
        mac = mac.lower()
        want = 64 if length is None else length
        if len(mac) != want or want < 8:
            return False
        ok = False
        for key in self._hmac_keys:  # every key, no early exit: the time says nothing
            expected = hmac.new(key, data.encode(), hashlib.sha256).hexdigest()[:want]
            ok |= hmac.compare_digest(mac, expected)
        return ok
