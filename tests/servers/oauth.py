"""A local OAuth2 authorization server on loopback (the Google / Microsoft stand-in).

Why not Authlib's server side: its grant machinery needs a framework integration
(Flask, Django) or a hand-written request/response glue for Starlette, and the part
we would reuse (code and token bookkeeping, PKCE, rotation, revocation,
introspection) is a few dozen lines once written down. So this is a small double
that follows the RFCs closely instead; each endpoint names what it follows:

* ``GET /authorize`` — RFC 6749 §4.1.1 authorization request with RFC 7636 PKCE
  (``S256`` only, as Google and Microsoft accept it). The "user" approves at once
  (:meth:`OAuthServer.approve` drives it server-side, no browser): 302 to
  ``redirect_uri?code=…&state=…`` (§4.1.2), or an ``error`` redirect (§4.1.2.1).
* ``POST /token`` — §4.1.3 ``authorization_code`` (with ``code_verifier``, §4.5 of
  RFC 7636) and §6 ``refresh_token`` with rotation (the old refresh token is dead
  after use, OAuth 2.0 Security BCP §4.14.2); client authentication by HTTP Basic
  or form fields (§2.3.1); errors are §5.2 JSON (``invalid_grant``, 400;
  ``invalid_client``, 401).
* ``POST /revoke`` — RFC 7009: 200 whatever the token; revoking a refresh token
  also ends the access tokens issued from it (§2.1 "MAY", which Google does).
* ``/introspect`` — RFC 7662: ``{"active": false}`` or ``active``, ``username``,
  ``sub``, ``exp``, ``scope``, ``client_id``. Accepts the token as a POST form field
  (RFC 7662 §2.1), a GET query parameter or a Bearer header (Dovecot's
  ``introspection_mode`` get/auth).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.servers.httpdouble import serve


@dataclass
class _Token:
    username: str
    client_id: str
    scope: str
    exp: float
    #: The refresh token an access token came from (revoking that ends this too).
    family: str = ""


@dataclass
class OAuthServer:
    """The double's state, and the helpers tests drive it with."""

    client_id: str = "mailgate-client"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    #: Who "signs in" when the authorization is approved.
    username: str = "odoo@oauth.example"
    access_lifetime: int = 3600
    url: str = ""
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    access: dict[str, _Token] = field(default_factory=dict)
    refresh: dict[str, _Token] = field(default_factory=dict)
    #: Every grant the token endpoint served, in order (``authorization_code``, ``refresh_token``).
    grants: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- what tests call -------------------------------------------------------------

    def approve(self, authorize_url: str) -> str:
        """Open ``authorize_url`` as the user's browser would and approve; the redirect
        URL (mailgate's callback with ``code`` and ``state``) is returned, not followed."""
        r = httpx.get(authorize_url, follow_redirects=False, timeout=10)
        assert r.status_code == 302, r.text
        return r.headers["location"]

    def expire_access(self) -> None:
        """Every access token issued so far expires now (a refresh is due)."""
        with self.lock:
            for t in self.access.values():
                t.exp = time.time() - 1

    def revoke_all(self) -> None:
        """The user revoked mailgate's access in the provider's console."""
        with self.lock:
            self.access.clear()
            self.refresh.clear()

    # -- the endpoints -----------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/authorize", self._authorize, methods=["GET"]),
                Route("/token", self._token, methods=["POST"]),
                Route("/revoke", self._revoke, methods=["POST"]),
                Route("/introspect", self._introspect, methods=["GET", "POST"]),
            ]
        )

    async def _authorize(self, request: Request) -> Response:
        q = request.query_params
        redirect_uri = q.get("redirect_uri", "")
        if q.get("client_id") != self.client_id or not redirect_uri.startswith("http"):
            # §4.1.2.1: never redirect to an unverified URI; tell the user instead.
            return JSONResponse({"error": "invalid_request"}, 400)

        def back(**params: str) -> Response:
            sep = "&" if urlsplit(redirect_uri).query else "?"
            params = {**params, **({"state": q["state"]} if "state" in q else {})}
            return RedirectResponse(redirect_uri + sep + urlencode(params), 302)

        if q.get("response_type") != "code":
            return back(error="unsupported_response_type")
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return back(error="invalid_request", error_description="PKCE S256 is required")
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = {
                "redirect_uri": redirect_uri,
                "challenge": q["code_challenge"],
                "scope": q.get("scope", ""),
                "exp": time.time() + 600,
            }
        return back(code=code)

    def _client_ok(self, request: Request, form: Any) -> bool:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            raw = base64.b64decode(header[6:]).decode()
            cid, _, secret = raw.partition(":")
        else:
            cid, secret = form.get("client_id", ""), form.get("client_secret", "")
        return bool(cid == self.client_id and secrets.compare_digest(secret, self.client_secret))

    def _issue(self, username: str, scope: str) -> dict[str, Any]:
        rt = secrets.token_urlsafe(32)
        at = secrets.token_urlsafe(32)
        self.refresh[rt] = _Token(username, self.client_id, scope, time.time() + 86400 * 90)
        self.access[at] = _Token(
            username, self.client_id, scope, time.time() + self.access_lifetime, family=rt
        )
        return {
            "access_token": at,
            "token_type": "Bearer",
            "expires_in": self.access_lifetime,
            "refresh_token": rt,
            "scope": scope,
        }

    async def _token(self, request: Request) -> Response:
        form = await request.form()
        if not self._client_ok(request, form):
            return JSONResponse({"error": "invalid_client"}, 401)
        grant = form.get("grant_type")
        with self.lock:
            if grant == "authorization_code":
                entry = self.codes.pop(str(form.get("code", "")), None)  # single use
                verifier = str(form.get("code_verifier", ""))
                digest = hashlib.sha256(verifier.encode()).digest()
                challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
                if (
                    entry is None
                    or entry["exp"] < time.time()
                    or entry["redirect_uri"] != form.get("redirect_uri")
                    or challenge != entry["challenge"]
                ):
                    return JSONResponse({"error": "invalid_grant"}, 400)
                self.grants.append("authorization_code")
                return JSONResponse(self._issue(self.username, entry["scope"]))
            if grant == "refresh_token":
                old = self.refresh.pop(str(form.get("refresh_token", "")), None)  # rotation
                if old is None:
                    return JSONResponse(
                        {"error": "invalid_grant", "error_description": "token revoked"}, 400
                    )
                self.grants.append("refresh_token")
                return JSONResponse(self._issue(old.username, old.scope))
        return JSONResponse({"error": "unsupported_grant_type"}, 400)

    async def _revoke(self, request: Request) -> Response:
        form = await request.form()
        if not self._client_ok(request, form):
            return JSONResponse({"error": "invalid_client"}, 401)
        token = str(form.get("token", ""))
        with self.lock:
            self.access.pop(token, None)
            if self.refresh.pop(token, None) is not None:
                for k in [k for k, t in self.access.items() if t.family == token]:
                    del self.access[k]
        return Response(status_code=200)

    async def _introspect(self, request: Request) -> Response:
        token = request.query_params.get("token", "")
        if request.method == "POST":
            token = str((await request.form()).get("token", token))
        auth = request.headers.get("authorization", "")
        if not token and auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        with self.lock:
            t = self.access.get(token)
            if t is None or t.exp < time.time():
                return JSONResponse({"active": False})
            return JSONResponse(
                {
                    "active": True,
                    "username": t.username,
                    "sub": t.username,
                    "exp": int(t.exp),
                    "scope": t.scope,
                    "client_id": t.client_id,
                    "token_type": "Bearer",
                }
            )


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@pytest.fixture(scope="module")
def oauth_server() -> Iterator[OAuthServer]:
    double = OAuthServer()
    with serve(double.app()) as url:
        double.url = url
        yield double
