"""DMARC aggregate reports addressed to a sending domain's signed ``rua``: filed, not threaded.

The ``rua`` a domain publishes (``dmarc+<domain>.<sig>@bounces.<name>``,
:func:`mailgate.inbound.tokens.dmarc_address`) names the sending domain, so a report
is stored under the workspace that published it, with the domain it is about. It
never opens a conversation or reaches an agent: it is data for the domain page
(``GET /v1/domains/{id}/dmarc-reports``) and a ``domain.dmarc_report`` event.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailgate.core.dmarc_report import AggregateReport, reports_in
from mailgate.core.parse import ParsedMessage
from mailgate.crypto import SecretBox
from mailgate.inbound import tokens
from mailgate.store.eventlog import event
from mailgate.store.models import DmarcReport, MessageRow, SendingDomain

KIND = "dmarc_report"


def file(
    session: Session,
    box: SecretBox,
    row: MessageRow,
    parsed: ParsedMessage,
    now: datetime,
) -> list[dict[str, Any]] | None:
    """Store the reports of a mail sent to one of this workspace's ``rua`` addresses.

    None when the mail is not addressed to one (routing goes on); otherwise the events.
    """
    domain = _domain(session, box, row, [*(row.rcpt_to or []), *(a.address for a in parsed.to)])
    if domain is None:
        return None
    row.kind = KIND
    reports, problems = reports_in(parsed.attachments)
    if not reports:
        row.last_error = "; ".join(problems) or "no DMARC aggregate report (zip, gzip, xml)"
        return []
    events = []
    for report in reports:
        if report.domain != domain.name and not report.domain.endswith("." + domain.name):
            problems.append(f"report {report.report_id} is about {report.domain}")
            continue
        if _known(session, domain.id, report):
            continue  # a reporter's re-send: stored once
        session.add(
            DmarcReport(
                workspace_id=domain.workspace_id,
                domain_id=domain.id,
                message_pk=row.id,
                org_name=report.org_name,
                report_id=report.report_id,
                begin_at=report.begin,
                end_at=report.end,
                policy=report.policy,
                messages=report.messages,
                passed=report.passed,
                rows=report.rows,
                received_at=now,
            )
        )
        session.flush()  # two copies in one mail: the second is then a re-send
        payload = {"domain": domain.name, "domain_id": domain.id, **summary(report)}
        events.append(
            event(row.workspace_id, "domain.dmarc_report", payload, message_pk=row.id, now=now)
        )
    if problems:
        row.last_error = "; ".join(problems)
    return events


def summary(report: AggregateReport | DmarcReport) -> dict[str, Any]:
    if isinstance(report, DmarcReport):
        begin, end = report.begin_at, report.end_at
    else:
        begin, end = report.begin, report.end
    return {
        "org_name": report.org_name,
        "report_id": report.report_id,
        "begin": begin.isoformat(),
        "end": end.isoformat(),
        "policy": report.policy,
        "messages": report.messages,
        "passed": report.passed,
        "failed": report.messages - report.passed,
    }


def _domain(
    session: Session, box: SecretBox, row: MessageRow, addresses: Iterable[str]
) -> SendingDomain | None:
    for address in addresses:
        token = tokens.parse(box, str(address))
        if token and token[0] == "dmarc":
            found = session.get(SendingDomain, token[1])
            if found is not None and found.workspace_id == row.workspace_id:
                return found
    return None


def _known(session: Session, domain_id: str, report: AggregateReport) -> bool:
    q = select(DmarcReport.id).where(
        DmarcReport.domain_id == domain_id,
        DmarcReport.org_name == report.org_name,
        DmarcReport.report_id == report.report_id,
    )
    return session.scalar(q) is not None
