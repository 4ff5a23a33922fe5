"""OAuth2 for mail servers: provider presets, PKCE and the SASL XOAUTH2 string. Pure.

Google and Microsoft close basic authentication for SMTP and IMAP; mail clients
sign in with the authorization code grant (RFC 6749 §4.1) plus PKCE (RFC 7636) and
then authenticate with ``AUTH XOAUTH2`` carrying the access token. The endpoints and
scopes below are the ones each provider documents for IMAP/SMTP access:

* Google: https://developers.google.com/gmail/imap/xoauth2-protocol (scope
  ``https://mail.google.com/``; ``access_type=offline`` and ``prompt=consent`` so a
  refresh token is issued).
* Microsoft: "Authenticate an IMAP, POP or SMTP connection using OAuth" (scopes
  ``https://outlook.office.com/IMAP.AccessAsUser.All``, ``…/SMTP.Send`` and
  ``offline_access`` for the refresh token), the v2.0 endpoints of the ``common``
  tenant unless the operator names one.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlencode


@dataclass(frozen=True, slots=True)
class Provider:
    name: str
    authorize_url: str
    token_url: str
    revoke_url: str | None
    scopes: tuple[str, ...]
    #: Extra authorization request parameters the provider needs for a refresh token.
    extra: dict[str, str] = field(default_factory=dict)


GOOGLE = Provider(
    "google",
    "https://accounts.google.com/o/oauth2/v2/auth",
    "https://oauth2.googleapis.com/token",
    "https://oauth2.googleapis.com/revoke",
    ("https://mail.google.com/",),
    {"access_type": "offline", "prompt": "consent"},
)

_MS = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0"

MICROSOFT = Provider(
    "microsoft",
    _MS.format(tenant="common") + "/authorize",
    _MS.format(tenant="common") + "/token",
    None,  # Microsoft has no RFC 7009 endpoint: access is withdrawn in Entra ID
    (
        "https://outlook.office.com/SMTP.Send",
        "https://outlook.office.com/IMAP.AccessAsUser.All",
        "offline_access",
    ),
)

PRESETS = {"google": GOOGLE, "microsoft": MICROSOFT}
#: The SASL mechanisms that sign in with an access token (``auth`` of SMTP and IMAP).
MECHANISMS = ("xoauth2", "oauthbearer")
PROVIDERS = ("google", "microsoft", "generic")


def provider_for(name: str, settings: dict[str, object]) -> Provider:
    """The provider ``name`` with what a client registration overrides.

    ``generic`` takes everything from ``settings`` (``authorize_url``, ``token_url``,
    ``revoke_url``, ``scopes``); ``microsoft`` takes an optional ``tenant``.
    """
    scopes = settings.get("scopes")
    if name == "generic":
        return Provider(
            "generic",
            str(settings["authorize_url"]),
            str(settings["token_url"]),
            str(settings["revoke_url"]) if settings.get("revoke_url") else None,
            tuple(str(s) for s in scopes) if isinstance(scopes, list) else (),
        )
    base = PRESETS[name]
    if name == "microsoft" and settings.get("tenant"):
        root = _MS.format(tenant=settings["tenant"])
        base = Provider(name, root + "/authorize", root + "/token", None, base.scopes)
    if isinstance(scopes, list) and scopes:
        base = Provider(
            base.name, base.authorize_url, base.token_url, base.revoke_url,
            tuple(str(s) for s in scopes), base.extra,
        )
    return base


def pkce_pair() -> tuple[str, str]:
    """A PKCE ``code_verifier`` (RFC 7636 §4.1: 43+ unreserved characters) and its
    ``S256`` challenge (§4.2: BASE64URL(SHA256(verifier)) without padding)."""
    verifier = secrets.token_urlsafe(48)
    return verifier, s256(verifier)


def s256(verifier: str) -> str:
    """RFC 7636 §4.2: BASE64URL(SHA256(ASCII(code_verifier))), unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorize_url(
    provider: Provider,
    *,
    client_id: str,
    redirect_uri: str,
    state: str,
    challenge: str,
    login_hint: str | None = None,
) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(provider.scopes),
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **provider.extra,
    }
    if login_hint:
        params["login_hint"] = login_hint
    sep = "&" if "?" in provider.authorize_url else "?"
    return provider.authorize_url + sep + urlencode(params)


def oauthbearer(user: str, token: str) -> str:
    """The SASL OAUTHBEARER initial response, base64 (RFC 7628 §3.1: a GS2 header
    naming the user, then ``auth=Bearer``; host and port are optional)."""
    safe = user.replace("=", "=3D").replace(",", "=2C")  # RFC 5801 saslname
    raw = f"n,a={safe},\x01auth=Bearer {token}\x01\x01"
    return base64.b64encode(raw.encode()).decode("ascii")


def xoauth2(user: str, token: str) -> str:
    """The SASL XOAUTH2 initial response, base64 (Google's XOAUTH2 protocol page)."""
    raw = f"user={user}\x01auth=Bearer {token}\x01\x01"
    return base64.b64encode(raw.encode()).decode("ascii")
