"""Bounces and delay warnings: RFC 3464 reports and the prose formats of common MTAs."""

from __future__ import annotations

from _mime import Part, ew, message, multipart, raw_part, text_part

SENDER = "support@help.example.com"
DATE = "Fri, 01 Mar 2024 10:{m:02d}:00 +0000"


def original(n: int, to: str, subject: str = "Your ticket #1042") -> tuple[bytes, str]:
    """The message we sent, as returned inside a bounce; (bytes, its Message-ID)."""
    mid = f"out-{n:04d}.7f3a@help.example.com"
    raw = (
        f"Received: from app.help.example.com (localhost [127.0.0.1])\r\n"
        f"\tby mx.help.example.com (Postfix) with ESMTP id 4Tb{n:04d}\r\n"
        f"\tfor <{to}>; Fri, 01 Mar 2024 09:59:58 +0000 (UTC)\r\n"
        f"Date: Fri, 01 Mar 2024 09:59:58 +0000\r\n"
        f'From: "Acme Support" <{SENDER}>\r\n'
        f"To: <{to}>\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: <{mid}>\r\n"
        f"MIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: 7bit\r\n"
        f"\r\n"
        f"Hello,\r\n\r\nyour ticket has been updated.\r\n"
    ).encode()
    return raw, mid


def status_block(reporting: str, arrival: str, rcpts: list[dict[str, str]]) -> bytes:
    """An RFC 3464 §2.2/§2.3 body: per-message fields, then one block per recipient."""
    out = f"Reporting-MTA: dns; {reporting}\r\n"
    if reporting.startswith("mx") or "postfix" in reporting:
        out += "X-Postfix-Queue-ID: 4Tb8Kq1XyZz9\r\nX-Postfix-Sender: rfc822; " + SENDER + "\r\n"
    out += f"Arrival-Date: {arrival}\r\n"
    for r in rcpts:
        out += "\r\n"
        if r.get("original"):
            out += f"Original-Recipient: rfc822;{r['original']}\r\n"
        out += f"Final-Recipient: rfc822; {r['address']}\r\n"
        out += f"Action: {r['action']}\r\n"
        out += f"Status: {r['status']}\r\n"
        if r.get("remote"):
            out += f"Remote-MTA: dns; {r['remote']}\r\n"
        if r.get("diagnostic"):
            out += f"Diagnostic-Code: smtp; {r['diagnostic']}\r\n"
        if r["action"] == "delayed":
            out += "Will-Retry-Until: Wed, 6 Mar 2024 10:00:00 +0000 (UTC)\r\n"
    return out.encode()


def report(
    n: int,
    *,
    from_: str,
    subject: str,
    notice: str,
    rcpts: list[dict[str, str]],
    reporting: str,
    boundary: str,
    returned: str = "message",  # "message" | "headers" | "none"
    status_ctype: str = "message/delivery-status",
    status_cte: str = "",
    notice_html: str | None = None,
    extra_top: list[tuple[str, str | bytes]] | None = None,
) -> tuple[bytes, str]:
    to = rcpts[0].get("original") or rcpts[0]["address"] if rcpts else "nobody@example.org"
    orig, mid = original(n, to)
    parts: list[Part] = [
        text_part(
            notice,
            "us-ascii" if notice.isascii() else "utf-8",
            "7bit" if notice.isascii() else "base64",
        )
    ]
    parts[0].extra = [("Content-Description", "Notification")]
    if notice_html:
        parts = [
            multipart(
                "alternative",
                boundary + "_alt",
                [parts[0], text_part(notice_html, "utf-8", "quoted-printable", "html")],
                preamble="",
            )
        ]
    body = status_block(reporting, "Fri, 01 Mar 2024 09:59:58 +0000 (UTC)", rcpts)
    if status_cte == "base64":
        import base64

        body = base64.encodebytes(body).replace(b"\n", b"\r\n")
    sp = raw_part(status_ctype, body, [("Content-Description", "Delivery report")])
    if status_cte:
        sp.extra = [("Content-Transfer-Encoding", status_cte)]
    parts.append(sp)
    if returned == "message":
        parts.append(
            raw_part("message/rfc822", orig, [("Content-Description", "Undelivered Message")])
        )
    elif returned == "headers":
        head = orig.split(b"\r\n\r\n", 1)[0] + b"\r\n"
        parts.append(
            raw_part(
                "text/rfc822-headers",
                head,
                [("Content-Description", "Undelivered Message Headers")],
            )
        )
    top: list[tuple[str, str | bytes]] = [
        ("Return-Path", "<>"),
        ("Received", f"by {reporting} (Postfix)\r\n\tid 4Tb8Kq1XyZz9; {DATE.format(m=n % 60)}"),
        ("Date", DATE.format(m=n % 60)),
        ("From", from_),
        ("Subject", subject),
        ("To", f"<{SENDER}>"),
        ("Auto-Submitted", "auto-replied"),
        ("Message-ID", f"<bounce-{n:04d}@{reporting}>"),
        *(extra_top or []),
    ]
    mp = multipart(
        "report",
        boundary,
        parts,
        params="; report-type=delivery-status",
        preamble="This is a MIME-encapsulated message.\r\n",
    )
    return message(top, mp), mid


def expect(
    kind: str,
    subject: str,
    from_: list[dict[str, str]],
    rcpts: list[dict[str, str]],
    desc: str,
    mid: str | None = None,
    **more: object,
) -> dict[str, object]:
    e: dict[str, object] = {
        "description": desc,
        "kind": kind,
        "subject": subject,
        "from": from_,
        "bounce_recipients": [
            {
                "address": r.get("original") or r["address"],
                "action": r["action"],
                "status": r["status"],
            }
            for r in rcpts
        ],
    }
    if mid:
        e["classify"] = {"original_message_id": mid}
    e.update(more)
    return e


MAILER_DAEMON = [{"name": "Mail Delivery System", "address": "MAILER-DAEMON@mx.help.example.com"}]
POSTFIX_FROM = "MAILER-DAEMON@mx.help.example.com (Mail Delivery System)"


def _postfix_notice(host: str, lines: str, warning: bool = False) -> str:
    head = f"This is the mail system at host {host}.\n\n"
    if warning:
        head += (
            "####################################################################\n"
            "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\n"
            "####################################################################\n\n"
            "Your message could not be delivered for more than 4 hour(s).\n"
            "It will be retried until it is 5 day(s) old.\n\n"
        )
    else:
        head += (
            "I'm sorry to have to inform you that your message could not\n"
            "be delivered to one or more recipients. It's attached below.\n\n"
            "For further assistance, please send mail to postmaster.\n\n"
            "If you do so, please include this problem report. You can\n"
            "delete your own text from the attached returned message.\n\n"
        )
    return head + "                   The mail system\n\n" + lines


def dsn_cases() -> list[tuple[str, bytes, dict[str, object]]]:
    out: list[tuple[str, bytes, dict[str, object]]] = []
    host = "mx.help.example.com"

    def add(
        slug: str,
        n: int,
        kind: str,
        desc: str,
        subject: str,
        notice: str,
        rcpts: list[dict[str, str]],
        **kw: object,
    ) -> None:
        from_ = str(kw.pop("from_", POSTFIX_FROM))
        from_exp = kw.pop("from_expect", MAILER_DAEMON)
        more = dict(kw.pop("more", {}))  # type: ignore[call-overload]
        raw, mid = report(
            n,
            from_=from_,
            subject=subject,
            notice=notice,
            rcpts=rcpts,
            reporting=str(kw.pop("reporting", host)),
            boundary=str(kw.pop("boundary", f"4Tb8Kq1XyZz{n:04d}.1709287200/{host}")),
            **kw,
        )  # type: ignore[arg-type]
        ret = kw.get("returned", "message")
        out.append(
            (
                slug,
                raw,
                expect(
                    kind,
                    subject,
                    from_exp,
                    rcpts,
                    desc,  # type: ignore[arg-type]
                    mid if ret != "none" else None,
                    **more,
                ),
            )
        )

    r = [
        {
            "address": "nobody@example.org",
            "action": "failed",
            "status": "5.1.1",
            "remote": "mx.example.org",
            "diagnostic": "550 5.1.1 <nobody@example.org>: Recipient address rejected:"
            " User unknown "
            "in virtual mailbox table",
        }
    ]
    add(
        "bounce-postfix-dsn-user-unknown",
        1,
        "bounce",
        "Postfix RFC 3464 bounce, unknown user",
        "Undelivered Mail Returned to Sender",
        _postfix_notice(
            host,
            "<nobody@example.org>: host mx.example.org[192.0.2.10] said: 550 5.1.1\n"
            "    <nobody@example.org>: Recipient address rejected: User unknown in\n"
            "    virtual mailbox table (in reply to RCPT TO command)\n",
        ),
        r,
    )
    r = [
        {
            "address": "full@example.net",
            "action": "failed",
            "status": "5.2.2",
            "remote": "mx.example.net",
            "diagnostic": "552 5.2.2 Mailbox full",
        }
    ]
    add(
        "bounce-postfix-dsn-mailbox-full",
        2,
        "bounce",
        "Postfix bounce, mailbox full (552)",
        "Undelivered Mail Returned to Sender",
        _postfix_notice(
            host,
            "<full@example.net>: host mx.example.net[192.0.2.11] said: 552 5.2.2"
            " Mailbox full\n    (in reply to RCPT TO command)\n",
        ),
        r,
        returned="headers",
    )
    r = [
        {
            "address": "gone@example.org",
            "action": "failed",
            "status": "5.1.1",
            "diagnostic": "550 5.1.1 <gone@example.org>: User unknown",
        },
        {
            "address": "slow@example.com",
            "action": "delayed",
            "status": "4.4.1",
            "diagnostic": "connect to mx.example.com[192.0.2.12]:25: Connection timed out",
        },
    ]
    add(
        "bounce-postfix-dsn-one-failed-one-delayed",
        3,
        "bounce",
        "Postfix report: one recipient failed, one delayed; kind bounce, both listed",
        "Undelivered Mail Returned to Sender",
        _postfix_notice(
            host,
            "<gone@example.org>: host mx.example.org[192.0.2.10] said: 550 5.1.1"
            " <gone@example.org>: User unknown\n",
        ),
        r,
    )
    r = [
        {
            "address": "slow@example.com",
            "action": "delayed",
            "status": "4.4.1",
            "diagnostic": "connect to mx.example.com[192.0.2.12]:25: Connection timed out",
        }
    ]
    add(
        "delay-postfix-dsn",
        4,
        "bounce",
        "Postfix delay warning (RFC 3464 Action: delayed): a report, not a failure, never answered",
        "Delayed Mail (still being retried)",
        _postfix_notice(
            host,
            "<slow@example.com>: connect to mx.example.com[192.0.2.12]:25: Connection timed out\n",
            warning=True,
        ),
        r,
        returned="headers",
    )
    r = [
        {
            "address": "info@example.com",
            "original": "sales@example.com",
            "action": "failed",
            "status": "5.1.1",
            "diagnostic": "550 5.1.1 <info@example.com>: User unknown",
        }
    ]
    add(
        "bounce-postfix-dsn-original-recipient",
        5,
        "bounce",
        "alias expanded: Original-Recipient (what we sent to) is the address reported",
        "Undelivered Mail Returned to Sender",
        _postfix_notice(
            host, "<info@example.com> (expanded from <sales@example.com>): User unknown\n"
        ),
        r,
    )
    r = [
        {
            "address": "ghost@contoso.com",
            "action": "failed",
            "status": "5.1.10",
            "remote": "CH2PR11MB4000.namprd11.prod.outlook.com",
            "diagnostic": "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP "
            "address lookup",
        }
    ]
    add(
        "bounce-exchange-online-dsn",
        6,
        "bounce",
        "Exchange Online NDR with delivery-status",
        "Undeliverable: Your ticket #1042",
        "Your message to ghost@contoso.com couldn't be delivered.\n\n"
        "ghost wasn't found at contoso.com.\n\nsupport   Office 365   ghost\nAction Required"
        "                  Recipient\n\nUnknown To address\n\nHow to Fix It\n"
        "The address may be misspelled or may not exist.\n",
        r,
        from_="postmaster@contoso.onmicrosoft.com",
        from_expect=[{"name": "", "address": "postmaster@contoso.onmicrosoft.com"}],
        reporting="CH2PR11MB4000.namprd11.prod.outlook.com",
        boundary=f"__{6:04d}_CH2PR11MB4000namprd11prodoutlookcom_",
        notice_html='<html><body><p>Your message to <a href="mailto:ghost@contoso.com">'
        "ghost@contoso.com</a> couldn't be delivered.</p></body></html>",
        extra_top=[("X-MS-Exchange-Message-Is-Ndr", ""), ("Content-Language", "en-US")],
    )
    r = [
        {
            "address": "late@contoso.com",
            "action": "delayed",
            "status": "4.4.7",
            "diagnostic": "441 4.4.7 Message delayed",
        }
    ]
    add(
        "delay-exchange-dsn",
        7,
        "bounce",
        "Exchange delay notification (Action: delayed)",
        "Delivery delayed:Your ticket #1042",
        "Delivery is delayed to these recipients or groups:\n\nlate@contoso.com\n\n"
        "Subject: Your ticket #1042\n\nThis message hasn't been delivered yet. Delivery will"
        " continue to be attempted.\n",
        r,
        from_="postmaster@contoso.com",
        from_expect=[{"name": "", "address": "postmaster@contoso.com"}],
        reporting="EX01.contoso.com",
        boundary="__0007_EX01contosocom_",
        returned="headers",
    )
    r = [
        {
            "address": "nobody@example.org",
            "action": "failed",
            "status": "5.1.1",
            "remote": "mx.example.org",
            "diagnostic": "550-5.1.1 The email account that you tried to reach does not exist.",
        }
    ]
    add(
        "bounce-gmail-dsn-address-not-found",
        8,
        "bounce",
        "Gmail 'Address not found' DSN",
        "Delivery Status Notification (Failure)",
        "\n** Address not found **\n\nYour message wasn't delivered to nobody@example.org because"
        " the address couldn't be found, or is unable to receive mail.\n\nLearn more here:"
        " https://support.google.com/mail/?p=NoSuchUser\n\nThe response was:\n\n550 5.1.1 The"
        " email account that you tried to reach does not exist.\n",
        r,
        from_="Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
        from_expect=[
            {"name": "Mail Delivery Subsystem", "address": "mailer-daemon@googlemail.com"}
        ],
        reporting="googlemail.com",
        boundary="000000000000c1a9b70612b80001",
    )
    r = [
        {
            "address": "later@example.net",
            "action": "delayed",
            "status": "4.4.1",
            "diagnostic": "421 4.4.1 Connection timed out",
        }
    ]
    add(
        "delay-gmail-dsn",
        9,
        "bounce",
        "Gmail 'Message not delivered yet' delay DSN",
        "Delivery Status Notification (Delay)",
        "\n** Message not delivered yet **\n\nThere was a temporary problem delivering your message"
        " to later@example.net. Gmail will retry for 46 more hours.\n",
        r,
        from_="Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
        from_expect=[
            {"name": "Mail Delivery Subsystem", "address": "mailer-daemon@googlemail.com"}
        ],
        reporting="googlemail.com",
        boundary="000000000000c1a9b70612b80009",
        returned="headers",
    )
    r = [
        {
            "address": "olduser@example.edu",
            "action": "failed",
            "status": "5.1.1",
            "remote": "mail.example.edu",
            "diagnostic": "550 5.1.1 <olduser@example.edu>... User unknown",
        }
    ]
    add(
        "bounce-sendmail-dsn",
        10,
        "bounce",
        "Sendmail 'Returned mail' DSN",
        "Returned mail: see transcript for details",
        "The original message was received at Fri, 1 Mar 2024 09:59:58 GMT\nfrom localhost"
        " [127.0.0.1]\n\n   ----- The following addresses had permanent fatal errors -----\n"
        "<olduser@example.edu>\n    (reason: 550 5.1.1 <olduser@example.edu>... User unknown)\n",
        r,
        from_="Mail Delivery Subsystem <MAILER-DAEMON@relay.example.com>",
        from_expect=[
            {"name": "Mail Delivery Subsystem", "address": "MAILER-DAEMON@relay.example.com"}
        ],
        reporting="relay.example.com",
        boundary="29ABCD0001.1709287200/relay.example.com",
    )
    r = [
        {
            "address": "happy@example.com",
            "action": "delivered",
            "status": "2.0.0",
            "diagnostic": "250 2.0.0 OK 1709287200 a1b2c3",
        }
    ]
    add(
        "dsn-success-delivered",
        11,
        "bounce",
        "success DSN (NOTIFY=SUCCESS): a report, no failure; recipients recorded",
        "Successful Mail Delivery Report",
        f"This is the mail system at host {host}.\n\nYour message was successfully delivered to"
        " the destination(s)\nlisted below.\n",
        r,
        returned="headers",
    )
    r = [
        {
            "address": "b64@example.org",
            "action": "failed",
            "status": "5.7.1",
            "diagnostic": "550 5.7.1 Message rejected as spam",
        }
    ]
    add(
        "bounce-dsn-base64-status",
        12,
        "bounce",
        "delivery-status part sent base64-encoded (seen from some appliances)",
        "Undeliverable message",
        "Your message was rejected: 550 5.7.1 Message rejected as spam\n",
        r,
        status_cte="base64",
    )
    r = [
        {
            "address": "用户@例子.中国",
            "action": "failed",
            "status": "5.1.1",
            "diagnostic": "550 5.1.1 mailbox unavailable",
        }
    ]
    out_n = len(out)
    add(
        "bounce-dsn-global-utf8",
        13,
        "bounce",
        "RFC 6533 message/global-delivery-status with an internationalised address",
        "Undelivered Mail Returned to Sender",
        _postfix_notice(host, "<用户@例子.中国>: 550 5.1.1 mailbox unavailable\n"),
        r,
        status_ctype="message/global-delivery-status",
        status_cte="8bit",
    )
    # The expectation keeps the address as written; the parser must decode it as UTF-8.
    assert len(out) == out_n + 1
    return out


def _report_broken() -> tuple[str, bytes, dict[str, object]]:
    """A report whose delivery-status has no per-recipient block."""
    raw, _ = report(
        14,
        from_=POSTFIX_FROM,
        subject="Undelivered Mail Returned to Sender",
        notice="Something went wrong with your message.\n",
        rcpts=[],
        reporting="mx.help.example.com",
        boundary="broken-report-0014",
        returned="none",
    )
    e = expect(
        "bounce",
        "Undelivered Mail Returned to Sender",
        MAILER_DAEMON,
        [],
        "report-type=delivery-status without per-recipient fields: bounce, no recipients,"
        " an error recorded",
        errors_nonempty=True,
    )
    return "bounce-dsn-no-recipients-broken", raw, e


def _text_bounce(
    n: int,
    slug: str,
    desc: str,
    from_: str,
    from_exp: list[dict[str, str]],
    subject: str,
    body: str,
    rcpts: list[dict[str, str]],
    kind: str = "bounce",
    charset: str = "us-ascii",
    cte: str = "7bit",
    attach: bool = False,
    subject_raw: str | None = None,
) -> tuple[str, bytes, dict[str, object]]:
    to = rcpts[0]["address"] if rcpts else "nobody@example.org"
    orig, mid = original(n, to)
    part = text_part(body, charset, cte)
    if attach:
        part = multipart("mixed", f"----=_bounce_{n:04d}", [part, raw_part("message/rfc822", orig)])
    top: list[tuple[str, str | bytes]] = [
        ("Return-Path", "<>"),
        (
            "Received",
            f"from mx.remote.example ([192.0.2.{n}])\r\n\tby mx.help.example.com"
            f" (Postfix) with ESMTP id 4Tc{n:04d}; {DATE.format(m=n % 60)}",
        ),
        ("Date", DATE.format(m=n % 60)),
        ("From", from_),
        ("To", SENDER),
        ("Subject", subject_raw or subject),
        ("Message-ID", f"<textbounce-{n:04d}@mx.remote.example>"),
    ]
    e = expect(
        kind,
        subject,
        from_exp,
        rcpts,
        desc,
        mid if attach else None,
        text_contains=[body.strip().split("\n")[0][:30]],
    )
    return slug, message(top, part), e


def text_cases() -> list[tuple[str, bytes, dict[str, object]]]:
    o = original(0, "x@example.org")[0].decode()
    inline_copy = "\n".join(o.split("\r\n"))
    qmail = [
        _text_bounce(
            20,
            "bounce-qmail-one",
            "qmail-send bounce, one address",
            "MAILER-DAEMON@mail.example.org",
            [{"name": "", "address": "MAILER-DAEMON@mail.example.org"}],
            "failure notice",
            "Hi. This is the qmail-send program at mail.example.org.\nI'm afraid I wasn't"
            " able to deliver your message to the following addresses.\nThis is a permanent"
            " error; I've given up. Sorry it didn't work out.\n\n<nobody@example.org>:\n"
            "192.0.2.5 does not like recipient.\nRemote host said: 550 5.1.1"
            " <nobody@example.org>... User unknown\nGiving up on 192.0.2.5.\n\n"
            "--- Below this line is a copy of the message.\n\n" + inline_copy,
            [{"address": "nobody@example.org", "action": "failed", "status": "5.1.1"}],
        ),
        _text_bounce(
            21,
            "bounce-qmail-two",
            "qmail-send bounce, two addresses, SMTP codes only",
            "MAILER-DAEMON@mail.example.org",
            [{"name": "", "address": "MAILER-DAEMON@mail.example.org"}],
            "failure notice",
            "Hi. This is the qmail-send program at mail.example.org.\nI'm afraid I wasn't"
            " able to deliver your message to the following addresses.\nThis is a permanent"
            " error; I've given up. Sorry it didn't work out.\n\n<first@example.org>:\n"
            "Sorry, no mailbox here by that name. (#5.1.1)\n\n<second@example.net>:\n"
            "192.0.2.6 failed after I sent the message.\nRemote host said: 554 Message"
            " refused\n\n--- Below this line is a copy of the message.\n\n" + inline_copy,
            [
                {"address": "first@example.org", "action": "failed", "status": "5.1.1"},
                {"address": "second@example.net", "action": "failed", "status": "5.0.0"},
            ],
        ),
    ]
    exim = [
        _text_bounce(
            22,
            "bounce-exim-one",
            "Exim bounce, one address",
            "Mail Delivery System <Mailer-Daemon@mail.example.net>",
            [{"name": "Mail Delivery System", "address": "Mailer-Daemon@mail.example.net"}],
            "Mail delivery failed: returning message to sender",
            "This message was created automatically by mail delivery software.\n\nA message"
            " that you sent could not be delivered to one or more of its\nrecipients. This"
            " is a permanent error. The following address(es) failed:\n\n"
            "  nobody@example.net\n    host mx.example.net [192.0.2.7]\n    SMTP error from"
            " remote mail server after RCPT TO:<nobody@example.net>:\n    550 5.1.1 User"
            " unknown\n\n------ This is a copy of the message, including all the headers."
            " ------\n\n" + inline_copy,
            [{"address": "nobody@example.net", "action": "failed", "status": "5.1.1"}],
        ),
        _text_bounce(
            23,
            "bounce-exim-two",
            "Exim bounce, two addresses with different codes",
            "Mail Delivery System <Mailer-Daemon@mail.example.net>",
            [{"name": "Mail Delivery System", "address": "Mailer-Daemon@mail.example.net"}],
            "Mail delivery failed: returning message to sender",
            "This message was created automatically by mail delivery software.\n\nA message"
            " that you sent could not be delivered to one or more of its\nrecipients. This"
            " is a permanent error. The following address(es) failed:\n\n"
            "  a.person@example.net\n    host mx.example.net [192.0.2.7]\n    SMTP error"
            " from remote mail server after RCPT TO:<a.person@example.net>:\n    550 5.1.1"
            " No such user\n  quota@example.com\n    host mx.example.com [192.0.2.8]\n"
            "    SMTP error from remote mail server after end of data:\n    552 5.2.2"
            " Mailbox quota exceeded\n\n------ This is a copy of the message, including all"
            " the headers. ------\n\n" + inline_copy,
            [
                {"address": "a.person@example.net", "action": "failed", "status": "5.1.1"},
                {"address": "quota@example.com", "action": "failed", "status": "5.2.2"},
            ],
        ),
        _text_bounce(
            24,
            "delay-exim-warning",
            "Exim delay warning (not yet delivered): a report (bounce), nobody failed",
            "Mail Delivery System <Mailer-Daemon@mail.example.net>",
            [{"name": "Mail Delivery System", "address": "Mailer-Daemon@mail.example.net"}],
            "Warning: message 1rg0Ab-000123-4C delayed 24 hours",
            "This message was created automatically by mail delivery software.\n\nA message"
            " that you sent has not yet been delivered to one or more of its\nrecipients"
            " after more than 24 hours on the queue on mail.example.net.\n\nThe message"
            " identifier is:     1rg0Ab-000123-4C\n\nThe address to which the message has"
            " not yet been delivered is:\n\n  waiting@example.com\n    Delay reason: SMTP"
            " error from remote mail server after RCPT TO:<waiting@example.com>:\n    451"
            " 4.7.1 Greylisted, please try again later\n\nNo action is required on your"
            " part. Delivery attempts will continue for\nsome time, and this warning may be"
            " repeated at intervals if the message\nremains undelivered. Eventually the mail"
            " delivery software will give up,\nand when that happens, the message will be"
            " returned to you.\n",
            [{"address": "waiting@example.com", "action": "delayed", "status": "4.7.1"}],
            kind="bounce",
        ),
    ]
    misc = [
        _text_bounce(
            25,
            "bounce-postfix-text-no-dsn",
            "old Postfix bounce without a delivery-status part, original attached",
            "MAILER-DAEMON@mail.example.com (Mail Delivery System)",
            [{"name": "Mail Delivery System", "address": "MAILER-DAEMON@mail.example.com"}],
            "Undelivered Mail Returned to Sender",
            _postfix_notice(
                "mail.example.com",
                "<unknown@example.com>: host"
                " mx.example.com[192.0.2.9] said: 550 5.1.1\n    <unknown@"
                "example.com>: Recipient address rejected: User unknown"
                " (in reply to RCPT TO command)\n",
            ),
            [{"address": "unknown@example.com", "action": "failed", "status": "5.1.1"}],
            attach=True,
        ),
        _text_bounce(
            26,
            "bounce-exchange-2003-text",
            "Exchange text NDR without a delivery-status part",
            "System Administrator <postmaster@contoso.com>",
            [{"name": "System Administrator", "address": "postmaster@contoso.com"}],
            "Undeliverable: Your ticket #1042",
            "Your message did not reach some or all of the intended recipients.\n\n"
            "      Subject:\tYour ticket #1042\n      Sent:\t3/1/2024 9:59 AM\n\nThe"
            " following recipient(s) cannot be reached:\n\n      nobody@contoso.com on"
            " 3/1/2024 10:05 AM\n            The e-mail account does not exist at the"
            " organization this message was sent to.\n            <mx.contoso.com #5.1.1"
            " smtp;550 5.1.1 RESOLVER.ADR.RecipNotFound; not found>\n",
            [{"address": "nobody@contoso.com", "action": "failed", "status": "5.1.1"}],
            attach=True,
        ),
        _text_bounce(
            27,
            "bounce-office365-text",
            "Office 365 NDR as text: status only in the diagnostic section below",
            "Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@contoso.com>",
            [
                {
                    "name": "Microsoft Outlook",
                    "address": "MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@contoso.com",
                }
            ],
            "Undeliverable: Your ticket #1042",
            "Delivery has failed to these recipients or groups:\n\nmissing@contoso.com"
            " (missing@contoso.com)\nThe email address you entered couldn't be found."
            " Please check the recipient's email address and try to resend the message."
            "\n\n\n\n\n\n\nDiagnostic information for administrators:\n\nGenerating"
            " server: DM6PR11MB4000.namprd11.prod.outlook.com\n\nmissing@contoso.com\n"
            "Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient"
            " not found by SMTP address lookup'\n\nOriginal message headers:\n\n" + inline_copy,
            [{"address": "missing@contoso.com", "action": "failed", "status": "5.1.10"}],
        ),
        _text_bounce(
            28,
            "bounce-gmail-text-legacy",
            "legacy Gmail text bounce ('Delivery to the following recipient failed permanently')",
            "Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
            [{"name": "Mail Delivery Subsystem", "address": "mailer-daemon@googlemail.com"}],
            "Delivery Status Notification (Failure)",
            "Delivery to the following recipient failed permanently:\n\n"
            "     nobody@example.org\n\nTechnical details of permanent failure:\nGoogle"
            " tried to deliver your message, but it was rejected by the server for the"
            " recipient domain example.org by mx.example.org. [192.0.2.10].\n\nThe error"
            " that the other server returned was:\n550 5.1.1 <nobody@example.org>:"
            " Recipient address rejected: User unknown\n\n----- Original message -----\n\n"
            + inline_copy,
            [{"address": "nobody@example.org", "action": "failed", "status": "5.1.1"}],
        ),
        _text_bounce(
            29,
            "bounce-yahoo-failure-notice",
            "Yahoo 'failure notice': no vendor phrase we know; MAILER-DAEMON plus subject decide",
            "MAILER-DAEMON@yahoo.com",
            [{"name": "", "address": "MAILER-DAEMON@yahoo.com"}],
            "Failure Notice",
            "Sorry, we were unable to deliver your message to the following address.\n\n"
            "<gone.user@yahoo.com>:\n554: delivery error: dd This user doesn't have a"
            " yahoo.com account (gone.user@yahoo.com) [0] - mta1001.mail.bf1.yahoo.com\n\n"
            "--- Below this line is a copy of the message.\n\n" + inline_copy,
            [{"address": "gone.user@yahoo.com", "action": "failed", "status": "5.0.0"}],
        ),
    ]
    zh = [
        _text_bounce(
            30,
            "bounce-qq-zh",
            "QQ Mail Chinese system bounce (GB18030, base64)",
            f"{ew('QQ邮箱', 'gb18030')} <PostMaster@qq.com>",
            [{"name": "QQ邮箱", "address": "PostMaster@qq.com"}],
            "系统退信",
            "此为系统邮件，请勿回复\n很抱歉您发送的邮件被退回，以下是该邮件的相关信息：\n\n"
            "被退回邮件\n    主题\tYour ticket #1042\n    时间\t2024年3月1日(星期五) 上午10:00\n"
            "    收件人\t12345@qq.com\n\n退信原因\n    收件人邮箱地址不存在。\n"
            "    550 5.1.1 Mailbox not found. http://service.mail.qq.com/\n",
            [{"address": "12345@qq.com", "action": "failed", "status": "5.1.1"}],
            charset="gb18030",
            cte="base64",
            subject_raw=ew("系统退信", "gb18030"),
        ),
        _text_bounce(
            31,
            "bounce-qq-zh-mailbox-full",
            "QQ Mail bounce: mailbox full (552)",
            f"{ew('QQ邮箱', 'gb18030')} <PostMaster@qq.com>",
            [{"name": "QQ邮箱", "address": "PostMaster@qq.com"}],
            "退信：Your ticket #1042",
            "此为系统邮件，请勿回复\n很抱歉您发送的邮件被退回，以下是该邮件的相关信息：\n\n"
            "    收件人\t99999@qq.com\n\n退信原因\n    收件人邮箱空间已满。\n"
            "    552 Mailbox quota exceeded\n",
            [{"address": "99999@qq.com", "action": "failed", "status": "5.2.2"}],
            charset="gb18030",
            cte="base64",
            subject_raw=ew("退信：Your ticket #1042", "gb18030"),
        ),
        _text_bounce(
            32,
            "bounce-163-zh",
            "NetEase 163 Chinese bounce (GBK, base64)",
            "postmaster@163.com",
            [{"name": "", "address": "postmaster@163.com"}],
            "系统退信/Systems bounce",
            "您好！\n\n很抱歉，您发送的邮件部分或全部未能成功投递到收件人的邮箱。\n\n"
            "收件人：wrong.name@163.com\n退信原因：550 User not found: wrong.name@163.com"
            "\n\n建议您检查收件人地址是否正确后重新发送。\n\n网易邮箱\n",
            [{"address": "wrong.name@163.com", "action": "failed", "status": "5.1.1"}],
            charset="GBK",
            cte="base64",
            subject_raw=ew("系统退信/Systems bounce", "GBK"),
            attach=True,
        ),
        _text_bounce(
            33,
            "bounce-126-zh",
            "NetEase 126 bounce with an enhanced status code",
            "postmaster@126.com",
            [{"name": "", "address": "postmaster@126.com"}],
            "系统退信",
            "您好！\n\n很抱歉，您发送的邮件未能成功投递。\n\n无法发送到 lost@example.cn\n"
            "原因：host mx.example.cn[198.51.100.3] said: 550 5.1.1 <lost@example.cn>:"
            " Recipient address rejected\n",
            [{"address": "lost@example.cn", "action": "failed", "status": "5.1.1"}],
            charset="GBK",
            cte="base64",
            subject_raw=ew("系统退信", "GBK", "Q"),
        ),
    ]
    return qmail + exim + misc + zh


def not_bounces() -> list[tuple[str, bytes, dict[str, object]]]:
    """Mail that only looks like a bounce: a daemon address or bounce words, but a person."""
    out = []
    body = (
        "Hi,\n\nthe mail server will be down for maintenance tonight from 22:00 to 23:00.\n\n"
        "Regards,\nIT\n"
    )
    top: list[tuple[str, str | bytes]] = [
        ("Date", "Fri, 01 Mar 2024 11:00:00 +0000"),
        ("From", "Postmaster <postmaster@example.org>"),
        ("To", SENDER),
        ("Subject", "Planned maintenance tonight"),
        ("Message-ID", "<maint-0001@example.org>"),
    ]
    out.append(
        (
            "normal-postmaster-human",
            message(top, text_part(body, "us-ascii", "7bit")),
            {
                "description": "a person writing from postmaster@: a hint, not proof of a bounce",
                "kind": "normal",
                "subject": "Planned maintenance tonight",
                "from": [{"name": "Postmaster", "address": "postmaster@example.org"}],
                "text_contains": ["maintenance tonight"],
                "bounce": None,
            },
        )
    )
    body = (
        "李经理，\n\n我昨天发给客户的邮件投递失败了，退信原因是对方邮箱已满，"
        "能帮忙换个联系方式吗？\n\n小王\n"
    )
    top = [
        ("Date", "Fri, 01 Mar 2024 11:05:00 +0800"),
        ("From", f"{ew('王小明', 'gb2312')} <xiaoming@example.cn>"),
        ("To", SENDER),
        ("Subject", ew("关于邮件投递失败的问题", "gb2312")),
        ("Message-ID", "<5e3a.0002@example.cn>"),
        ("X-Mailer", "Foxmail 7.2.25.228[cn]"),
    ]
    out.append(
        (
            "normal-zh-talks-about-bounce",
            message(top, text_part(body, "gb2312", "base64")),
            {
                "description": "a colleague writing about a bounce: bounce words, ordinary mail",
                "kind": "normal",
                "subject": "关于邮件投递失败的问题",
                "from": [{"name": "王小明", "address": "xiaoming@example.cn"}],
                "text_contains": ["投递失败"],
                "bounce": None,
            },
        )
    )
    return out


def cases() -> list[tuple[str, bytes, dict[str, object]]]:
    return [*dsn_cases(), _report_broken(), *text_cases(), *not_bounces()]
