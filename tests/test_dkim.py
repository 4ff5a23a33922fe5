"""DKIM keys, records, rotation and signing in the worker, on SQLite and PostgreSQL.

Signatures are checked by dkimpy against the records a real DNS server (Knot, the
``authdns`` fixture) serves; the test publishes what mailgate asked for.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import dkim
import dns.message
import dns.query
import dns.rdatatype
import httpx
import pytest

from mailgate.domains import dkim as keys
from mailgate.runtime import Mailgate
from mailgate.store.db import transaction
from mailgate.store.models import DkimKey, SendingDomain, new_id, utcnow
from tests.helpers import smtp_transport, wait_status
from tests.servers.authdns import AuthDns
from tests.servers.mailgate import Server
from tests.servers.smtpsink import SmtpSink

DOMAIN = "news.acme.test"  # inside the zone the authdns fixture serves


def add_domain(app: Mailgate, workspace_id: str, name: str = DOMAIN, **kw: Any) -> str:
    """A sending domain with its keys, as the domains API creates it."""
    with transaction(app.sessions) as session:
        row = SendingDomain(id=new_id("dom"), workspace_id=workspace_id, name=name)
        session.add(row)
        session.flush()
        keys.ensure_keys(session, app.secrets, row, **kw)
        return row.id


def publish(authdns: AuthDns, app: Mailgate, domain_id: str) -> None:
    """Publish exactly the DKIM records mailgate asks for now."""
    with transaction(app.sessions) as session:
        row = session.get(SendingDomain, domain_id)
        assert row is not None
        records = keys.dkim_records(session, app.secrets, row, app.settings)
    lines = []
    for r in records:
        assert r["type"] == "TXT"
        value = r["value"]
        strings = " ".join(f'"{value[i : i + 200]}"' for i in range(0, len(value), 200))
        lines.append(f"{r['host']}. TXT {strings}")
    authdns.publish(*lines)


def dkimpy_verdicts(raw: bytes, authdns: AuthDns) -> list[tuple[str, bool]]:
    """(selector, dkimpy's verdict) per DKIM-Signature, keys looked up in the real DNS."""

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        query = dns.message.make_query(name.decode(), "TXT")
        reply = dns.query.udp(query, authdns.address[0], port=authdns.address[1], timeout=5)
        for rrset in reply.answer:
            if rrset.rdtype == dns.rdatatype.TXT:
                return b"".join(rrset[0].strings)
        return None

    d = dkim.DKIM(raw)
    out = []
    for i, (_, value) in enumerate(h for h in d.headers if h[0].lower() == b"dkim-signature"):
        selector = dkim.util.parse_tag_value(value)[b"s"].decode()
        try:
            ok = bool(d.verify(idx=i, dnsfunc=dnsfunc))
        except dkim.ValidationError:
            ok = False
        out.append((selector, ok))
    return out


def sent_message(sink: SmtpSink, count: int) -> bytes:
    """The message part of the newest smtp-sink dump (its own X- lines left on top)."""
    return sink.messages(expect=count)[-1].dump


def send(c: httpx.Client, **extra: Any) -> dict[str, Any]:
    body = {
        "from": f"Ann <ann@{DOMAIN}>",
        "to": ["bob@example.net"],
        "subject": "您的发票已开具 — invoice",
        "text": "Hello  \nthere\n\n",
        **extra,
    }
    r = c.post("/v1/messages", json=body)
    assert r.status_code == 202, r.text
    return wait_status(c, r.json()["id"], "sent")


def test_keys_are_sealed_and_records_explain_them(mailgate_app: Mailgate) -> None:
    """RSA-2048 by default (+ Ed25519 on request); the private key is stored encrypted."""
    with transaction(mailgate_app.sessions) as session:
        from mailgate.services import tenancy

        ws = tenancy.create_workspace(session, "acme")
    domain_id = add_domain(mailgate_app, ws.id, ed25519=True)
    with transaction(mailgate_app.sessions) as session:
        rows = session.query(DkimKey).filter(DkimKey.domain_id == domain_id).all()
        assert sorted(k.algorithm for k in rows) == ["ed25519-sha256", "rsa-sha256"]
        for k in rows:
            assert "PRIVATE KEY" not in k.private_key
            assert "PRIVATE KEY" in mailgate_app.secrets.decrypt(k.private_key)["pem"]
            assert k.state == "active"  # a first key signs at once (RFC 6376 §6.1)
        row = session.get(SendingDomain, domain_id)
        assert row is not None
        records = keys.dkim_records(session, mailgate_app.secrets, row, mailgate_app.settings)
    assert [r["type"] for r in records] == ["TXT", "TXT"]
    rsa_record = records[0]
    assert rsa_record["host"].endswith(f"._domainkey.{DOMAIN}")
    assert rsa_record["host"].startswith("mg")
    assert rsa_record["value"].startswith("v=DKIM1; k=rsa; p=MIIBIjAN")  # 2048-bit SPKI
    assert records[1]["value"].startswith("v=DKIM1; k=ed25519; p=")
    assert all(r["purpose"] == "dkim" and r["reason"] for r in records)


def test_delegated_records_are_cnames_and_the_zone_is_served_to_operators(
    server: Server,
) -> None:
    """With a delegation domain the customer publishes a CNAME; operators get the zone."""
    server.app.settings.dkim_delegation_domain = "mailgate-dns.example"
    domain_id = add_domain(server.app, server.workspace_id)
    with server.client() as c:
        body = c.get(f"/v1/domains/{domain_id}/dkim").json()
        [record] = body["records"]
        selector = body["keys"][0]["selector"]
        assert record["type"] == "CNAME"
        assert record["host"] == f"{selector}._domainkey.{DOMAIN}"
        assert record["value"] == f"{selector}.{DOMAIN}.dkim.mailgate-dns.example"
        assert "private" not in str(body).lower()
        assert c.get("/v1/dkim/zone").status_code == 403  # a workspace key
    with server.operator_client() as op:
        zone = op.get("/v1/dkim/zone").json()
    [line] = zone["records"]
    assert line.startswith(f"{selector}.{DOMAIN}.dkim.mailgate-dns.example. 3600 IN TXT ")
    assert body["keys"][0]["public_key"] in line.replace('" "', "")


def test_another_workspace_cannot_see_or_rotate_the_keys(server: Server) -> None:
    """A domain of another workspace is not found: neither its keys nor a rotation."""
    domain_id = add_domain(server.app, server.workspace_id)
    _, other_key = server.new_workspace("rival")
    with server.client(other_key) as c:
        r = c.post(f"/v1/domains/{domain_id}/dkim/rotate")
        assert r.status_code == 404
        assert r.json()["error"]["field"] == "domain"
        assert c.get(f"/v1/domains/{domain_id}/dkim").status_code == 404
    with server.app.sessions() as session:
        assert session.query(DkimKey).filter(DkimKey.domain_id == domain_id).count() == 1


def test_signed_in_the_worker_and_verified_after_relays_add_headers(
    server: Server, smtp_sink: SmtpSink, authdns: AuthDns
) -> None:
    """Mail from the domain leaves signed (RSA, Ed25519); headers a relay adds keep it valid."""
    domain_id = add_domain(server.app, server.workspace_id, ed25519=True)
    publish(authdns, server.app, domain_id)
    with server.client() as c:
        c.post("/v1/transports", json=smtp_transport(smtp_sink.port))
        send(c, headers={"List-Unsubscribe": "<mailto:u@news.acme.test>"})
        send(c, **{"from": "Ann <ann@unrelated.example>"})
    first, second = smtp_sink.messages(expect=2)
    assert first.dump.startswith(b"X-")  # smtp-sink prepended its own lines
    verdicts = dkimpy_verdicts(first.dump, authdns)
    assert [ok for _, ok in verdicts] == [True, True]
    assert verdicts[0][0].startswith("mg") and verdicts[1][0].startswith("ed")
    assert b"list-unsubscribe" in first.dump.lower().split(b"bh=")[0]
    assert b"DKIM-Signature" not in second.dump  # not a domain of the workspace


def test_sender_domain_signs_under_on_behalf_of(
    server: Server, smtp_sink: SmtpSink, authdns: AuthDns
) -> None:
    """on_behalf_of keeps the author in From; the Sender domain (the account's) signs."""
    domain_id = add_domain(server.app, server.workspace_id)
    publish(authdns, server.app, domain_id)
    with server.client() as c:
        transport = smtp_transport(
            smtp_sink.port, sender=f"noreply@{DOMAIN}", sender_policy="on_behalf_of"
        )
        assert c.post("/v1/transports", json=transport).status_code == 201
        send(c, **{"from": "Kim <kim@customer.example>"})
    dump = sent_message(smtp_sink, 1)
    assert f"d={DOMAIN}".encode() in dump
    assert [ok for _, ok in dkimpy_verdicts(dump, authdns)] == [True]


def test_a_tenant_cannot_send_signed_as_another_workspaces_domain(
    server: Server, smtp_sink: SmtpSink
) -> None:
    """Workspace B sending From A's domain leaves unsigned: keys never cross workspaces."""
    add_domain(server.app, server.workspace_id)
    _, rival = server.new_workspace("rival")
    with server.client(rival) as c:
        assert c.post("/v1/transports", json=smtp_transport(smtp_sink.port)).status_code == 201
        send(c)
    assert b"DKIM-Signature" not in sent_message(smtp_sink, 1)


def test_rotation_cycle(server: Server, smtp_sink: SmtpSink, authdns: AuthDns) -> None:
    """rotate → pending (old key still signs) → published and seen → new key signs →
    old key retiring for the grace period → retired, erased and no longer asked for."""
    app = server.app
    app.settings.dns_resolver = authdns.address
    domain_id = add_domain(app, server.workspace_id)
    publish(authdns, app, domain_id)
    with server.client() as c:
        c.post("/v1/transports", json=smtp_transport(smtp_sink.port))
        old = c.get(f"/v1/domains/{domain_id}/dkim").json()["keys"][0]["selector"]

        r = c.post(f"/v1/domains/{domain_id}/dkim/rotate")
        assert r.status_code == 201, r.text
        body = r.json()
        states = {k["selector"]: k["state"] for k in body["keys"]}
        new = next(s for s, st in states.items() if st == "pending")
        assert states == {old: "active", new: "pending"}
        assert {rec["host"] for rec in body["records"]} == {
            f"{old}._domainkey.{DOMAIN}",
            f"{new}._domainkey.{DOMAIN}",
        }
        assert "New key" in next(x for x in body["records"] if x["host"].startswith(new))["reason"]

        send(c)  # not yet published: the old key keeps signing
        assert dkimpy_verdicts(sent_message(smtp_sink, 1), authdns) == [(old, True)]

        with transaction(app.sessions) as session:  # not in DNS yet: nothing changes
            row = session.get(SendingDomain, domain_id)
            assert row is not None
            assert keys.check_pending(session, row, app.settings) == []

        publish(authdns, app, domain_id)
        checked = c.post(f"/v1/domains/{domain_id}/dkim/check").json()
        assert checked["promoted"] == [new]

        send(c)
        assert dkimpy_verdicts(sent_message(smtp_sink, 2), authdns) == [(new, True)]
        states = {k["selector"]: k for k in c.get(f"/v1/domains/{domain_id}/dkim").json()["keys"]}
        assert states[old]["state"] == "retiring" and states[new]["state"] == "active"
        assert states[old]["retire_after"] is not None

    later = utcnow() + timedelta(seconds=app.settings.dkim_retire_after_seconds + 1)
    with transaction(app.sessions) as session:
        row = session.get(SendingDomain, domain_id)
        assert row is not None
        records = keys.dkim_records(session, app.secrets, row, app.settings, now=later)
        assert [r["host"] for r in records] == [f"{new}._domainkey.{DOMAIN}"]
        retired = session.query(DkimKey).filter(DkimKey.selector == old).one()
        assert retired.state == "retired" and retired.private_key == ""


def test_promotion_needs_the_exact_key(mailgate_app: Mailgate) -> None:
    """A pending key is not promoted by a record carrying some other key (or none)."""
    from mailgate.services import tenancy

    with transaction(mailgate_app.sessions) as session:
        ws = tenancy.create_workspace(session, "acme")
    domain_id = add_domain(mailgate_app, ws.id)
    with transaction(mailgate_app.sessions) as session:
        row = session.get(SendingDomain, domain_id)
        assert row is not None
        [pending] = keys.rotate(session, mailgate_app.secrets, row)
        active = next(k for k in keys.published_keys(session, row) if k.state == "active")
        found = {pending.selector: active.public_key}
        assert keys.promote_verified(session, row, found) == []
        assert keys.promote_verified(session, row, {pending.selector: None}) == []
        spaced = " ".join(pending.public_key[i : i + 50] for i in range(0, 400, 50))
        assert keys.promote_verified(session, row, {pending.selector: spaced}) == [pending]


@pytest.mark.parametrize("algorithms", [False, True])
def test_rotate_twice_replaces_the_unfinished_rotation(
    mailgate_app: Mailgate, algorithms: bool
) -> None:
    """A second rotate before the first was published replaces it (one pending per algorithm)."""
    from mailgate.services import tenancy

    with transaction(mailgate_app.sessions) as session:
        ws = tenancy.create_workspace(session, "acme")
    domain_id = add_domain(mailgate_app, ws.id, ed25519=algorithms)
    with transaction(mailgate_app.sessions) as session:
        row = session.get(SendingDomain, domain_id)
        assert row is not None
        first = [k.selector for k in keys.rotate(session, mailgate_app.secrets, row)]
        second = [k.selector for k in keys.rotate(session, mailgate_app.secrets, row)]
        states = sorted(k.state for k in keys.published_keys(session, row))
    assert len(second) == (2 if algorithms else 1)
    assert set(first).isdisjoint(second)
    assert states == ["active"] * len(second) + ["pending"] * len(second)


def test_secret_key_rotation_reseals_active_keys_and_skips_retired(
    mailgate_app: Mailgate,
) -> None:
    """`mailgate secrets rotate` re-seals DKIM keys under the new key; a retired (erased) key
    is skipped instead of failing the run."""
    from mailgate.crypto import SecretBox
    from mailgate.services import secrets as secret_service
    from mailgate.services import tenancy

    with transaction(mailgate_app.sessions) as session:
        ws = tenancy.create_workspace(session, "acme")
    domain_id = add_domain(mailgate_app, ws.id)
    with transaction(mailgate_app.sessions) as session:
        row = session.get(SendingDomain, domain_id)
        assert row is not None
        [new] = keys.rotate(session, mailgate_app.secrets, row)
        keys.promote_verified(session, row, {new.selector: new.public_key})
        later = utcnow() + timedelta(days=30)
        keys.retire_due(session, row, now=later)
    old_key = mailgate_app.settings.secret_key
    new_key = "dkim-rotation-key-7Hq2Lm9Xv4Bn8Rt1Wy6Zp0Hc5Jd3"
    mailgate_app.secrets = SecretBox(new_key, old_key)
    report = secret_service.rotate_all(mailgate_app)
    assert report.unreadable == []
    with mailgate_app.sessions() as session:
        stored = {k.state: k.private_key for k in session.query(DkimKey)}
    assert stored["retired"] == ""
    assert "PRIVATE KEY" in SecretBox(new_key).decrypt(stored["active"])["pem"]


def test_rotation_behind_a_delegation_cname(server: Server, authdns: AuthDns) -> None:
    """Delegated: the new selector's CNAME plus the installation's TXT promote the key."""
    app = server.app
    app.settings.dns_resolver = authdns.address
    app.settings.dkim_delegation_domain = "mailgate.test"
    domain_id = add_domain(app, server.workspace_id)
    with server.client() as c:
        body = c.post(f"/v1/domains/{domain_id}/dkim/rotate").json()
        [pending] = [k for k in body["keys"] if k["state"] == "pending"]
        record = next(r for r in body["records"] if r["host"].startswith(pending["selector"]))
        assert record["type"] == "CNAME"
        assert c.post(f"/v1/domains/{domain_id}/dkim/check").json()["promoted"] == []
        with server.operator_client() as op:
            zone = op.get("/v1/dkim/zone").json()["records"]
        served = [line for line in zone if line.startswith(record["value"] + ".")]
        assert len(served) == 1
        authdns.publish(f"{record['host']}. CNAME {record['value']}.", served[0])
        assert c.post(f"/v1/domains/{domain_id}/dkim/check").json()["promoted"] == [
            pending["selector"]
        ]


def test_delegated_rotation_completes_through_the_domains_verify(
    server: Server, authdns: AuthDns
) -> None:
    """POST /v1/domains/{id}/verify (and so the scheduled re-check) promotes it too."""
    app = server.app
    app.settings.dns_resolver = authdns.address
    app.settings.dkim_delegation_domain = "mailgate.test"
    domain_id = add_domain(app, server.workspace_id)
    with server.client() as c:
        body = c.post(f"/v1/domains/{domain_id}/dkim/rotate").json()
        [pending] = [k for k in body["keys"] if k["state"] == "pending"]
        record = next(r for r in body["records"] if r["host"].startswith(pending["selector"]))
        with server.operator_client() as op:
            zone = op.get("/v1/dkim/zone").json()["records"]
        served = next(line for line in zone if line.startswith(record["value"] + "."))
        authdns.publish(f"{record['host']}. CNAME {record['value']}.", served)
        c.post(f"/v1/domains/{domain_id}/verify")
        keys = c.get(f"/v1/domains/{domain_id}/dkim").json()["keys"]
        assert {k["selector"]: k["state"] for k in keys}[pending["selector"]] == "active"


def test_large_batches_sign_in_helper_processes(
    server: Server, smtp_sink: SmtpSink, authdns: AuthDns
) -> None:
    """With MAILGATE_DKIM_SIGN_PROCESSES a batch is signed off the worker's GIL, just as valid."""
    from mailgate.queue import signing

    server.app.settings.dkim_sign_processes = 2
    domain_id = add_domain(server.app, server.workspace_id, ed25519=True)
    publish(authdns, server.app, domain_id)
    count = signing.POOL_MIN_BATCH + 4
    try:
        with server.client() as c:
            c.post("/v1/transports", json=smtp_transport(smtp_sink.port))
            batch = [
                {"from": f"ann@{DOMAIN}", "to": [f"u{i}@example.net"], "text": f"n{i} "}
                for i in range(count)
            ]
            r = c.post("/v1/messages/batch", json={"messages": batch})
            assert r.status_code in (200, 202), r.text
            for item in r.json()["items"]:
                wait_status(c, item["id"], "sent")
        assert signing._POOL is not None  # the helpers did the signing
        for got in smtp_sink.messages(expect=count):
            assert [ok for _, ok in dkimpy_verdicts(got.dump, authdns)] == [True, True]
    finally:
        signing._drop_pool()


def test_an_unreadable_key_defers_instead_of_sending_unsigned(
    server: Server, smtp_sink: SmtpSink
) -> None:
    """A key sealed under a secret key that is gone: the message waits with the reason."""
    from mailgate.crypto import SecretBox
    from tests.helpers import wait_for

    add_domain(server.app, server.workspace_id)
    server.app.secrets = SecretBox("another-secret-key-4Hq2Lm9Xv4Bn8Rt1Wy6Zp0Hc5Jd3")
    with server.client() as c:
        c.post("/v1/transports", json=smtp_transport(smtp_sink.port))
        body = {"from": f"ann@{DOMAIN}", "to": ["b@example.net"], "text": "hi"}
        r = c.post("/v1/messages", json=body)
        assert r.status_code == 202, r.text

        def attempted() -> dict[str, Any] | None:
            detail: dict[str, Any] = c.get(f"/v1/messages/{r.json()['id']}").json()
            return detail if detail["recipients"][0]["attempts"] else None

        detail = wait_for(attempted, what="a delivery attempt")
    attempt = detail["recipients"][0]["attempts"][0]
    assert "DKIM key of news.acme.test unreadable" in str(attempt)
    assert detail["status"] not in ("sent", "failed")
    assert smtp_sink.messages() == []


def test_dkim_settings_are_read_and_checked(tmp_path: Path) -> None:
    """MAILGATE_DKIM_* are read from the environment; a bad number names its variable."""
    from mailgate.config import Settings
    from mailgate.errors import ConfigurationError

    base = {
        "MAILGATE_SECRET_KEY": "env-secret-key-8Hq2Lm9Xv4Bn8Rt1Wy6Zp0Hc5Jd3",
        "MAILGATE_DATA_DIR": str(tmp_path),
    }
    s = Settings.from_env(
        {
            **base,
            "MAILGATE_DATABASE_URL": "sqlite://",
            "MAILGATE_DKIM_DELEGATION_DOMAIN": " Mailgate-DNS.Example. ",
            "MAILGATE_DKIM_RETIRE_AFTER": "3600",
            "MAILGATE_DKIM_SIGN_PROCESSES": "2",
        },
        create=False,
    )
    assert s.dkim_delegation_domain == "mailgate-dns.example"
    assert (s.dkim_retire_after_seconds, s.dkim_sign_processes) == (3600, 2)
    with pytest.raises(ConfigurationError) as e:
        Settings.from_env(
            {**base, "MAILGATE_DATABASE_URL": "sqlite://", "MAILGATE_DKIM_RETIRE_AFTER": "7d"},
            create=False,
        )
    assert "MAILGATE_DKIM_RETIRE_AFTER" in str(e.value)


def test_ed25519_added_later_signs_once_published(
    server: Server, smtp_sink: SmtpSink, authdns: AuthDns
) -> None:
    """POST .../dkim/ed25519 adds a pending Ed25519 key; once found, mail is double-signed."""
    app = server.app
    app.settings.dns_resolver = authdns.address
    domain_id = add_domain(app, server.workspace_id)
    with server.client() as c:
        r = c.post(f"/v1/domains/{domain_id}/dkim/ed25519")
        assert r.status_code == 201, r.text
        again = c.post(f"/v1/domains/{domain_id}/dkim/ed25519").json()
        assert again["keys"] == r.json()["keys"]  # idempotent
        states = {k["algorithm"]: k["state"] for k in r.json()["keys"]}
        assert states == {"rsa-sha256": "active", "ed25519-sha256": "pending"}
        publish(authdns, app, domain_id)
        promoted = c.post(f"/v1/domains/{domain_id}/dkim/check").json()["promoted"]
        assert [p.startswith("ed") for p in promoted] == [True]
        c.post("/v1/transports", json=smtp_transport(smtp_sink.port))
        send(c)
    verdicts = dkimpy_verdicts(sent_message(smtp_sink, 1), authdns)
    assert [(s[:2], ok) for s, ok in verdicts] == [("mg", True), ("ed", True)]
