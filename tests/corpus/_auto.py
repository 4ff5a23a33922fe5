"""Out-of-office replies, other automatic mail, ARF complaints and mail loops."""

from __future__ import annotations

from _mime import Part, ew, message, multipart, raw_part, text_part

US = "support@help.example.com"
OURS = "out-0500.7f3a@help.example.com"


def _auto(
    n: int,
    slug: str,
    desc: str,
    from_: tuple[str, str],
    subject: str,
    body: str,
    headers: list[tuple[str, str | bytes]],
    kind: str = "auto_reply",
    charset: str = "utf-8",
    cte: str = "quoted-printable",
    html: str | None = None,
    subject_raw: str | None = None,
    **more: object,
) -> tuple[str, bytes, dict[str, object]]:
    name, addr = from_
    if not name:
        fh = addr
    elif name.isascii():
        fh = f'"{name}" <{addr}>'
    else:
        fh = f"{ew(name, charset if charset.lower() not in ('us-ascii',) else 'utf-8')} <{addr}>"
    part: Part = text_part(body, charset, cte)
    if html is not None:
        part = multipart(
            "alternative", f"----=_auto_{n:04d}", [part, text_part(html, charset, cte, "html")]
        )
    top: list[tuple[str, str | bytes]] = [
        (
            "Received",
            f"from mx.remote.example (mx.remote.example [203.0.113.{n % 250}])\r\n"
            f"\tby mx.help.example.com (Postfix) with ESMTPS id 4Ta{n:04d};"
            f" Fri, 01 Mar 2024 10:{n % 60:02d}:05 +0000",
        ),
        ("Date", f"Fri, 01 Mar 2024 10:{n % 60:02d}:03 +0000"),
        ("From", fh),
        ("To", f"<{US}>"),
        ("Subject", subject_raw or (subject if subject.isascii() else ew(subject, charset))),
        ("Message-ID", f"<auto-{n:04d}@{addr.split('@')[1]}>"),
        ("In-Reply-To", f"<{OURS}>"),
        *headers,
    ]
    e: dict[str, object] = {
        "description": desc,
        "kind": kind,
        "subject": subject,
        "from": [{"name": name, "address": addr}],
        "text_contains": [body.strip().split("\n")[0][:40]],
        "bounce": None,
    }
    e.update(more)
    return slug, message(top, part), e


def auto_cases() -> list[tuple[str, bytes, dict[str, object]]]:
    ooo_en = (
        "Thank you for your email. I am out of the office until Monday, 11 March, with limited"
        " access to email.\n\nFor urgent matters please contact helpdesk@contoso.com.\n"
    )
    ooo_zh = "您好，我正在休假，3月11日返回办公室。如有急事请联系 13800000000。\n"
    return [
        _auto(
            1,
            "ooo-exchange-en",
            "Exchange out-of-office (Automatic reply:)",
            ("Emma Wilson", "emma.wilson@contoso.com"),
            "Automatic reply: Your ticket #1042",
            ooo_en,
            [
                ("Auto-Submitted", "auto-generated"),
                ("X-Auto-Response-Suppress", "All"),
                ("X-MS-Exchange-Inbox-Rules-Loop", "emma.wilson@contoso.com"),
                ("Thread-Topic", "Your ticket #1042"),
                ("Content-Language", "en-US"),
            ],
            html="<html><body><p>" + ooo_en + "</p></body></html>",
        ),
        _auto(
            2,
            "ooo-exchange-zh",
            "Exchange out-of-office in Chinese (自动回复:)",
            ("孙丽", "sunli@contoso.cn"),
            "自动回复: 您的工单 #1042",
            ooo_zh,
            [
                ("Auto-Submitted", "auto-generated"),
                ("X-Auto-Response-Suppress", "All"),
                ("X-MS-Exchange-Generated-Message-Source", "Mailbox Rules Agent"),
            ],
            cte="base64",
        ),
        _auto(
            3,
            "ooo-gmail-vacation",
            "Gmail vacation responder (Auto-Submitted: auto-replied)",
            ("John Smith", "john.smith@gmail.com"),
            "Re: Your ticket #1042",
            "Hi, I'm on vacation until March 11 and will reply when I'm back.\n",
            [
                ("Auto-Submitted", "auto-replied"),
                ("Precedence", "bulk"),
                ("X-Gm-Message-State", "AOJu0YwVacationResponderState"),
            ],
        ),
        _auto(
            4,
            "ooo-qq-autoreply",
            "QQ Mail holiday auto-reply: its fixed sentence, no header",
            ("小明", "12345678@qq.com"),
            "自动回复: 您的工单 #1042",
            "这是来自QQ邮箱的假期自动回复邮件。\n\n您好，我最近正在休假中，无法亲自回复您的邮件。"
            "我将在假期结束后，尽快给您回复。\n",
            [("X-QQ-mid", "xmautoreply1709287200t4a8b"), ("X-Mailer", "QQMail 2.x")],
            charset="gb18030",
            cte="base64",
        ),
        _auto(
            5,
            "ooo-163-autoreply",
            "NetEase 163 auto-reply",
            ("杨洋", "yangyang@163.com"),
            "自动回复：您的工单 #1042",
            "这是一封自动回复邮件。您好，您的来信已收到，我会尽快处理。\n",
            [
                ("X-Autoreply", "yes"),
                ("X-Mailer", "Coremail Webmail Server Version XT5.0.13 build 20230419 163com"),
            ],
            charset="GBK",
            cte="base64",
        ),
        _auto(
            6,
            "ooo-x-autorespond",
            "vendor header X-Autorespond",
            ("Sales", "sales@example.net"),
            "Thanks for your message",
            "We received your message and will answer within one business day.\n",
            [("X-Autorespond", "Thanks for your message")],
        ),
        _auto(
            7,
            "ooo-precedence-auto-reply",
            "Precedence: auto_reply",
            ("Info", "info@example.net"),
            "Re: Your ticket #1042",
            "Your message has been received.\n",
            [("Precedence", "auto_reply")],
        ),
        _auto(
            8,
            "ooo-precedence-bulk-wording",
            "Precedence: bulk with out-of-office wording",
            ("Hans Müller", "hans.mueller@example.de"),
            "Abwesend: Your ticket #1042",
            "I am out of the office until 11 March. Ich bin bis zum 11. März nicht im Büro.\n",
            [("Precedence", "bulk")],
            charset="iso-8859-1",
        ),
        _auto(
            9,
            "ooo-x-autogenerated-reply",
            "X-Autogenerated: Reply",
            ("Helpdesk", "helpdesk@example.org"),
            "Ticket received",
            "We have received your request [#88213].\n",
            [("X-Autogenerated", "Reply")],
        ),
        _auto(
            10,
            "ooo-post-messageclass",
            "X-POST-MessageClass: 9; Autoresponder",
            ("Karen Hill", "karen@example.org"),
            "Away",
            "I'm away from my desk this week.\n",
            [("X-POST-MessageClass", "9; Autoresponder")],
        ),
        _auto(
            11,
            "ooo-delivered-to-autoresponder",
            "Delivered-To: Autoresponder",
            ("Bob Stone", "bob@example.org"),
            "Re: Your ticket #1042",
            "I'll get back to you soon.\n",
            [("Delivered-To", "Autoresponder")],
        ),
        _auto(
            12,
            "ooo-autosvar",
            "Swedish out-of-office (Autosvar:), subject only",
            ("Lars Nilsson", "lars@example.se"),
            "Autosvar: Your ticket #1042",
            "Jag är på semester till den 11 mars.\n",
            [],
            charset="iso-8859-1",
        ),
        _auto(
            13,
            "ooo-zh-tw-big5",
            "Traditional Chinese auto-reply (自動回覆, Big5)",
            ("陳大文", "david.chan@example.com.tw"),
            "自動回覆: 您的工單 #1042",
            "您好，我目前休假中，將於3月11日回到辦公室。\n",
            [],
            charset="big5",
            cte="base64",
        ),
        _auto(
            14,
            "ooo-zh-leave-subject",
            "Chinese subject '休假中：' only",
            ("周杰", "zhoujie@example.cn"),
            "休假中：您的工单 #1042",
            "本人3月1日至3月10日休假，急事请致电。\n",
            [],
            charset="gb2312",
            cte="base64",
        ),
        _auto(
            15,
            "ooo-zh-not-in-office",
            "Chinese subject '不在办公室'",
            ("钱进", "qianjin@example.cn"),
            "我不在办公室 - 您的工单 #1042",
            "我现在不在办公室，回来后回复您。\n",
            [],
            charset="gb18030",
            cte="base64",
        ),
        _auto(
            16,
            "ooo-x-autoreply-en",
            "X-Autoreply: yes (Zimbra, cPanel)",
            ("Mike Ross", "mike@example.com"),
            "Re: Your ticket #1042",
            "I am currently travelling.\n",
            [("X-Autoreply", "yes")],
        ),
        _auto(
            17,
            "normal-auto-submitted-no",
            "Auto-Submitted: no (RFC 3834: a person wrote it)",
            ("Jane Doe", "jane@example.com"),
            "Re: Your ticket #1042",
            "Thanks, that answers my question.\n",
            [("Auto-Submitted", "no")],
            kind="normal",
        ),
        _auto(
            18,
            "normal-x-auto-response-suppress",
            "X-Auto-Response-Suppress is a request, not a marker: ordinary Outlook mail",
            ("Tom King", "tom.king@contoso.com"),
            "Question about invoice 7781",
            "Hello, could you resend invoice 7781?\n",
            [("X-Auto-Response-Suppress", "RN, NRN, OOF"), ("X-Mailer", "Microsoft Outlook 16.0")],
            kind="normal",
        ),
        _auto(
            19,
            "normal-zh-leave-request",
            "'休假申请' (a leave request) is ordinary mail",
            ("李娜", "lina@example.cn"),
            "休假申请",
            "领导您好，我想申请3月11日至15日休假，请批准。\n",
            [],
            kind="normal",
            charset="gbk",
            cte="base64",
        ),
        _auto(
            20,
            "normal-newsletter-bulk",
            "Precedence: bulk without out-of-office wording: a newsletter is still"
            " 'do not answer' (RFC 3834 §2), kind auto_reply",
            ("Contoso News", "news@contoso.com"),
            "Contoso monthly: March 2024",
            "Our March product updates are here.\n",
            [
                ("Precedence", "bulk"),
                ("List-Id", "Contoso News <news.contoso.com>"),
                ("List-Unsubscribe", "<https://contoso.com/unsub?u=1>"),
            ],
            kind="auto_reply",
        ),
        _auto(
            21,
            "auto-zendesk-ack",
            "help-desk acknowledgement (Auto-Submitted: auto-generated)",
            ("Example Support", "support@example.zendesk.com"),
            "[Example] Re: Your ticket #1042",
            "Your request (4711) has been received and is being reviewed by our support staff.\n",
            [("Auto-Submitted", "auto-generated"), ("X-Mailer", "Zendesk Mailer")],
        ),
        _auto(
            22,
            "ooo-out-of-office-subject",
            "English 'Out of Office:' subject only, no header",
            ("Ann Lee", "ann.lee@example.com"),
            "Out of Office: Your ticket #1042",
            "I am out of the office until Monday.\n",
            [],
        ),
    ]


def _arf(
    n: int,
    slug: str,
    desc: str,
    from_: tuple[str, str],
    subject: str,
    fields: list[tuple[str, str]],
    headers_only: bool,
    rcpt: str,
    notice: str,
    **more: object,
) -> tuple[str, bytes, dict[str, object]]:
    mid = f"campaign-{n:04d}.9e1b@news.help.example.com"
    orig = (
        f"Received: from news.help.example.com (news.help.example.com [192.0.2.25])\r\n"
        f"\tby mta.remote.example with ESMTP; Fri, 01 Mar 2024 08:00:00 +0000\r\n"
        f"From: Acme News <news@news.help.example.com>\r\nTo: {rcpt}\r\n"
        f"Subject: March offers\r\nDate: Fri, 01 Mar 2024 08:00:00 +0000\r\n"
        f"Message-ID: <{mid}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii"
        f"\r\n\r\nOur March offers.\r\n"
    ).encode()
    report = "".join(f"{k}: {v}\r\n" for k, v in fields).encode()
    parts = [
        text_part(notice, "us-ascii", "7bit"),
        raw_part("message/feedback-report", report),
        raw_part("text/rfc822-headers", orig.split(b"\r\n\r\n")[0] + b"\r\n")
        if headers_only
        else raw_part("message/rfc822", orig),
    ]
    mp = multipart(
        "report",
        f"----=_arf_{n:04d}_boundary",
        parts,
        params="; report-type=feedback-report",
        preamble="",
    )
    top: list[tuple[str, str | bytes]] = [
        ("Date", f"Fri, 01 Mar 2024 12:{n:02d}:00 +0000"),
        ("From", f'"{from_[0]}" <{from_[1]}>'),
        ("To", "fbl@help.example.com"),
        ("Subject", subject),
        ("Message-ID", f"<arf-{n:04d}@{from_[1].split('@')[1]}>"),
    ]
    feedback = dict(fields)
    e: dict[str, object] = {
        "description": desc,
        "kind": "complaint",
        "subject": subject,
        "from": [{"name": from_[0], "address": from_[1]}],
        "bounce": None,
        "classify": {
            "original_message_id": mid,
            "complaint": {
                "feedback_type": feedback["Feedback-Type"].lower(),
                # Redacted or absent Original-Rcpt-To: the returned copy's To names them.
                "original_rcpt_to": feedback.get("Original-Rcpt-To", rcpt).strip("<>"),
            },
        },
    }
    e.update(more)
    return slug, message(top, mp), e


def arf_cases() -> list[tuple[str, bytes, dict[str, object]]]:
    return [
        _arf(
            1,
            "arf-yahoo-abuse",
            "Yahoo complaint feedback loop (ARF abuse)",
            ("Yahoo! Mail AntiSpam Feedback", "feedback@arf.mail.yahoo.com"),
            "FW: March offers",
            [
                ("Feedback-Type", "abuse"),
                ("User-Agent", "Yahoo!-Mail-Feedback/2.0"),
                ("Version", "0.1"),
                ("Original-Mail-From", "<bounce@news.help.example.com>"),
                ("Original-Rcpt-To", "<reader1@yahoo.com>"),
                ("Received-Date", "Fri, 01 Mar 2024 08:00:01 +0000"),
                ("Source-IP", "192.0.2.25"),
                ("Reported-Domain", "news.help.example.com"),
            ],
            False,
            "reader1@yahoo.com",
            "This is an email abuse report for an email message received from IP 192.0.2.25"
            " on Fri, 01 Mar 2024 08:00:01 +0000.\n",
        ),
        _arf(
            2,
            "arf-aol-abuse",
            "AOL-style ARF with redacted recipient in the returned copy",
            ("AOL Feedback Loop", "scomp@aol.net"),
            "Email Feedback Report for IP 192.0.2.25",
            [
                ("Feedback-Type", "abuse"),
                ("User-Agent", "AOL SComp"),
                ("Version", "0.1"),
                ("Arrival-Date", "Fri, 01 Mar 2024 08:00:02 +0000"),
                ("Source-IP", "192.0.2.25"),
            ],
            False,
            "redacted@aol.com",
            "This is an email abuse report for an email message received from IP 192.0.2.25.\n",
        ),
        _arf(
            3,
            "arf-outlook-jmrp",
            "Outlook.com JMRP complaint (headers only returned)",
            ("staff@hotmail.com", "staff@hotmail.com"),
            "complaint about message from 192.0.2.25",
            [
                ("Feedback-Type", "abuse"),
                ("User-Agent", "Hotmail FBL"),
                ("Version", "1"),
                ("Original-Mail-From", "<bounce@news.help.example.com>"),
                ("Arrival-Date", "Fri, 01 Mar 2024 08:00:03 -0800"),
                ("Source-IP", "192.0.2.25"),
            ],
            True,
            "reader3@outlook.com",
            "This is an email abuse report for an email message received from IP 192.0.2.25.\n",
        ),
        _arf(
            4,
            "arf-fraud",
            "ARF with Feedback-Type: fraud (RFC 5965 §7.3)",
            ("Abuse Desk", "abuse@mail.example.net"),
            "Fraud report",
            [
                ("Feedback-Type", "fraud"),
                ("User-Agent", "ExampleFBL/1.0"),
                ("Version", "1"),
                ("Original-Mail-From", "<bounce@news.help.example.com>"),
                ("Original-Rcpt-To", "<victim@example.net>"),
                ("Arrival-Date", "Fri, 01 Mar 2024 08:00:04 +0000"),
            ],
            False,
            "victim@example.net",
            "A user reported this message as fraud.\n",
        ),
        _arf(
            5,
            "arf-mailru-abuse",
            "Mail.ru style ARF, report with uppercase field values",
            ("Mail.Ru FBL", "fbl@corp.mail.ru"),
            "Spam report",
            [
                ("Feedback-Type", "ABUSE"),
                ("User-Agent", "MailRu-FBL/1.0"),
                ("Version", "1"),
                ("Original-Rcpt-To", "<reader5@mail.ru>"),
            ],
            False,
            "reader5@mail.ru",
            "Spam complaint.\n",
        ),
    ]


def loop_cases() -> list[tuple[str, bytes, dict[str, object]]]:
    out = []
    received = "".join(
        f"Received: from relay{i}.loop.example (relay{i}.loop.example [198.51.100.{i}])\r\n"
        f"\tby relay{i + 1}.loop.example with ESMTP id L{i:03d}; Fri, 01 Mar 2024 10:{i:02d}:00"
        " +0000\r\n"
        for i in range(30)
    ).encode()
    body = text_part("Looping message.\n", "us-ascii", "7bit")
    top: list[tuple[str, str | bytes]] = [
        ("Date", "Fri, 01 Mar 2024 10:00:00 +0000"),
        ("From", "forwarder@loop.example"),
        ("To", US),
        ("Subject", "Fwd: Fwd: Fwd: hello"),
        ("Message-ID", "<loop-0001@loop.example>"),
    ]
    out.append(
        (
            "loop-thirty-received",
            received + message(top, body),
            {
                "description": "30 Received fields: a forwarding loop",
                "kind": "normal",
                "subject": "Fwd: Fwd: Fwd: hello",
                "from": [{"name": "", "address": "forwarder@loop.example"}],
                "classify": {"loop_suspected": True},
            },
        )
    )
    top = [
        (
            "Received",
            "from mx.help.example.com by forward.example.org; Fri, 01 Mar 2024 10:00:00 +0000",
        ),
        ("Date", "Fri, 01 Mar 2024 09:59:00 +0000"),
        ("From", '"Acme Support" <support@help.example.com>'),
        ("To", "alias@forward.example.org"),
        ("Subject", "Your ticket #1042"),
        ("Message-ID", "<out-0777.7f3a@help.example.com>"),
        ("X-Mailgate-Id", "msg_01HQ8Z5K3T4V"),
        ("Auto-Submitted", "auto-generated"),
    ]
    out.append(
        (
            "loop-own-message-back",
            message(top, text_part("Your ticket was updated.\n", "us-ascii", "7bit")),
            {
                "description": "our own message (X-Mailgate-Id) forwarded back to us",
                "kind": "auto_reply",
                "subject": "Your ticket #1042",
                "from": [{"name": "Acme Support", "address": "support@help.example.com"}],
                "classify": {"loop_suspected": True},
            },
        )
    )
    top = [
        ("Date", "Fri, 01 Mar 2024 10:30:00 +0000"),
        ("From", "Jane Doe <jane@example.com>"),
        ("To", US),
        ("Subject", "Re: Your ticket #1042"),
        ("Message-ID", "<ok-0001@example.com>"),
        ("Received", "from a.example.com by b.example.com; Fri, 01 Mar 2024 10:30:00 +0000"),
        ("Received", "from c.example.com by a.example.com; Fri, 01 Mar 2024 10:29:59 +0000"),
    ]
    out.append(
        (
            "normal-two-received",
            message(top, text_part("All good now.\n", "us-ascii", "7bit")),
            {
                "description": "ordinary mail with two Received fields: no loop",
                "kind": "normal",
                "subject": "Re: Your ticket #1042",
                "from": [{"name": "Jane Doe", "address": "jane@example.com"}],
                "classify": {"loop_suspected": False},
            },
        )
    )
    return out


def mdn_case() -> tuple[str, bytes, dict[str, object]]:
    """An Outlook read receipt (RFC 8098 message disposition notification)."""
    notice = text_part(
        "Your message\n\n  To: Emma Wilson\n  Subject: Your ticket #1042\n  Sent: Friday, March"
        " 1, 2024 10:00:00 AM (UTC+00:00)\n\nwas read on Friday, March 1, 2024 10:12:00 AM"
        " (UTC+00:00).\n",
        "utf-8",
        "quoted-printable",
    )
    mdn = raw_part(
        "message/disposition-notification",
        b"Reporting-UA: contoso.com; Microsoft Outlook 16.0\r\n"
        b"Final-Recipient: rfc822;emma.wilson@contoso.com\r\n"
        b"Original-Message-ID: <" + OURS.encode() + b">\r\n"
        b"Disposition: manual-action/MDN-sent-manually; displayed\r\n",
    )
    body = multipart(
        "report",
        "----=_mdn_0001",
        [notice, mdn],
        params="; report-type=disposition-notification",
        preamble="",
    )
    top: list[tuple[str, str | bytes]] = [
        ("Date", "Fri, 01 Mar 2024 10:12:00 +0000"),
        ("From", '"Emma Wilson" <emma.wilson@contoso.com>'),
        ("To", f"<{US}>"),
        ("Subject", "Read: Your ticket #1042"),
        ("Message-ID", "<mdn-0001@contoso.com>"),
        ("X-Mailer", "Microsoft Outlook 16.0"),
    ]
    return (
        "mdn-read-receipt-outlook",
        message(top, body),
        {
            "description": "read receipt (RFC 8098 MDN): automatic, never answered, no bounce",
            "kind": "auto_reply",
            "subject": "Read: Your ticket #1042",
            "from": [{"name": "Emma Wilson", "address": "emma.wilson@contoso.com"}],
            "bounce": None,
        },
    )


def cases() -> list[tuple[str, bytes, dict[str, object]]]:
    return [*auto_cases(), mdn_case(), *arf_cases(), *loop_cases()]
