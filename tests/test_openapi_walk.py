"""Every route in ``/openapi.json``, called as a stranger, a revoked key, another tenant and a
workspace key on operator routes: always 401/403/404, never 2xx or 500, and nothing changes.

The walk reads the routes from the running server, so a route added later is walked
without touching this file; a path parameter the walk has no object for fails loudly
(add it to ``objects`` below). Public routes are listed in ``PUBLIC`` with the reason.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import httpx
from sqlalchemy import select

from mailgate.services import tenancy
from mailgate.store.db import transaction
from mailgate.store.models import Base, OAuthClient, OAuthConnection
from tests.servers.mailgate import Server

#: Routes that take no API key, and what authenticates them instead.
PUBLIC = {
    "/healthz": "liveness probe, says nothing about any workspace",
    "/readyz": "readiness probe (migrations, listener), says nothing about any workspace",
    # Mailgun's HMAC signature authenticates these; test_unsigned_mailgun_route_is_refused.
    "/v1/inbound/mailgun/{source_id}": "Mailgun signature",
    "/v1/inbound/mailgun/{source_id}/mime": "Mailgun signature",
    # Every push source kind and provider event callbacks (api/push.py): the provider's
    # HMAC signature; test_providers_e2e.py::test_refusals.
    "/v1/inbound/{source_id}": "push source signature",
    "/v1/transports/{transport_id}/events": "provider webhook signature",
    # The signed unsubscribe token is the authority (RFC 8058); test_unsubscribe.py.
    "/u/{token}": "signed unsubscribe token",
    # The encrypted OAuth state made by POST /v1/oauth/{provider}/start; test_oauth.py.
    "/oauth/callback": "encrypted OAuth state",
}

#: Columns that legitimately change when a key is merely used.
VOLATILE = {("api_keys", "last_used_at")}

#: Valid bodies, so that a refusal is the key's doing and not a 422 for a bad body.
BODIES: dict[tuple[str, str], Any] = {
    ("post", "/v1/conversations/{conversation_id}/replies"): {"text": "hostile reply"},
    ("post", "/v1/workspaces/{workspace_id}/domains"): {"domain": "evil.example.org"},
    ("post", "/v1/workspaces"): {"name": "evil"},
    ("post", "/v1/apikeys"): {"name": "evil"},
}


def dump(server: Server) -> dict[str, list[tuple[str, ...]]]:
    """Every row of every table, as text, in primary-key order."""
    out: dict[str, list[tuple[str, ...]]] = {}
    with server.app.sessions() as session:
        for table in Base.metadata.sorted_tables:
            cols = [c for c in table.columns if (table.name, c.name) not in VOLATILE]
            rows = session.execute(select(*cols).order_by(*table.primary_key.columns)).all()
            out[table.name] = [tuple(str(v) for v in row) for row in rows]
    return out


def make_objects(server: Server) -> dict[str, str]:
    """One object of each kind in workspace A (the server's), by path-parameter name."""
    with transaction(server.app.sessions) as session:
        operator_row, operator_key = tenancy.create_api_key(session, None, "op", operator=True)
    del operator_row
    with server.client() as a:

        def made(r: httpx.Response) -> dict[str, Any]:
            assert r.status_code in (200, 201, 202), r.text
            body: dict[str, Any] = r.json()
            return body

        transport = made(
            a.post(
                "/v1/transports",
                json={
                    "name": "capture",
                    "kind": "capture",
                    "default": True,
                    "mode": "immediate",
                    "sender": "noreply@acme.example.com",
                },
            )
        )
        message = made(
            a.post(
                "/v1/messages",
                json={
                    "to": ["customer@example.net"],
                    "subject": "invoice",
                    "text": "attached",
                    "attachments": [
                        {
                            "filename": "a.txt",
                            "content_type": "text/plain",
                            "content_base64": base64.b64encode(b"hello").decode(),
                        }
                    ],
                },
            )
        )
        address = made(a.post("/v1/addresses", json={"address": "support@acme.example.com"}))
        conversation = made(
            a.post(
                "/v1/conversations",
                json={"to": ["customer@example.net"], "subject": "ticket", "text": "hi"},
            )
        )
        source = made(
            a.post(
                "/v1/sources",
                json={"name": "route", "kind": "mailgun", "config": {"signing_key": "k" * 20}},
            )
        )
        webhook = made(
            a.post(
                "/v1/webhooks",
                json={
                    "url": "http://127.0.0.1:9/hook",
                    "events": ["message.sent"],
                    "enabled": False,  # no deliveries changing rows under the walk
                },
            )
        )
        made(a.post("/v1/suppressions", json={"address": "blocked@example.net"}))
        key = made(a.post("/v1/apikeys", json={"name": "second"}))
        campaign = made(
            a.post(
                "/v1/campaigns",
                json={"name": "walk", "from": "news@acme.example.com", "subject": "s", "text": "t"},
            )
        )
        team = made(a.post("/v1/teams", json={"name": "walkers"}))
        alias = made(a.post("/v1/alias-domains", json={"domain": "acme.cn"}))
    with transaction(server.app.sessions) as session:  # an OAuth connection (test_oauth.py)
        oauth_client = OAuthClient(
            id="oac_walk", workspace_id=server.workspace_id, provider="generic",
            client_id="walk", settings={},
        )
        session.add(oauth_client)
        session.flush()
        session.add(
            OAuthConnection(id="oc_walk", workspace_id=server.workspace_id,
                            client_ref="oac_walk", state="ok")
        )
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {operator_key}"}
    ) as op:
        [domain] = op.get(f"/v1/workspaces/{server.workspace_id}/domains").json()["items"]
    return {
        "transport_id": transport["id"],
        "message_id": message["id"],
        "index": "0",
        "address_id": address["id"],
        "conversation_id": conversation["id"],
        "source_id": source["id"],
        "webhook_id": webhook["id"],
        "address": "blocked@example.net",
        "key_id": key["id"],
        "workspace_id": server.workspace_id,
        "domain_id": domain["id"],
        "campaign_id": campaign["id"],
        "team_id": team["id"],
        "alias_id": alias["id"],
        "provider": "generic",
        "connection_id": "oc_walk",
    }


def fill(path: str, objects: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        name = m[1]
        if name not in objects:
            raise AssertionError(
                f"{path}: the walk has no object for path parameter {{{name}}}; "
                "create one in make_objects() so the new route is walked"
            )
        return objects[name]

    return re.sub(r"\{([^}]+)\}", one, path)


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    ops = [
        (method, path, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    assert len(ops) > 30, "the walk found suspiciously few routes"
    return ops


def test_every_route_refuses_strangers_revoked_keys_other_tenants_and_tenants(
    server: Server,
) -> None:
    """401/403/404 for all four hostile callers on every route; no table changes."""
    objects = make_objects(server)
    _, key_b = server.new_workspace("globex")
    with transaction(server.app.sessions) as session:
        revoked_row, revoked_key = tenancy.create_api_key(session, server.workspace_id, "gone")
        tenancy.revoke_key(session, revoked_row)
    spec = httpx.get(f"{server.url}/openapi.json").json()
    before = dump(server)
    walked = 0
    problems: list[str] = []
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for method, path, op in operations(spec):
            if path in PUBLIC:
                assert "security" not in op, f"{path} is listed public but declares a key"
                continue
            assert op.get("security"), f"{method.upper()} {path} declares no API key scheme"
            url = fill(path, objects)
            operator_only = op["security"] == [{"operatorKey": []}]
            body = BODIES.get((method, path), {} if method in ("post", "patch") else None)
            ways: list[tuple[str, dict[str, str], set[int]]] = [
                ("no key", {}, {401}),
                ("revoked key", {"Authorization": f"Bearer {revoked_key}"}, {401}),
            ]
            if "{" in path:
                # Workspace B on A's objects: as if they did not exist (403 on operator routes).
                ways.append(("B's key", {"Authorization": f"Bearer {key_b}"}, {403, 404}))
            if operator_only:
                ways.append(("A's workspace key", {"Authorization": f"Bearer {server.key}"}, {403}))
                ways.append(
                    (
                        "A's key naming its own workspace",
                        {
                            "Authorization": f"Bearer {server.key}",
                            "Mailgate-Workspace": server.workspace_id,
                        },
                        {403},
                    )
                )
            for who, headers, allowed in ways:
                r = client.request(method, url, headers=headers, json=body)
                walked += 1
                if r.status_code not in allowed:
                    problems.append(
                        f"{method.upper()} {path} as {who}: {r.status_code} {r.text[:200]}"
                    )
    assert not problems, "\n".join(problems)
    assert walked > 80
    after = dump(server)
    changed = [t for t in before if before[t] != after[t]]
    assert not changed, f"hostile calls changed {changed}"


def test_unsigned_mailgun_route_is_refused(server: Server) -> None:
    """The public Mailgun route refuses an unsigned post and stores nothing."""
    with server.client() as a:
        source = a.post(
            "/v1/sources",
            json={"name": "route", "kind": "mailgun", "config": {"signing_key": "k" * 20}},
        ).json()
    before = dump(server)
    for suffix in ("", "/mime"):
        r = httpx.post(
            f"{server.url}/v1/inbound/mailgun/{source['id']}{suffix}",
            data={"recipient": "support@acme.example.com", "body-plain": "forged"},
        )
        assert 400 <= r.status_code < 500, r.text
    assert dump(server) == before
