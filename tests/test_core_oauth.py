"""core.oauth: the published provider endpoints and scopes, PKCE, the XOAUTH2 string."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import pytest

from mailgate.core import oauth


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_pkce_s256_matches_rfc7636_appendix_b() -> None:
    assert oauth.s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == (
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )
    verifier, challenge = oauth.pkce_pair()
    assert 43 <= len(verifier) <= 128 and oauth.s256(verifier) == challenge


def test_xoauth2_initial_response() -> None:
    raw = base64.b64decode(oauth.xoauth2("sales@odoo.example", "tok-123"))
    assert raw == b"user=sales@odoo.example\x01auth=Bearer tok-123\x01\x01"


def test_google_asks_for_a_refresh_token_and_the_mail_scope() -> None:
    google = oauth.provider_for("google", {})
    url = oauth.authorize_url(
        google, client_id="cid", redirect_uri="https://mg.example.com/oauth/callback",
        state="st", challenge="ch", login_hint="sales@example.com",
    )
    assert url.startswith("https://accounts.google.com/o/oauth2/v2/auth?")
    q = query(url)
    assert q["scope"] == "https://mail.google.com/"
    assert q["access_type"] == "offline" and q["prompt"] == "consent"
    assert q["code_challenge_method"] == "S256" and q["code_challenge"] == "ch"
    assert q["response_type"] == "code" and q["state"] == "st"
    assert q["login_hint"] == "sales@example.com"
    assert google.token_url == "https://oauth2.googleapis.com/token"


def test_microsoft_scopes_and_tenant() -> None:
    ms = oauth.provider_for("microsoft", {"tenant": "contoso.onmicrosoft.com"})
    assert ms.scopes == (
        "https://outlook.office.com/SMTP.Send",
        "https://outlook.office.com/IMAP.AccessAsUser.All",
        "offline_access",
    )
    assert ms.authorize_url == (
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize"
    )
    assert ms.token_url.endswith("/contoso.onmicrosoft.com/oauth2/v2.0/token")
    assert oauth.provider_for("microsoft", {}).token_url == (
        "https://login.microsoftonline.com/common/oauth2/v2.0/token"
    )


def test_generic_takes_everything_from_the_registration() -> None:
    g = oauth.provider_for(
        "generic",
        {"authorize_url": "https://id.example/a", "token_url": "https://id.example/t",
         "scopes": ["mail", "offline_access"]},
    )
    assert (g.authorize_url, g.token_url, g.revoke_url) == (
        "https://id.example/a", "https://id.example/t", None,
    )
    assert g.scopes == ("mail", "offline_access")
    with pytest.raises(KeyError):
        oauth.provider_for("generic", {})


def test_oauthbearer_initial_response() -> None:
    """RFC 7628 §3.1: GS2 header with the user as a saslname (``,`` and ``=`` escaped)."""
    raw = base64.b64decode(oauth.oauthbearer("a,b=c@odoo.example", "tok-9"))
    assert raw == b"n,a=a=2Cb=3Dc@odoo.example,\x01auth=Bearer tok-9\x01\x01"
