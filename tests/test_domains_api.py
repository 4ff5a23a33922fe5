"""/v1/domains through the real server, verified against Knot DNS, re-checked by the lane."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from mailgate.domains import schedule
from mailgate.store.db import transaction
from mailgate.store.models import DkimKey, Event, SendingDomain, utcnow
from tests.helpers import smtp_transport, wait_for
from tests.servers.authdns import ZONE, AuthDns
from tests.servers.mailgate import Server


@pytest.fixture
def api(server: Server, authdns: AuthDns) -> Iterator[httpx.Client]:
    """The workspace's client; mailgate asks the Knot server and sends through 127.0.0.1."""
    server.app.settings.dns_resolver = authdns.address
    with server.client() as client:
        r = client.post("/v1/transports", json=smtp_transport(2525, name="relay"))
        assert r.status_code == 201, r.text
        yield client


def zone_lines(records: list[dict[str, Any]], *, skip: tuple[str, ...] = ()) -> list[str]:
    """The records as a person would publish them in the zone ``test.``."""
    out = []
    for rec in records:
        if rec["purpose"] in skip:
            continue
        owner = rec["host"].removesuffix(f".{ZONE}")
        value = rec["value"]
        if rec["type"] == "TXT":
            value = " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))
        out.append(f"{owner} {rec['type']} {value}")
    return out


def events(server: Server, type_: str) -> list[dict[str, Any]]:
    with server.app.sessions() as session:
        rows = session.scalars(select(Event).where(Event.type == type_).order_by(Event.created_at))
        return [r.payload for r in rows]


def by_purpose(domain: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["purpose"]: r for r in domain["records"]}


def test_create_shows_every_record_with_its_reason(api: httpx.Client) -> None:
    """201: pending, five kinds of record with reasons, the DKIM selector; GET and list agree."""
    r = api.post("/v1/domains", json={"name": "News.Acme.test."})
    assert r.status_code == 201, r.text
    domain = r.json()
    assert domain["name"] == "news.acme.test" and domain["state"] == "pending"
    assert domain["warnings"] == []
    recs = by_purpose(domain)
    assert set(recs) == {"spf", "dkim", "dmarc", "mx", "return_path"}
    assert recs["spf"]["value"] == "v=spf1 ip4:127.0.0.1 ~all"  # the SMTP relay's address
    selector = domain["dkim"]["selector"]
    assert domain["dkim"]["algorithm"] == "rsa-sha256"
    assert recs["dkim"]["host"] == f"{selector}._domainkey.news.acme.test"
    assert recs["dkim"]["value"].startswith("v=DKIM1; k=rsa; p=MII")
    assert recs["mx"]["value"] == recs["return_path"]["value"] == "10 mailgate.example.com."
    for rec in domain["records"]:
        assert rec["status"] == "pending" and rec["found"] == [] and rec["reason"]
    assert "private" not in r.text.lower()  # the private key is never shown
    assert api.get(f"/v1/domains/{domain['id']}").json() == domain
    assert api.get("/v1/domains").json()["items"] == [domain]


def test_a_refused_name_is_a_422_naming_name(api: httpx.Client) -> None:
    """The error names the field and the rule broken; nothing is stored."""
    for name, rule in [
        ("news_letter.acme.test", "underscore"),
        ("co.uk", "public suffix"),
        ("a b.test", "space"),
    ]:
        r = api.post("/v1/domains", json={"name": name})
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert error["field"] == "name" and rule in error["message"]
    assert api.post("/v1/domains", json={"name": 53}).status_code == 422
    assert api.get("/v1/domains").json()["items"] == []


def test_workspaces_see_only_their_own_domains(server: Server, api: httpx.Client) -> None:
    """Another workspace: 404 for every route on our id, 409 naming nobody for our name."""
    domain = api.post("/v1/domains", json={"name": "news.acme.test"}).json()
    _, key = server.new_workspace("globex")
    with server.client(key) as other:
        assert other.get("/v1/domains").json()["items"] == []
        assert other.get(f"/v1/domains/{domain['id']}").status_code == 404
        assert other.post(f"/v1/domains/{domain['id']}/verify").status_code == 404
        assert other.delete(f"/v1/domains/{domain['id']}").status_code == 404
        patched = other.patch(f"/v1/domains/{domain['id']}", json={"daily_quota": 1})
        assert patched.status_code == 404
        r = other.post("/v1/domains", json={"name": "NEWS.acme.test"})
        assert r.status_code == 409 and r.json()["error"]["field"] == "name"
        assert server.workspace_id not in r.text and "acme'" not in r.text
    assert api.get(f"/v1/domains/{domain['id']}").status_code == 200
    # The owner deletes it (keys included); the name is free again.
    assert api.delete(f"/v1/domains/{domain['id']}").status_code == 204
    assert api.get(f"/v1/domains/{domain['id']}").status_code == 404
    with server.app.sessions() as session:
        assert session.scalars(select(DkimKey).where(DkimKey.domain_id == domain["id"])).all() == []
    with server.client(key) as other:
        assert other.post("/v1/domains", json={"name": "news.acme.test"}).status_code == 201


def test_a_mailbox_domain_gets_a_warning_suggesting_a_sub_domain(
    api: httpx.Client, authdns: AuthDns
) -> None:
    """MX records pointing elsewhere: the staff's mail lives there; suggest news.<name>."""
    authdns.publish("acme MX 10 mx1.staffmail.example.", "acme MX 20 mx2.staffmail.example.")
    domain = api.post("/v1/domains", json={"name": "acme.test"}).json()
    [warning] = domain["warnings"]
    assert "news.acme.test" in warning and "mx1.staffmail.example" in warning
    assert "reputation" in warning and "DNS" in warning
    assert api.get(f"/v1/domains/{domain['id']}").json()["warnings"] == [warning]
    # A sub-domain without MX records of its own gets none.
    assert api.post("/v1/domains", json={"name": "news.acme.test"}).json()["warnings"] == []


def test_verify_checks_each_record_against_dns(
    server: Server, api: httpx.Client, authdns: AuthDns
) -> None:
    """Published right: verified and domain.verified; a wrong SPF and no DMARC say so."""
    domain = api.post("/v1/domains", json={"name": "news.acme.test"}).json()
    checked = api.post(f"/v1/domains/{domain['id']}/verify").json()
    assert checked["state"] == "pending"
    assert {r["status"] for r in checked["records"]} == {"missing"}

    lines = zone_lines(domain["records"], skip=("spf", "dmarc"))
    authdns.publish(*lines, 'news.acme TXT "v=spf1 include:mailgun.org ~all"')
    checked = api.post(f"/v1/domains/{domain['id']}/verify").json()
    recs = by_purpose(checked)
    assert checked["state"] == "pending"
    assert recs["spf"]["status"] == "mismatch"
    assert recs["spf"]["detail"] == "the SPF record lacks ip4:127.0.0.1"
    assert recs["spf"]["found"] == ["v=spf1 include:mailgun.org ~all"]
    assert recs["dmarc"]["status"] == "missing"
    assert recs["dkim"]["status"] == recs["mx"]["status"] == "ok"
    assert recs["return_path"]["found"] == ["10 mailgate.example.com."]
    assert events(server, "domain.verified") == []

    authdns.publish(*zone_lines(domain["records"], skip=("dmarc",)))
    checked = api.post(f"/v1/domains/{domain['id']}/verify").json()
    assert checked["state"] == "verified", checked  # DMARC is recommended, not required
    assert by_purpose(checked)["dmarc"]["status"] == "missing"
    assert checked["verified_at"] is not None
    [event] = events(server, "domain.verified")
    assert event["domain"] == {"id": domain["id"], "name": "news.acme.test", "state": "verified"}

    # An old record left beside ours: two SPF records, a permerror for receivers.
    authdns.publish(
        *zone_lines(domain["records"]), 'news.acme TXT "v=spf1 include:old-provider.test ~all"'
    )
    checked = api.post(f"/v1/domains/{domain['id']}/verify").json()
    spf = by_purpose(checked)["spf"]
    assert spf["status"] == "mismatch" and "permerror" in spf["detail"]
    assert len(spf["found"]) == 2
    assert checked["state"] == "degraded"


def due(server: Server, domain_id: str) -> Any:
    with server.app.sessions() as session:
        row = session.get(SendingDomain, domain_id)
        assert row is not None
        return row.next_check_at, row.state


def test_the_scheduled_recheck_degrades_and_restores(
    server: Server, api: httpx.Client, authdns: AuthDns
) -> None:
    """The lane: hourly while pending, daily once verified; a lost record degrades, its return
    verifies again, each with its event."""
    domain = api.post("/v1/domains", json={"name": "news.acme.test"}).json()
    ident = domain["id"]
    created_due, _ = due(server, ident)
    # Not due yet: the lane checks nothing.
    assert schedule.check_due(server.app) == 0
    authdns.publish(*zone_lines(domain["records"]))

    hour = timedelta(hours=1)
    assert schedule.check_due(server.app, now=utcnow() + hour + timedelta(minutes=1)) == 1
    next_at, state = due(server, ident)
    assert state == "verified"
    assert timedelta(hours=23) < next_at.replace(tzinfo=None) - utcnow().replace(tzinfo=None)
    assert len(events(server, "domain.verified")) == 1

    # The SPF record disappears; the next daily check finds out.
    authdns.publish(*zone_lines(domain["records"], skip=("spf",)))
    assert schedule.check_due(server.app, now=utcnow() + timedelta(hours=2)) == 0
    assert schedule.check_due(server.app, now=utcnow() + timedelta(days=1, minutes=1)) == 1
    next_at, state = due(server, ident)
    assert state == "degraded"
    assert next_at.replace(tzinfo=None) - utcnow().replace(tzinfo=None) < hour
    [degraded] = events(server, "domain.degraded")
    assert degraded["records"] == [
        {
            "purpose": "spf",
            "type": "TXT",
            "host": "news.acme.test",
            "status": "missing",
            "detail": "no SPF record (TXT starting v=spf1) on news.acme.test",
        }
    ]
    shown = api.get(f"/v1/domains/{ident}").json()
    assert shown["state"] == "degraded" and by_purpose(shown)["spf"]["status"] == "missing"

    # Still missing an hour later: still degraded, no second event.
    assert schedule.check_due(server.app, now=utcnow() + hour + timedelta(minutes=1)) == 1
    assert len(events(server, "domain.degraded")) == 1

    authdns.publish(*zone_lines(domain["records"]))
    assert schedule.check_due(server.app, now=utcnow() + hour + timedelta(minutes=1)) == 1
    assert due(server, ident)[1] == "verified"
    assert len(events(server, "domain.verified")) == 2
    assert created_due is not None


def test_a_lane_that_lost_its_lease_does_not_write(server: Server, api: httpx.Client) -> None:
    """Another worker took the domain over: the stale check's outcome is discarded."""
    domain = api.post("/v1/domains", json={"name": "news.acme.test"}).json()
    later = utcnow() + timedelta(hours=2)
    [claimed] = schedule.claim_due(server.app, "worker-a", now=later)
    assert claimed == domain["id"]
    with transaction(server.app.sessions) as session:
        row = session.get(SendingDomain, claimed)
        assert row is not None
        row.lease_owner = "worker-b"
    from mailgate.domains import checks
    from mailgate.queue import lease

    checks.run_check(
        server.app,
        claimed,
        write=lambda session, row: bool(
            lease.held(session, SendingDomain, {row.id: "worker-a"}, what="domain check")
        ),
    )
    shown = api.get(f"/v1/domains/{claimed}").json()
    assert shown["checked_at"] is None and shown["records"][0]["status"] == "pending"


def test_a_rotated_key_is_shown_at_once_and_signs_once_verify_finds_it(
    server: Server, api: httpx.Client, authdns: AuthDns
) -> None:
    """Rotation adds a pending DKIM record to the domain; the domain's verify promotes it."""
    domain = api.post("/v1/domains", json={"name": "news.acme.test"}).json()
    old = domain["dkim"]["selector"]
    authdns.publish(*zone_lines(domain["records"]))
    assert api.post(f"/v1/domains/{domain['id']}/verify").json()["state"] == "verified"

    assert api.post(f"/v1/domains/{domain['id']}/dkim/rotate").status_code == 201
    shown = api.get(f"/v1/domains/{domain['id']}").json()
    dkim_records = [r for r in shown["records"] if r["purpose"] == "dkim"]
    assert len(dkim_records) == 2
    assert [r["status"] for r in dkim_records] == ["ok", "pending"]  # the old one as checked
    assert shown["dkim"]["selector"] == old  # still signing with the old key

    # The new record is published beside the old one; verify finds it and switches.
    authdns.publish(*zone_lines(shown["records"]))
    checked = api.post(f"/v1/domains/{domain['id']}/verify").json()
    assert [r["status"] for r in checked["records"]] == ["ok"] * 6
    assert checked["state"] == "verified"
    new = checked["dkim"]["selector"]
    assert new != old
    with server.app.sessions() as session:
        states = dict(
            session.execute(
                select(DkimKey.selector, DkimKey.state).where(DkimKey.domain_id == domain["id"])
            ).all()
        )
    assert states == {old: "retiring", new: "active"}


def test_the_running_worker_rechecks_a_due_domain(
    server: Server, api: httpx.Client, authdns: AuthDns
) -> None:
    """The lane runs in every worker: a domain whose check is due gets checked unasked."""
    domain = api.post("/v1/domains", json={"name": "news.acme.test"}).json()
    authdns.publish(*zone_lines(domain["records"]))
    with transaction(server.app.sessions) as session:
        row = session.get(SendingDomain, domain["id"])
        assert row is not None
        row.next_check_at = utcnow() - timedelta(seconds=1)
    server.worker.wake()

    def verified() -> bool:
        return api.get(f"/v1/domains/{domain['id']}").json()["state"] == "verified"

    wait_for(verified, what="the worker's domain lane to verify the domain")
    assert len(events(server, "domain.verified")) == 1


def test_a_check_left_by_a_dead_worker_is_taken_over(server: Server, api: httpx.Client) -> None:
    """A lease that ran out (its worker died mid-check) is claimed again, never before."""
    domain = api.post("/v1/domains", json={"name": "news.acme.test"}).json()
    later = utcnow() + timedelta(hours=2)
    assert schedule.claim_due(server.app, "dead-worker", now=later) == [domain["id"]]
    assert schedule.claim_due(server.app, "other", now=later) == []
    lease_over = later + timedelta(seconds=server.app.settings.lease_seconds + 1)
    assert schedule.claim_due(server.app, "other", now=lease_over) == [domain["id"]]


def test_spf_follows_the_transports_nothing_is_locked_in(
    server: Server, api: httpx.Client, authdns: AuthDns
) -> None:
    """A transport added later changes the SPF record to publish; a second domain is free too."""
    domain = api.post("/v1/domains", json={"name": "news.acme.test"}).json()
    authdns.publish(*zone_lines(domain["records"]))
    assert api.post(f"/v1/domains/{domain['id']}/verify").json()["state"] == "verified"

    body = smtp_transport(2526, name="second relay", default=False)
    body["config"]["host"] = "127.0.0.2"
    assert api.post("/v1/transports", json=body).status_code == 201
    checked = api.post(f"/v1/domains/{domain['id']}/verify").json()
    spf = by_purpose(checked)["spf"]
    assert spf["value"] == "v=spf1 ip4:127.0.0.1 ip4:127.0.0.2 ~all"
    assert spf["status"] == "mismatch" and spf["detail"] == "the SPF record lacks ip4:127.0.0.2"
    assert checked["state"] == "degraded"

    # Moving to another domain is adding it; the first one stays until deleted.
    other = api.post("/v1/domains", json={"name": "mail.acme.test"})
    assert other.status_code == 201
    assert by_purpose(other.json())["spf"]["value"] == spf["value"]
    assert [d["name"] for d in api.get("/v1/domains").json()["items"]] == [
        "mail.acme.test",
        "news.acme.test",
    ]


def test_patch_sets_the_domains_limits_and_shows_the_quota(api: httpx.Client) -> None:
    """PATCH takes the limit fields (null clears); bad values name their field; quota shown."""
    domain = api.post("/v1/domains", json={"name": "news.acme.test"}).json()
    assert domain["limits"] == dict.fromkeys(
        ("daily_quota", "rate_per_second", "rate_per_minute", "max_connections", "warmup")
    )
    assert domain["quota"] is None
    r = api.patch(f"/v1/domains/{domain['id']}", json={"daily_quota": 500, "rate_per_second": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["limits"]["daily_quota"] == 500 and body["limits"]["rate_per_second"] == 5
    assert body["quota"]["daily"] == 500 and body["quota"]["used_today"] == 0
    for bad in ({"daily_quota": 0}, {"rate_per_minute": "ten"}, {"max_connections": 1.5}):
        r = api.patch(f"/v1/domains/{domain['id']}", json=bad)
        assert r.status_code == 422 and r.json()["error"]["field"] == next(iter(bad))
    r = api.patch(f"/v1/domains/{domain['id']}", json={"daily_quota": None})
    assert r.json()["limits"]["daily_quota"] is None and r.json()["quota"] is None
    assert r.json()["limits"]["rate_per_second"] == 5  # left out: kept

