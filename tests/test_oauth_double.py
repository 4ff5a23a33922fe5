"""The local authorization server follows the RFCs mailgate relies on, and the
OAuth2-only Dovecot/Postfix accept its tokens (and nothing else)."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import time
from typing import Any

import httpx
import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from mailgate.core.oauth import pkce_pair, xoauth2
from mailgate.outbound.base import Envelope, RecipientResult
from mailgate.outbound.smtp import SmtpConfig, SmtpTransport
from tests.helpers import wait_for
from tests.servers.dovecot_oauth import OAuthMail
from tests.servers.oauth import OAuthServer, query_of

REDIRECT = "http://127.0.0.1:9/oauth/callback"


def authorize(double: OAuthServer, challenge: str, **extra: str) -> str:
    params = {
        "response_type": "code",
        "client_id": double.client_id,
        "redirect_uri": REDIRECT,
        "scope": "mail",
        "state": "s-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return f"{double.url}/authorize?" + httpx.QueryParams(params).__str__()


def token(double: OAuthServer, **form: str) -> httpx.Response:
    return httpx.post(
        f"{double.url}/token", data=form, auth=(double.client_id, double.client_secret)
    )


def tokens_for(double: OAuthServer) -> dict[str, Any]:
    verifier, challenge = pkce_pair()
    code = query_of(double.approve(authorize(double, challenge)))["code"]
    r = token(double, grant_type="authorization_code", code=code, redirect_uri=REDIRECT,
              code_verifier=verifier)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def introspect(double: OAuthServer, access: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.post(f"{double.url}/introspect", data={"token": access}).json()
    return body


def test_code_pkce_rotation_revocation_introspection(oauth_server: OAuthServer) -> None:
    double = oauth_server
    verifier, challenge = pkce_pair()
    back = query_of(double.approve(authorize(double, challenge)))
    assert back["state"] == "s-1" and back["code"]
    # A wrong verifier is refused (RFC 7636 §4.6), and the code is spent by that try.
    r = token(double, grant_type="authorization_code", code=back["code"],
              redirect_uri=REDIRECT, code_verifier=pkce_pair()[0])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    r = token(double, grant_type="authorization_code", code=back["code"],
              redirect_uri=REDIRECT, code_verifier=verifier)
    assert r.status_code == 400
    # Without PKCE there is no code at all.
    refused = query_of(double.approve(authorize(double, challenge, code_challenge_method="plain")))
    assert refused["error"] == "invalid_request" and "code" not in refused
    # A wrong client secret: 401 invalid_client.
    r = httpx.post(f"{double.url}/token", data={"grant_type": "refresh_token"},
                   auth=(double.client_id, "wrong"))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"

    first = tokens_for(double)
    info = introspect(double, first["access_token"])
    assert info["active"] is True and info["username"] == double.username
    assert info["sub"] == double.username and info["exp"] > 0
    # Rotation: the refresh token works once.
    second = token(double, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert second.status_code == 200 and second.json()["refresh_token"] != first["refresh_token"]
    again = token(double, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    # Expiry, then revocation of the refresh token ends its access tokens (RFC 7009).
    double.expire_access()
    assert introspect(double, second.json()["access_token"]) == {"active": False}
    third = token(double, grant_type="refresh_token", refresh_token=second.json()["refresh_token"])
    rt, at = third.json()["refresh_token"], third.json()["access_token"]
    assert introspect(double, at)["active"] is True
    r = httpx.post(f"{double.url}/revoke", data={"token": rt},
                   auth=(double.client_id, double.client_secret))
    assert r.status_code == 200
    assert introspect(double, at) == {"active": False}
    assert token(double, grant_type="refresh_token", refresh_token=rt).status_code == 400


def test_dovecot_and_postfix_sign_in_by_token_only(oauth_mail: OAuthMail) -> None:
    double, dovecot = oauth_mail.oauth, oauth_mail.dovecot
    access = tokens_for(double)["access_token"]
    ctx = ssl.create_default_context(cafile=str(dovecot.tls.ca_file))
    with IMAPClient(dovecot.host, port=dovecot.imap_port, ssl=False, timeout=10) as imap:
        imap.starttls(ctx)
        imap.oauth2_login(dovecot.user, access)
        assert imap.select_folder("INBOX")
    with IMAPClient(dovecot.host, port=dovecot.imap_port, ssl=False, timeout=10) as imap:
        imap.starttls(ctx)
        with pytest.raises(LoginError):
            imap.oauth2_login(dovecot.user, "not-a-token")
    if oauth_mail.submission_port is None:
        pytest.skip("Postfix submission needs root")
    with smtplib.SMTP(dovecot.host, oauth_mail.submission_port, timeout=10) as smtp:
        smtp.starttls(context=ctx)
        smtp.ehlo()
        assert "XOAUTH2" in smtp.esmtp_features.get("auth", "").upper()
        code, _ = smtp.docmd("AUTH", "XOAUTH2 " + xoauth2(dovecot.user, "forged"))
        assert code == 334  # the SASL error continuation (base64 JSON)
        code, _ = smtp.docmd("")
        assert code == 535
        code, _ = smtp.docmd("AUTH", "XOAUTH2 " + xoauth2(dovecot.user, access))
        assert code == 235


@pytest.mark.parametrize("mechanism", ["xoauth2", "oauthbearer"])
def test_smtp_transport_signs_in_with_either_mechanism(
    oauth_mail: OAuthMail, mechanism: str
) -> None:
    """mailgate's SMTP transport against Postfix → Dovecot SASL → introspection."""
    if oauth_mail.submission_port is None:
        pytest.skip("Postfix submission needs root")
    dovecot = oauth_mail.dovecot
    access = tokens_for(oauth_mail.oauth)["access_token"]
    subject = f"by {mechanism} {time.time_ns()}"
    raw = f"From: {dovecot.user}\r\nTo: {dovecot.user}\r\nSubject: {subject}\r\n\r\nhi\r\n"

    async def send(token: str) -> RecipientResult:
        config = SmtpConfig(
            host="127.0.0.1", port=oauth_mail.submission_port, security="starttls",
            ca_file=str(dovecot.tls.ca_file), username=dovecot.user, password=token,
            auth=mechanism,  # type: ignore[arg-type]
        )
        transport = SmtpTransport(config)
        try:
            result = await transport.deliver(Envelope(dovecot.user, (dovecot.user,)), raw.encode())
        finally:
            await transport.close()
        return result.recipients[0]

    refused = asyncio.run(send("forged-token"))
    assert not refused.accepted and refused.code == 535 and not refused.permanent
    assert "invalid_token" in refused.text or "401" in refused.text  # the SASL JSON
    assert asyncio.run(send(access)).accepted
    # The other mechanism's run may have left its message: wait for this one's.
    wait_for(
        lambda: any(subject.encode() in m for m in dovecot.messages()),
        what=f"the message sent by {mechanism}",
    )
    with IMAPClient(dovecot.host, port=dovecot.imap_port, ssl=False, timeout=10) as imap:
        if mechanism == "oauthbearer":
            imap.oauthbearer_login(dovecot.user, access)
        else:
            imap.oauth2_login(dovecot.user, access)
        assert imap.select_folder("INBOX")[b"EXISTS"] >= 1
