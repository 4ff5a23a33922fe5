"""The one error tree of mailgate.

::

    MailgateError                     anything mailgate raises on purpose
    ├── InvalidInput                  a caller's bad value; names the field (HTTP 400/422)
    │   ├── InvalidAddress            an address email-validator refuses
    │   ├── HeaderInjection           CR or LF in a header value
    │   └── MessageTooLarge           over the configured size limit (HTTP 413)
    ├── NotFound                      no such object in this workspace (HTTP 404)
    ├── Conflict                      a state that forbids the action (HTTP 409)
    │   ├── TransportDisabled         the chosen transport is switched off
    │   └── SecretUnreadable          a stored secret was sealed under a key no longer set
    ├── Unauthorized                  missing or unknown API key (HTTP 401)
    └── Forbidden                     known caller, action not theirs to take (HTTP 403)

    ConfigurationError                a setting is wrong; names the exact setting
                                      (a separate root: it is the operator's to fix)

Delivery outcomes are not exceptions: a transport answers one ``RecipientResult``
per recipient (accepted, or failed with code, text and whether it is permanent), and
library exceptions (aiosmtplib, httpx, imaplib, poplib) are mapped into those results
or into this tree in exactly one place per transport or source.
"""

from __future__ import annotations


class MailgateError(Exception):
    """Base of every error mailgate raises on purpose."""

    code = "error"
    status = 500

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(MailgateError):
    code = "invalid"
    status = 422


class InvalidAddress(InvalidInput):
    code = "invalid_address"


class HeaderInjection(InvalidInput):
    code = "header_injection"


class MessageTooLarge(InvalidInput):
    code = "too_large"
    status = 413


class NotFound(MailgateError):
    code = "not_found"
    status = 404


class Conflict(MailgateError):
    code = "conflict"
    status = 409


class TransportDisabled(Conflict):
    code = "transport_disabled"


class SecretUnreadable(Conflict):
    """A stored secret was encrypted under a key that is neither current nor old."""

    code = "secret_unreadable"


class Unauthorized(MailgateError):
    code = "unauthorized"
    status = 401


class Forbidden(MailgateError):
    code = "forbidden"
    status = 403


class ConfigurationError(Exception):
    """A setting is wrong; the message names the setting and how to fix it."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting}: {message}")
        self.setting = setting
