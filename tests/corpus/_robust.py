"""Shapes the first issue-11 corpus missed, found by writing new mail (session 15).

Appended at the end of the 300 block (bounces) and the 400 block (replies and
automatic mail), so no existing case is renumbered. Each message is written
here from what the named client or server writes; the expectation says what
the message is.
"""

from __future__ import annotations

import _bounces_world
import _headers_world
import _replies_world
from _bounces import SENDER, original
from _mime import message, multipart, raw_part, text_part
from _replies_world import APPLE, GMAIL, OUTLOOK, OWA, Case, _reply


def header_block() -> list[Case]:
    """The 200 block: the first session's header cases, then these (numbers continue)."""
    base = _headers_world.cases()
    return base + headers(200 + len(base))


def bounce_block() -> list[Case]:
    """The 300 block: the first session's bounces, then these (numbers continue)."""
    base = _bounces_world.cases()
    return base + bounces(300 + len(base))


def reply_block() -> list[Case]:
    """The 400 block: the first session's replies, then these (numbers continue)."""
    base = _replies_world.cases()
    return base + replies(400 + len(base))


# --- headers and charsets (200 block) --------------------------------------------------


def _jis(text: str) -> bytes:
    """``text`` in ISO-2022-JP as Windows writes it: cp932 pairs turned into JIS rows."""
    out, two_byte = b"", False
    for ch in text:
        if ch.isascii():
            out += (b"\x1b(B" if two_byte else b"") + ch.encode()
            two_byte = False
            continue
        s1, s2 = ch.encode("cp932")
        s1 -= 0x40 if s1 >= 0xE0 else 0
        j1 = (s1 - 0x81) * 2 + 0x21
        pair = (j1 + 1, s2 - 0x7E) if s2 >= 0x9F else (j1, s2 - 0x1F if s2 < 0x7F else s2 - 0x20)
        out += (b"" if two_byte else b"\x1b$B") + bytes(pair)
        two_byte = True
    return out + (b"\x1b(B" if two_byte else b"")


def headers(start: int) -> list[Case]:
    import base64

    n = start
    subject = "Re: 見積書①の件（㈱サンプル）"
    word = base64.b64encode(_jis(subject)).decode()
    body = "お世話になっております。\r\n見積書①を確認しました。\r\n\r\n㈱サンプル 髙橋\r\n"
    name = base64.b64encode(_jis("髙橋 一郎")).decode()
    head = [
        "Received: from mail.sample.example (mail.sample.example [198.51.100.9])",
        f"\tby mx.help.example.com (Postfix) with ESMTPS id 4Xr{n:04d};",
        "\tTue, 05 Mar 2024 09:00:00 +0000",
        "Date: Tue, 05 Mar 2024 18:00:00 +0900",
        f"From: =?ISO-2022-JP?B?{name}?= <takahashi@sample.example>",
        "To: Support <support@help.example.com>",
        f"Subject: =?ISO-2022-JP?B?{word}?=",
        f"Message-ID: <robust-{n:04d}@sample.example>",
        "MIME-Version: 1.0",
        'Content-Type: text/plain; charset="iso-2022-jp"',
        "Content-Transfer-Encoding: 7bit",
        "X-Mailer: Microsoft Outlook 16.0",
    ]
    text = b"\r\n".join(_jis(line) for line in body.split("\r\n"))
    raw = "\r\n".join(head).encode() + b"\r\n\r\n" + text
    expect = {
        "description": "Japanese Outlook: ISO-2022-JP carrying cp932's NEC/IBM characters"
        " (①, ㈱, 髙) in the subject, the display name and the text",
        "kind": "normal",
        "subject": subject,
        "from": [{"name": "髙橋 一郎", "address": "takahashi@sample.example"}],
        "message_id": f"robust-{n:04d}@sample.example",
        "text_contains": ["見積書①を確認しました。", "㈱サンプル 髙橋"],
    }
    n += 1
    php = "\r\n".join(
        [
            "Received: from web.shop.example (web.shop.example [198.51.100.77])",
            f"\tby mx.help.example.com (Postfix) with ESMTP id 4Xr{n:04d};",
            "\tTue, 05 Mar 2024 02:00:00 +0000",
            "Date: Tue, 05 Mar 2024 10:00:00 GMT+0800",
            "From: orders@shop.example <orders@shop.example>",
            "To: <mailto:support@help.example.com>",
            "Subject: Order 88213 placed",
            f"Message-ID: <robust-{n:04d}@shop.example>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "",
            "Order 88213 was placed by a customer.",
            "",
        ]
    ).encode()
    php_expect = {
        "description": "A PHP shop script: the address as its own display name, '<mailto:…>'"
        " in To, and the offset written after GMT in Date",
        "kind": "normal",
        "subject": "Order 88213 placed",
        "from": [{"name": "orders@shop.example", "address": "orders@shop.example"}],
        "message_id": f"robust-{n:04d}@shop.example",
        "date": "2024-03-05T10:00:00+08:00",
    }
    return [
        ("outlook-ja-iso-2022-jp-nec-characters", raw, expect),
        ("php-address-as-name-gmt-offset", php, php_expect),
    ]


# --- bounces (300 block) --------------------------------------------------------------


def _bounce_top(n: int, from_: str, subject: str) -> list[tuple[str, str]]:
    """A bounce's header without the null Return-Path (a relay rewrote it)."""
    return [
        (
            "Received",
            f"from gw.remote.example ([203.0.113.{n % 250}])\r\n\tby mx.help.example.com"
            f" (Postfix) with ESMTP id 4Wr{n:04d}; Tue, 05 Mar 2024 08:{n % 60:02d}:00 +0000",
        ),
        ("Date", f"Tue, 05 Mar 2024 08:{n % 60:02d}:00 +0000"),
        ("From", from_),
        ("To", SENDER),
        ("Subject", subject),
        ("Message-ID", f"<robust-bounce-{n:04d}@gw.remote.example>"),
    ]


def _text(body: str) -> object:
    return text_part(body, "us-ascii" if body.isascii() else "utf-8", "7bit")


def bounces(start: int) -> list[Case]:
    n = start
    domino_subject = "DELIVERY FAILURE: User alice (alice@corp.example) not listed in Directory"
    domino = (
        "domino-admin-sender",
        message(
            _bounce_top(n, '"Domino Administrator" <notes-admin@corp.example>', domino_subject),
            _text(
                "Your message\n\n  Subject: Your ticket #1042\n\nwas not delivered to:\n\n"
                "  alice@corp.example\n\nbecause:\n\n"
                "  User alice (alice@corp.example) not listed in Domino Directory\n"
            ),
        ),
        {
            "description": "Lotus Domino's fixed 'Your message / Subject / was not delivered to:'"
            " from an administrator address: no daemon sender, no null Return-Path",
            "kind": "bounce",
            "subject": domino_subject,
            "from": [{"name": "Domino Administrator", "address": "notes-admin@corp.example"}],
            "bounce_recipients": [
                {"address": "alice@corp.example", "action": "failed", "status": "5.1.1"}
            ],
        },
    )
    n += 1
    copy = original(n, "bob@yahoo.example")[0].decode().replace("\r\n", "\n")
    yahoo = (
        "yahoo-no-reply-sender",
        message(
            _bounce_top(n, "Yahoo Mail <no-reply@yahoo.example>", "Failure Notice"),
            _text(
                "Sorry, we were unable to deliver your message to the following address.\n\n"
                "<bob@yahoo.example>:\n554: delivery error: dd This user doesn't have a"
                " yahoo.example account (bob@yahoo.example) [0] - mta7.yahoo.example\n\n"
                "--- Below this line is a copy of the message.\n\n" + copy
            ),
        ),
        {
            "description": "Yahoo's fixed sentence, relayed from a no-reply address (no hint)",
            "kind": "bounce",
            "subject": "Failure Notice",
            "from": [{"name": "Yahoo Mail", "address": "no-reply@yahoo.example"}],
            "bounce_recipients": [
                {"address": "bob@yahoo.example", "action": "failed", "status": "5.0.0"}
            ],
        },
    )
    n += 1
    subject = "RE: Undeliverable: Your ticket #1042"
    human = (
        "normal-reply-quoting-exchange-ndr",
        message(
            [
                ("Date", "Tue, 05 Mar 2024 09:00:00 +0000"),
                ("From", '"Carol Diaz" <carol@customer.example>'),
                ("To", SENDER),
                ("Subject", subject),
                ("Message-ID", f"<robust-{n:04d}@customer.example>"),
                ("X-Mailer", "Microsoft Outlook 16.0"),
            ],
            _text(
                "Alice left the company; please write to carol@customer.example instead.\n\n"
                "> Delivery has failed to these recipients or groups:\n>\n"
                "> alice@customer.example\n"
                "> The e-mail address you entered couldn't be found.\n"
            ),
        ),
        {
            "description": "A person answering an NDR with its vendor sentence quoted: normal",
            "kind": "normal",
            "subject": subject,
            "from": [{"name": "Carol Diaz", "address": "carol@customer.example"}],
            "bounce": None,
            "reply_text_equals": "Alice left the company; please write to"
            " carol@customer.example instead.",
        },
    )
    n += 1
    copy = original(n, "giulia@cliente.example")[0].decode().replace("\r\n", "\n")
    subject = "Non recapitabile: Your ticket #1042"
    italian = (
        "exchange-it-two-recipients",
        message(
            _bounce_top(n, "Microsoft Outlook <postmaster@cliente.example>", subject),
            _text(
                "Recapito non riuscito per i destinatari o i gruppi seguenti:\n\n"
                "giulia@cliente.example\nImpossibile trovare l'indirizzo di posta elettronica"
                " immesso.\n\nmarco@cliente.example\nLa cassetta postale del destinatario è"
                " piena.\n\nInformazioni di diagnostica per gli amministratori:\n\n"
                "Server di generazione: EX02.cliente.example\n\ngiulia@cliente.example\n"
                "Remote Server returned '550 5.1.1 RESOLVER.ADR.RecipNotFound; not found'\n\n"
                "marco@cliente.example\nRemote Server returned '554 5.2.2 mailbox full'\n\n"
                "Intestazioni messaggio originale:\n\n" + copy
            ),
        ),
        {
            "description": "Exchange NDR in Italian, two recipients, each one's code printed"
            " under the diagnostic information further down",
            "kind": "bounce",
            "subject": subject,
            "from": [{"name": "Microsoft Outlook", "address": "postmaster@cliente.example"}],
            "bounce_recipients": [
                {"address": "giulia@cliente.example", "action": "failed", "status": "5.1.1"},
                {"address": "marco@cliente.example", "action": "failed", "status": "5.2.2"},
            ],
        },
    )
    n += 1
    copy = original(n, "olivia@store.example")[0].decode()
    nobody = (
        "relay-names-nobody-original-attached",
        message(
            _bounce_top(n, "MAILER-DAEMON@relay.store.example", "Undeliverable mail"),
            multipart(
                "mixed",
                f"----=_rb_{n:04d}",
                [
                    _text("Your message could not be delivered.\n550 5.1.1 mailbox unavailable\n"),
                    raw_part("message/rfc822", copy.encode()),
                ],
            ),
        ),
        {
            "description": "A relay's bounce whose text names nobody: the attached original"
            " was sent to one address, which is the failed recipient",
            "kind": "bounce",
            "subject": "Undeliverable mail",
            "from": [{"name": "", "address": "MAILER-DAEMON@relay.store.example"}],
            "bounce_recipients": [
                {"address": "olivia@store.example", "action": "failed", "status": "5.1.1"}
            ],
        },
    )
    return [domino, yahoo, human, italian, nobody]


# --- replies and automatic mail (400 block) ------------------------------------------

_ORIGINAL_EN = (
    "-----Original Message-----\nFrom: Bob Roe [mailto:bob.roe@vendor.example]\n"
    "Sent: Monday, March 4, 2024 9:12 AM\nTo: Tom Hale <tom@customer.example>\n"
    "Subject: Printer on floor 3\n\nHi Tom,\n\nthe printer on floor 3 jams on every job.\n\n"
    "Bob\n"
)
_DIV_RPLY = (
    '<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri" style="font-size:11pt">'
    "<b>From:</b> Bob Roe &lt;bob.roe@vendor.example&gt;<br><b>Sent:</b> Monday, March 4,"
    " 2024 9:12 AM<br><b>To:</b> Tom Hale &lt;tom@customer.example&gt;<br><b>Subject:</b>"
    " Printer on floor 3</font><div>&nbsp;</div></div>"
)


def replies(start: int) -> list[Case]:
    out: list[Case] = []

    def add(*args: object, **kw: object) -> None:
        out.append(_reply(start + len(out), *args, **kw))  # type: ignore[arg-type]

    add(
        "fwd-outlook-original-message",
        "Outlook forward (FW:) with the reply's '-----Original Message-----': content is kept",
        ("Tom Hale", "tom@customer.example"),
        "FW: Printer on floor 3",
        "Can you look at this? It started on Monday.\n\nTom\n\n" + _ORIGINAL_EN,
        "Can you look at this? It started on Monday.\n\nTom\n\n" + _ORIGINAL_EN,
        agent=OUTLOOK,
    )
    add(
        "fwd-outlook-de-wg",
        "German Outlook forward (WG:) with '-----Ursprüngliche Nachricht-----' and Von/Gesendet",
        ("Jonas Weber", "jonas.weber@example.de"),
        "WG: Rechnung 2024-118",
        "Bitte prüfen, die Rechnung ist doppelt.\n\n-----Ursprüngliche Nachricht-----\n"
        "Von: Buchhaltung <rechnung@lieferant.example>\nGesendet: Montag, 4. März 2024 09:30\n"
        "An: Jonas Weber <jonas.weber@example.de>\nBetreff: Rechnung 2024-118\n\n"
        "Anbei die Rechnung.\n",
        "Bitte prüfen, die Rechnung ist doppelt.\n\n-----Ursprüngliche Nachricht-----\n"
        "Von: Buchhaltung <rechnung@lieferant.example>\nGesendet: Montag, 4. März 2024 09:30\n"
        "An: Jonas Weber <jonas.weber@example.de>\nBetreff: Rechnung 2024-118\n\n"
        "Anbei die Rechnung.",
        agent=OUTLOOK,
    )
    add(
        "fwd-outlook-zh-header-block",
        "Chinese Outlook forward (转发:) whose history starts at a 发件人/发送时间 block",
        ("李雷", "lilei@example.cn"),
        "转发: 发票问题",
        "请帮忙看一下这封邮件。\n\n发件人: 财务部 <finance@vendor.example>\n"
        "发送时间: 2024年3月4日 9:30\n收件人: 李雷 <lilei@example.cn>\n主题: 发票问题\n\n"
        "发票金额有误，请重新开具。\n",
        "请帮忙看一下这封邮件。\n\n发件人: 财务部 <finance@vendor.example>\n"
        "发送时间: 2024年3月4日 9:30\n收件人: 李雷 <lilei@example.cn>\n主题: 发票问题\n\n"
        "发票金额有误，请重新开具。",
        agent=OUTLOOK,
    )
    add(
        "reply-outlook-re-fw-cut",
        "A reply to a forward (RE: FW:) with the same separator: the history is cut",
        ("Tom Hale", "tom@customer.example"),
        "RE: FW: Printer on floor 3",
        "Thanks, the technician fixed it.\n\n" + _ORIGINAL_EN,
        "Thanks, the technician fixed it.",
        agent=OUTLOOK,
    )
    add(
        "fwd-owa-html-only",
        "HTML-only OWA forward (FW:): divRplyFwdMsg opens the forwarded mail, which is kept",
        ("Tom Hale", "tom@customer.example"),
        "FW: Printer on floor 3",
        "",
        "Can you look at this?\n\nFrom: Bob Roe <bob.roe@vendor.example>\nSent: Monday, March"
        " 4, 2024 9:12 AM\nTo: Tom Hale <tom@customer.example>\nSubject: Printer on floor 3\n\n"
        "The printer jams on every job.",
        agent=OWA,
        html='<html><body><div style="font-family:Calibri">Can you look at this?</div>'
        '<div id="appendonsend"></div><hr style="display:inline-block;width:98%">'
        + _DIV_RPLY
        + "<div>The printer jams on every job.</div></body></html>",
    )
    add(
        "reply-gmail-wrapped-before-address",
        "Gmail wraps the attribution at 78 columns right after '<' (long display name)",
        ("Priya Natarajan", "priya.n@example.in"),
        "Re: Refund for order 88213",
        "Received the refund today, thank you!\n\nOn Mon, Mar 4, 2024 at 10:00 AM Acme"
        " Support Team for Billing <\nsupport@help.example.com> wrote:\n\n> Your refund is on"
        " its way.\n>\n",
        "Received the refund today, thank you!",
        agent=GMAIL,
    )
    add(
        "reply-outlook-desktop-html-border",
        "Outlook desktop HTML reply: the history starts at the border-top:solid #E1E1E1 div",
        ("Tom Hale", "tom@customer.example"),
        "RE: Printer on floor 3",
        "",
        "Works again, thanks.",
        agent=OUTLOOK,
        html='<html><body><div class="WordSection1"><p class="MsoNormal">Works again,'
        ' thanks.<o:p></o:p></p><p class="MsoNormal"><o:p>&nbsp;</o:p></p><div><div'
        ' style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">'
        '<p class="MsoNormal"><b>From:</b> Acme Support &lt;support@help.example.com&gt;'
        " <br><b>Sent:</b> Monday, March 4, 2024 9:12 AM<br><b>To:</b> Tom Hale"
        " &lt;tom@customer.example&gt;<br><b>Subject:</b> RE: Printer on floor 3</p></div>"
        '</div><p class="MsoNormal">Please restart it.</p></div></body></html>',
    )
    add(
        "reply-yahoo-html-quoted",
        "Yahoo webmail HTML-only reply: the history sits in a yahoo_quoted div",
        ("Mary Jones", "mary.jones@yahoo.example"),
        "Re: Your ticket #1042",
        "",
        "Yes, that address is right.",
        agent=("X-Mailer", "WebService/1.1.22077 YMailNorrin"),
        html='<html><body><div class="yahoo-style-wrap"><div dir="ltr">Yes, that address is'
        ' right.</div></div><div id="yahoo_quoted_3311" class="yahoo_quoted"><div'
        ' style="font-size:12px"><div>On Monday, March 4, 2024, 10:00:00 AM GMT+1, Acme'
        " Support &lt;support@help.example.com&gt; wrote:</div><div><br></div><div>Is your"
        " address still 5 Main St?</div></div></div></body></html>",
    )
    add(
        "sig-blackberry-network",
        "BlackBerry's long footer, with the network's name",
        ("Dale Cooper", "dale@example.us"),
        "Re: Your ticket #1042",
        "Confirmed for Thursday.\n\nSent from my BlackBerry 10 smartphone on the Verizon"
        " Wireless 4G LTE network.\n",
        "Confirmed for Thursday.",
        agent=("X-Mailer", "BlackBerry Email (10.3.3.2205)"),
    )
    add(
        "sig-aol-app",
        "AOL's app footer (six words after 'Sent from the')",
        ("Linda Park", "lindapark@aol.example"),
        "Re: Your ticket #1042",
        "Thank you, that fixed it.\n\nSent from the all new AOL app for iOS\n",
        "Thank you, that fixed it.",
        agent=("X-Mailer", "AOL Mobile Mail"),
    )
    add(
        "sig-zh-two-line-valediction",
        "Chinese valediction on two lines (此致 / 敬礼) over a name, title and phone",
        ("张伟", "zhangwei@example.cn"),
        "回复: 订单 5512",
        "货已收到，数量正确。\n\n此致\n敬礼\n\n张伟\n采购经理\n电话：010-6000 0000\n",
        "货已收到，数量正确。\n\n此致\n敬礼",
        agent=("X-Mailer", "Foxmail 7.2.25.228[cn]"),
    )
    add(
        "auto-exchange-nl",
        "Exchange out-of-office in Dutch, without Auto-Submitted (an older server)",
        ("Sanne de Vries", "sanne@example.nl"),
        "Automatisch antwoord: Your ticket #1042",
        "Ik ben afwezig tot 11 maart.\n",
        None,
        kind="auto_reply",
        agent=OUTLOOK,
    )
    add(
        "auto-exchange-ja",
        "Exchange out-of-office in Japanese (自動応答)",
        ("佐藤 健", "k.sato@example.jp"),
        "自動応答: Your ticket #1042",
        "3月11日まで不在にしております。\n",
        None,
        kind="auto_reply",
        agent=OUTLOOK,
    )
    add(
        "human-re-automatic-reply-nl",
        "A person answering a Dutch out-of-office ('Re: Automatisch antwoord'): human",
        ("Pieter Jansen", "pieter@example.nl"),
        "Re: Automatisch antwoord: Your ticket #1042",
        "Geen probleem, ik wacht tot je terug bent.\n\n> Ik ben afwezig tot 11 maart.\n",
        "Geen probleem, ik wacht tot je terug bent.",
        agent=APPLE,
    )
    add(
        "reply-horde-quoting",
        "Horde/IMP: 'Quoting Name <address>:' over a '>' quote",
        ("Klaus Becker", "k.becker@uni.example.de"),
        "Re: Your ticket #1042",
        "Danke, das Passwort funktioniert wieder.\n\nZitat von Acme Support"
        " <support@help.example.com>:\n\n> Wir haben Ihr Passwort zurückgesetzt.\n",
        "Danke, das Passwort funktioniert wieder.",
        agent=("User-Agent", "Horde Application Framework 5"),
    )
    add(
        "reply-groupwise-arrows",
        "GroupWise: '>>> Name <address> date >>>' over unmarked history",
        ("Ruth Adams", "radams@county.example.gov"),
        "Re: Your ticket #1042",
        "We received the replacement part. Thank you.\n\n>>> Acme Support"
        " <support@help.example.com> 3/4/2024 10:05 AM >>>\nThe part ships today.\n",
        "We received the replacement part. Thank you.",
        agent=("X-Mailer", "Novell GroupWise Internet Agent 18.4.1"),
    )
    add(
        "reply-lotus-notes-wrote-on",
        "Lotus Notes: 'Name <address> wrote on <date>:' over unmarked history",
        ("Greg Olsen", "golsen@mfg.example"),
        "Re: Your ticket #1042",
        "The serial number is 55-1042-A.\n\nAcme Support <support@help.example.com> wrote on"
        " 03/04/2024 10:05:33 AM:\n\nPlease send us the serial number.\n",
        "The serial number is 55-1042-A.",
        agent=("X-Mailer", "IBM Notes Release 9.0.1FP10"),
    )
    add(
        "reply-qq-html-signature-rule",
        "QQ Mail HTML-only reply: an 18-dash rule over the signature, then 原始邮件",
        ("张三", "zhangsan@qq.example"),
        "回复: 您的工单 #1042",
        "",
        "好的，谢谢。",
        agent=("X-QQ-mid", "xmsmtpt1709540000t3abc"),
        html='<div>好的，谢谢。</div><div><br></div><div><div style="color:#909090;font-size:12px">'
        "------------------</div><div>张三</div><div>示例科技有限公司</div></div><div>&nbsp;"
        '</div><div><div style="font-size: 12px;font-family: Arial Narrow;">------------------'
        '&nbsp;原始邮件&nbsp;------------------</div><div><b>发件人:</b> "Acme Support"'
        " &lt;support@help.example.com&gt;;</div><div><b>发送时间:</b> 2024年3月4日(星期一)"
        ' 上午10:00</div><div><b>收件人:</b> "张三"&lt;zhangsan@qq.example&gt;;</div><div>'
        "<b>主题:</b> 您的工单 #1042</div></div><div>&nbsp;</div><div>请提供订单号。</div>",
    )
    add(
        "auto-null-return-path-cannot-be-reached",
        "An out-of-office with a null Return-Path (RFC 3834) and 'cannot be reached':"
        " an auto-reply, not a bounce",
        ("Hannah Kim", "hannah.kim@partner.example"),
        "Out of Office",
        "I am out of the office and cannot be reached until March 11.\n",
        None,
        kind="auto_reply",
        agent=OUTLOOK,
        headers=[("Return-Path", "<>"), ("Auto-Submitted", "auto-replied")],
    )
    add(
        "auto-outlook-plain-read-receipt",
        "Outlook's read receipt as plain text (no RFC 8098 report): 'Read:' over 'was read on'",
        ("Tom Hale", "tom@customer.example"),
        "Read: Your ticket #1042",
        "Your message\n\n  To: Tom Hale\n  Subject: Your ticket #1042\n  Sent: Monday, March 4,"
        " 2024 10:00 AM\n\nwas read on Monday, March 4, 2024 10:05 AM.\n",
        None,
        kind="auto_reply",
        agent=OUTLOOK,
    )
    return out
