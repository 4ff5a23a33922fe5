"""Operator and workspace keys: what a tenant may never do, and the keys API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mailgate.services import tenancy
from mailgate.store.db import transaction
from tests.servers.mailgate import Server

SENDMAIL = {"name": "local", "kind": "sendmail", "config": {"path": "/usr/bin/tar"}}


@pytest.fixture
def operator(server: Server) -> Iterator[httpx.Client]:
    """A client with an operator key (no workspace)."""
    with transaction(server.app.sessions) as session:
        _, key = tenancy.create_api_key(session, None, "ops", operator=True)
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as client:
        yield client


def in_workspace(server: Server) -> dict[str, str]:
    return {"Mailgate-Workspace": server.workspace_id}


def forbidden(r: httpx.Response, field: str | None) -> None:
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "forbidden"
    assert r.json()["error"]["field"] == field


def test_workspace_key_cannot_configure_programs_files_or_system(
    server: Server, tmp_path: Path
) -> None:
    """sendmail, system scope and local-path settings are refused to a tenant, naming the field."""
    ca = tmp_path / "ca.pem"
    ca.write_text("not a certificate")
    smtp = {"name": "relay", "kind": "smtp", "config": {"host": "127.0.0.1", "port": 2525}}
    imap = {
        "name": "box",
        "kind": "imap",
        "config": {"host": "127.0.0.1", "username": "u", "password": "p", "ca_file": str(ca)},
    }
    with server.client() as c:
        forbidden(c.post("/v1/transports", json=SENDMAIL), "kind")
        forbidden(c.post("/v1/transports", json={**smtp, "scope": "system"}), "scope")
        with_ca = {**smtp, "config": {**smtp["config"], "ca_file": str(ca)}}
        forbidden(c.post("/v1/transports", json=with_ca), "config.ca_file")
        forbidden(c.post("/v1/sources", json=imap), "config.ca_file")
        assert c.get("/v1/transports").json()["items"] == []
        assert c.get("/v1/sources").json()["items"] == []
        # An ordinary transport, then trying to turn it into sendmail or give it a file.
        t = c.post("/v1/transports", json=smtp).json()
        forbidden(c.patch(f"/v1/transports/{t['id']}", json={"kind": "sendmail"}), "kind")
        r = c.patch(f"/v1/transports/{t['id']}", json={"config": {"ca_file": str(ca)}})
        forbidden(r, "config.ca_file")
        after = c.get(f"/v1/transports/{t['id']}").json()
        assert after["kind"] == "smtp" and "ca_file" not in after["config"]


def test_operator_sets_sendmail_and_tenant_cannot_touch_or_check_it(
    server: Server, operator: httpx.Client, tmp_path: Path
) -> None:
    """An operator may; the workspace may use it but not change or /check it."""
    r = operator.post("/v1/transports", json=SENDMAIL, headers=in_workspace(server))
    assert r.status_code == 201, r.text
    tid = r.json()["id"]
    with server.client() as c:
        assert c.get(f"/v1/transports/{tid}").status_code == 200
        forbidden(c.patch(f"/v1/transports/{tid}", json={"name": "mine"}), "kind")
        forbidden(c.post(f"/v1/transports/{tid}/check"), "kind")
    r = operator.post(f"/v1/transports/{tid}/check", headers=in_workspace(server))
    assert r.status_code == 200, r.text
    # The operator's ca_file on a source stays when the workspace edits something else.
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    box = {
        "name": "box",
        "kind": "pop3",
        "enabled": False,
        "config": {"host": "127.0.0.1", "username": "u", "password": "p", "ca_file": str(ca)},
    }
    r = operator.post("/v1/sources", json=box, headers=in_workspace(server))
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    with server.client() as c:
        r = c.patch(f"/v1/sources/{sid}", json={"name": "renamed", "config": {"ca_file": str(ca)}})
        assert r.status_code == 200, r.text
        r = c.patch(f"/v1/sources/{sid}", json={"config": {"ca_file": "/etc/shadow"}})
        forbidden(r, "config.ca_file")
        assert c.get(f"/v1/sources/{sid}").json()["config"]["ca_file"] == str(ca)


def test_workspace_header_is_for_operators_only(server: Server, operator: httpx.Client) -> None:
    """A workspace key may not name a workspace; an operator must, on workspace routes."""
    other_ws, _ = server.new_workspace("globex")
    with server.client() as c:
        for ws in (other_ws, server.workspace_id):
            r = c.get("/v1/transports", headers={"Mailgate-Workspace": ws})
            forbidden(r, "Mailgate-Workspace")
    r = operator.get("/v1/transports")
    assert r.status_code == 422 and r.json()["error"]["field"] == "Mailgate-Workspace"
    r = operator.get("/v1/transports", headers={"Mailgate-Workspace": "ws_nope"})
    assert r.status_code == 404 and r.json()["error"]["field"] == "Mailgate-Workspace"
    r = operator.get("/v1/transports", headers={"Mailgate-Workspace": other_ws})
    assert r.status_code == 200


def test_operator_routes_refuse_workspace_keys(server: Server, operator: httpx.Client) -> None:
    """401 without a key, 403 for a workspace key, 200/201 for the operator."""
    assert httpx.get(f"{server.url}/v1/workspaces").status_code == 401
    with server.client() as c:
        forbidden(c.get("/v1/workspaces"), None)
        forbidden(c.post("/v1/workspaces", json={"name": "evil"}), None)
    r = operator.post("/v1/workspaces", json={"name": "globex", "domains": ["globex.example"]})
    assert r.status_code == 201, r.text
    assert [d["domain"] for d in r.json()["domains"]] == ["globex.example"]
    names = [w["name"] for w in operator.get("/v1/workspaces").json()["items"]]
    assert names == ["acme", "globex"]
    r = operator.post("/v1/workspaces", json={"name": "globex"})
    assert r.status_code == 409


def test_keys_api_is_scoped_to_the_workspace(server: Server, operator: httpx.Client) -> None:
    """A tenant creates, lists and revokes its own keys only; revoking is immediate."""
    other_ws, other_key = server.new_workspace("globex")
    with server.client() as c:
        r = c.post("/v1/apikeys", json={"name": "ci"})
        assert r.status_code == 201, r.text
        created = r.json()
        assert created["key"].startswith("mg_") and created["workspace"] == server.workspace_id
        r = c.post("/v1/apikeys", json={"workspace": other_ws, "name": "evil"})
        assert r.status_code == 404 and r.json()["error"]["field"] == "workspace"
        forbidden(c.post("/v1/apikeys", json={"operator": True}), "operator")
        listed = c.get("/v1/apikeys").json()["items"]
        assert {k["workspace"] for k in listed} == {server.workspace_id}
        assert all("key" not in k and "key_hash" not in k for k in listed)
        assert created["id"] in {k["id"] for k in listed}
    with server.client(other_key) as b:
        assert b.delete(f"/v1/apikeys/{created['id']}").status_code == 404
        assert created["id"] not in {k["id"] for k in b.get("/v1/apikeys").json()["items"]}
    with server.client(created["key"]) as new:
        assert new.get("/v1/transports").status_code == 200
        assert new.delete(f"/v1/apikeys/{created['id']}").status_code == 204
        r = new.get("/v1/transports")
        assert r.status_code == 401, "a revoked key must fail on its very next request"
    revoked = [k for k in operator.get("/v1/apikeys").json()["items"] if k["id"] == created["id"]]
    assert revoked[0]["revoked"] is True
    # The operator names any workspace, and may mint operator keys.
    r = operator.post("/v1/apikeys", json={"workspace": other_ws})
    assert r.status_code == 201 and r.json()["workspace"] == other_ws
    r = operator.post("/v1/apikeys", json={"operator": True, "name": "second operator"})
    assert r.status_code == 201 and r.json()["operator"] is True
    assert operator.post("/v1/apikeys", json={}).status_code == 422


def test_last_used_is_recorded_but_not_on_every_request(server: Server) -> None:
    """last_used_at is set on use and not rewritten within the minute."""
    with server.client() as c:
        first = next(k for k in c.get("/v1/apikeys").json()["items"] if k["name"] == "tests")
        assert first["last_used_at"] is not None
        c.get("/v1/transports")
        again = next(k for k in c.get("/v1/apikeys").json()["items"] if k["name"] == "tests")
    assert again["last_used_at"] == first["last_used_at"]


def test_openapi_lists_both_kinds_of_key(server: Server) -> None:
    """Workspace and operator keys are security schemes; operator routes name only theirs."""
    spec = httpx.get(f"{server.url}/openapi.json").json()
    assert set(spec["components"]["securitySchemes"]) == {"workspaceKey", "operatorKey"}
    assert spec["paths"]["/v1/workspaces"]["get"]["security"] == [{"operatorKey": []}]
    both = [{"workspaceKey": []}, {"operatorKey": []}]
    assert spec["paths"]["/v1/transports"]["post"]["security"] == both
    assert spec["paths"]["/v1/apikeys"]["post"]["security"] == both


def test_system_transports_are_the_operators(server: Server, operator: httpx.Client) -> None:
    """A workspace sees a system transport but cannot change or delete it (403 naming scope)."""
    body = {"name": "shared", "kind": "capture", "scope": "system"}
    r = operator.post("/v1/transports", json=body, headers=in_workspace(server))
    assert r.status_code == 201, r.text
    tid = r.json()["id"]
    with server.client() as c:
        assert c.get(f"/v1/transports/{tid}").json()["scope"] == "system"
        forbidden(c.patch(f"/v1/transports/{tid}", json={"name": "mine"}), "scope")
        forbidden(c.delete(f"/v1/transports/{tid}"), "scope")
        assert c.get(f"/v1/transports/{tid}").json()["name"] == "shared"
