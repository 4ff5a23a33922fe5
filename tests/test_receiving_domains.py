"""A workspace receives only for domains that are its own; the listener has no catch-all."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator

import httpx
import pytest

from mailgate.inbound import tokens
from mailgate.inbound.recipients import workspace_for
from mailgate.runtime import Mailgate
from mailgate.services import receiving_domains, tenancy
from mailgate.store.db import transaction
from mailgate.store.models import (
    Conversation,
    ReceivingDomain,
    SupportAddress,
    TransportRow,
    new_id,
)
from tests.servers.listener import RunningListener, add_address
from tests.servers.mailgate import Server


@pytest.fixture
def operator(server: Server) -> Iterator[httpx.Client]:
    with transaction(server.app.sessions) as session:
        _, key = tenancy.create_api_key(session, None, "ops", operator=True)
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as client:
        yield client


def domains_of(operator: httpx.Client, workspace_id: str) -> list[str]:
    r = operator.get(f"/v1/workspaces/{workspace_id}/domains")
    assert r.status_code == 200, r.text
    return [d["domain"] for d in r.json()["items"]]


def test_the_only_workspace_holds_the_domains_it_registers(
    server: Server, operator: httpx.Client
) -> None:
    """What `mailgate init` makes keeps working: registering an address takes its domain."""
    with server.client() as c:
        r = c.post("/v1/addresses", json={"address": "Support@Acme.Example.COM"})
        assert r.status_code == 201, r.text
        assert r.json()["address"] == "support@acme.example.com"
        r = c.post("/v1/addresses", json={"address": "support@acme.example.com"})
        assert r.status_code == 409
    assert domains_of(operator, server.workspace_id) == ["acme.example.com"]


def test_another_workspace_cannot_claim_a_held_domain_or_learn_whose_it_is(
    server: Server, operator: httpx.Client
) -> None:
    """B gets the same 409 for A's address and for a new address on A's domain, naming no one."""
    with server.client() as a:
        assert a.post("/v1/addresses", json={"address": "support@acme.example.com"}).is_success
    b_ws, b_key = server.new_workspace("globex")
    with server.client(b_key) as b:
        answers = [
            b.post("/v1/addresses", json={"address": addr})
            for addr in ("support@acme.example.com", "sales@acme.example.com")
        ]
        for r, addr in zip(
            answers, ("support@acme.example.com", "sales@acme.example.com"), strict=True
        ):
            assert r.status_code == 409, r.text
            err = r.json()["error"]
            assert err["field"] == "address"
            assert server.workspace_id not in r.text and "'acme'" not in r.text
            assert err["message"].replace(addr, "ADDR") == "ADDR is not available to this workspace"
        # A domain nobody holds: the operator has to assign it first.
        r = b.post("/v1/addresses", json={"address": "help@globex.example"})
        assert r.status_code == 403 and r.json()["error"]["field"] == "address"
        r = operator.post(f"/v1/workspaces/{b_ws}/domains", json={"domain": "globex.example"})
        assert r.status_code == 201, r.text
        assert b.post("/v1/addresses", json={"address": "help@globex.example"}).status_code == 201
        assert [x["address"] for x in b.get("/v1/addresses").json()["items"]] == [
            "help@globex.example"
        ]
    # The operator cannot hand A's domain to B either.
    r = operator.post(f"/v1/workspaces/{b_ws}/domains", json={"domain": "acme.example.com"})
    assert r.status_code == 409


def test_bounce_addresses_are_reserved_to_their_workspace(server: Server) -> None:
    """B can neither register A's bounce address nor use it as its own transport's."""
    with server.client() as a:
        r = a.post(
            "/v1/transports",
            json={
                "name": "relay",
                "kind": "capture",
                "sender": "noreply@acme.example.com",
                "bounce_address": "bounces@acme.example.com",
            },
        )
        assert r.status_code == 201, r.text
    _, b_key = server.new_workspace("globex")
    with server.client(b_key) as b:
        r = b.post("/v1/addresses", json={"address": "bounces@acme.example.com"})
        assert r.status_code == 409 and "acme'" not in r.text
        r = b.post(
            "/v1/transports",
            json={
                "name": "mine",
                "kind": "capture",
                "sender": "noreply@globex.example",
                "bounce_address": "bounces@acme.example.com",
            },
        )
        assert r.status_code == 409 and r.json()["error"]["field"] == "bounce_address"
        # On a domain nobody receives for, a bounce address is reserved by itself.
        r = b.post(
            "/v1/transports",
            json={
                "name": "mine",
                "kind": "capture",
                "sender": "noreply@globex.example",
                "bounce_address": "bounces@mail.globex.example",
            },
        )
        assert r.status_code == 201, r.text
    with server.client() as a:
        r = a.post("/v1/addresses", json={"address": "bounces@mail.globex.example"})
        assert r.status_code == 409


def test_a_domain_holder_wins_over_an_earlier_claim(mailgate_app: Mailgate) -> None:
    """Old rows: A's bounce address beats B's claim on it; the domain holder beats the rest."""
    with transaction(mailgate_app.sessions) as session:
        a = tenancy.create_workspace(session, "acme").id
        b = tenancy.create_workspace(session, "globex").id
        # Rows as the unchecked code used to let them be written.
        session.add(SupportAddress(id=new_id("adr"), workspace_id=b, address="bounces@a.example"))
        session.add(
            TransportRow(
                id=new_id("tr"),
                workspace_id=a,
                scope="workspace",
                scope_key=a,
                name="relay",
                kind="capture",
                config={},
                bounce_address="bounces@a.example",
            )
        )
        session.add(SupportAddress(id=new_id("adr"), workspace_id=b, address="info@a.example"))
    with mailgate_app.sessions() as session:
        # The bounce address is reserved to its transport's workspace.
        assert workspace_for(session, mailgate_app.secrets, "bounces@a.example") == a
        assert workspace_for(session, mailgate_app.secrets, "info@a.example") == b
    with transaction(mailgate_app.sessions) as session:
        session.add(ReceivingDomain(id=new_id("dom"), workspace_id=a, domain="a.example"))
    with mailgate_app.sessions() as session:
        assert workspace_for(session, mailgate_app.secrets, "BOUNCES@A.EXAMPLE.") == a
        # Once a.example is A's, B's old claim on it receives nothing.
        assert workspace_for(session, mailgate_app.secrets, "info@a.example") is None


def test_domain_names_are_normalised_and_junk_refused(
    server: Server, operator: httpx.Client
) -> None:
    """IDNA A-labels in lower case; anything that is not a domain is 422 naming `domain`."""
    url = f"/v1/workspaces/{server.workspace_id}/domains"
    r = operator.post(url, json={"domain": "Bücher.Example."})
    assert r.status_code == 201, r.text
    assert r.json()["domain"] == "xn--bcher-kva.example"
    assert operator.post(url, json={"domain": "xn--bcher-kva.example"}).status_code == 409
    for junk in ("%", "a_test", "", "x@y.example", "192.0.2.1", "localhost", "-a.example", "a..b"):
        r = operator.post(url, json={"domain": junk})
        assert r.status_code == 422, junk
        assert r.json()["error"]["field"] == "domain"
    domain_id = operator.get(url).json()["items"][0]["id"]
    other_ws, _ = server.new_workspace("globex")
    assert operator.get(f"/v1/workspaces/{other_ws}/domains/{domain_id}").status_code == 404
    assert operator.delete(f"/v1/workspaces/{other_ws}/domains/{domain_id}").status_code == 404
    assert operator.delete(f"{url}/{domain_id}").status_code == 204
    assert operator.get(f"{url}/{domain_id}").status_code == 404


def test_operator_acting_in_a_workspace_assigns_the_domain(
    server: Server, operator: httpx.Client
) -> None:
    """An operator registering an address in a workspace gives that workspace its domain."""
    other_ws, _ = server.new_workspace("globex")
    r = operator.post(
        "/v1/addresses",
        json={"address": "help@globex.example"},
        headers={"Mailgate-Workspace": other_ws},
    )
    assert r.status_code == 201, r.text
    assert domains_of(operator, other_ws) == ["globex.example"]


def rcpt(running: RunningListener, address: str) -> int:
    with smtplib.SMTP(running.host, running.port) as client:
        client.ehlo()
        client.mail("customer@client.example.org")
        code, _ = client.rcpt(address)
    return code


def test_listener_refuses_unregistered_and_wildcard_recipients(
    smtp_listener: RunningListener,
) -> None:
    """550 for an unregistered address on our domain and for LIKE wildcards; tokens still 250."""
    app = smtp_listener.app
    add_address(app, smtp_listener.workspace_id, "help@a.test")
    for address in (
        "x@%",
        "x@a_test",
        "help@a_test",
        "x@acme.example_com",
        "x@acme_example.com",
        "x@%.com",
        "sales@acme.example.com",
    ):
        assert rcpt(smtp_listener, address) == 550, address
    with transaction(app.sessions) as session:
        receiving_domains.assign(session, smtp_listener.workspace_id, "acme.example.com")
        session.add(
            Conversation(
                id=new_id("conv"), workspace_id=smtp_listener.workspace_id, tag="k3j9x2m4qz"
            )
        )
    assert rcpt(smtp_listener, "sales@acme.example.com") == 550
    assert rcpt(smtp_listener, "support@acme.example.com") == 250
    assert rcpt(smtp_listener, "HELP@A.TEST") == 250
    reply = tokens.reply_address(app.secrets, "k3j9x2m4qz", "acme.example.com")
    assert rcpt(smtp_listener, reply) == 250
    forged = reply.replace(".", ".0", 1)
    assert rcpt(smtp_listener, forged) == 550
