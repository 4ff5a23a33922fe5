"""Bounces shaped like the world's mail servers (issue 11, classes 7–16), numbered from 300.

Each one returns a message support@help.example.com sent. Written for this
corpus from RFC 3464 / 6533 / 3798, the Amazon SES notification contents, and
what Postfix, Exim, Sendmail, qmail, Exchange NDRs (English, German, French,
Spanish, Portuguese), Lotus Domino, GroupWise, Yahoo, AOL and QQ/163 write.
Classes: 7 prose recognised by a hint plus wording, 8 failure list only,
9 X-Failed-Recipients, 10 unusable reports read as prose, 11 status parts
anywhere, 12 Status x.0.0 vs Diagnostic-Code, 13 odd actions and groups,
14 SES JSON, 15 delay and success reports (kind bounce), 16 daemon MDN "deleted".
"""

from __future__ import annotations

import json

from _bounces import SENDER, original
from _mime import Part, ew, message, multipart, raw_part, text_part

Case = tuple[str, bytes, dict[str, object]]
DATE = "Mon, 04 Mar 2024 11:{m:02d}:00 +0000"
REPORT = "; report-type=delivery-status"


def _top(n: int, from_: str, subject: str, extra: list[tuple[str, str]] | None = None) -> list:
    return [
        ("Return-Path", "<>"),
        (
            "Received",
            f"from mx.remote.example ([203.0.113.{n % 250}])\r\n\tby mx.help.example.com"
            f" (Postfix) with ESMTP id 4Wb{n:04d}; {DATE.format(m=n % 60)}",
        ),
        ("Date", DATE.format(m=n % 60)),
        ("From", from_),
        ("To", SENDER),
        ("Subject", subject if subject.isascii() else ew(subject)),
        ("Message-ID", f"<world-bounce-{n:04d}@mx.remote.example>"),
        *(extra or []),
    ]


def _expect(
    desc: str,
    subject: str,
    from_: tuple[str, str],
    rcpts: list[tuple[str, str, str]],
    *,
    kind: str = "bounce",
    mid: str | None = None,
    **more: object,
) -> dict[str, object]:
    e: dict[str, object] = {
        "description": desc,
        "kind": kind,
        "subject": subject,
        # An empty address ("Mail Delivery System <>") is no mailbox: the list is empty.
        "from": [{"name": from_[0], "address": from_[1]}] if from_[1] else [],
    }
    if kind == "bounce":
        e["bounce_recipients"] = [
            {"address": a, "action": act, "status": st} for a, act, st in rcpts
        ]
    if mid:
        e["classify"] = {"original_message_id": mid}
    e.update(more)
    return e


def _text(body: str) -> Part:
    if body.isascii():
        return text_part(body, "us-ascii", "7bit")
    return text_part(body, "utf-8", "quoted-printable")


def _prose(
    n: int,
    slug: str,
    desc: str,
    from_: tuple[str, str],
    from_header: str,
    subject: str,
    body: str,
    rcpts: list[tuple[str, str, str]],
    *,
    to: str,
    attach: bool = False,
    extra: list[tuple[str, str]] | None = None,
    kind: str = "bounce",
) -> Case:
    orig, mid = original(n, to)
    part = _text(body)
    if attach:
        part = multipart("mixed", f"----=_wb_{n:04d}", [part, raw_part("message/rfc822", orig)])
    e = _expect(desc, subject, from_, rcpts, kind=kind, mid=mid if attach else None)
    return slug, message(_top(n, from_header, subject, extra), part), e


def _inline(n: int, to: str) -> str:
    """The original quoted as text below a copy marker (LF line ends)."""
    return original(n, to)[0].decode().replace("\r\n", "\n")


def _report(
    n: int,
    slug: str,
    desc: str,
    notice: str,
    status: str,
    rcpts: list[tuple[str, str, str]],
    *,
    from_: tuple[str, str] = ("Mail Delivery System", "MAILER-DAEMON@mx.remote.example"),
    subject: str = "Undelivered Mail Returned to Sender",
    status_ctype: str = "message/delivery-status",
    container: str = "report",
    boundary_param: str | None = None,
    to: str | None = None,
) -> Case:
    """A delivery report; ``status`` is the status part's text (LF line ends)."""
    orig, mid = original(n, to or (rcpts[0][0] if rcpts else "nobody@example.org"))
    boundary = f"----=_report_{n:04d}"
    parts = [_text(notice)]
    if status:
        parts.append(raw_part(status_ctype, status.replace("\n", "\r\n").encode()))
    parts.append(raw_part("message/rfc822", orig))
    params = REPORT if container == "report" else ""
    body = multipart(container, boundary, parts, params=params)
    if boundary_param is not None:
        body.headers = [
            ("Content-Type", f'multipart/{container}; boundary="{boundary_param}"{params}')
        ]
    header = f"{from_[0]} <{from_[1]}>"
    e = _expect(desc, subject, from_, rcpts, mid=mid)
    return slug, message(_top(n, header, subject), body), e


def _dsn_block(address: str, action: str, status: str, diagnostic: str = "") -> str:
    out = f"Final-Recipient: rfc822; {address}\nAction: {action}\nStatus: {status}\n"
    return out + (f"Diagnostic-Code: smtp; {diagnostic}\n" if diagnostic else "")


PER_MESSAGE = "Reporting-MTA: dns; mx.remote.example\nArrival-Date: " + DATE.format(m=0) + "\n"


def dsn_cases() -> list[Case]:
    return [
        _report(
            0,
            "bounce-postfix-boundary-mismatch",
            "class 10: the boundary parameter matches no line; the parts are re-split and read",
            "This is the mail system at host mx.remote.example.\n\nI'm sorry to have to"
            " inform you that your message could not\nbe delivered to one or more"
            " recipients.\n",
            PER_MESSAGE + "\n" + _dsn_block("gone@example.org", "failed", "5.1.1"),
            [("gone@example.org", "failed", "5.1.1")],
            boundary_param="----=_report_WRONG",
        ),
        _report(
            1,
            "bounce-report-without-status-part",
            "class 10: multipart/report with no delivery-status part; the prose names the"
            " recipient",
            "This is the mail system at host mx.remote.example.\n\n<left@example.net>: host"
            " mx.example.net[192.0.2.30] said: 550 5.1.1 <left@example.net>: Recipient"
            " address rejected: User unknown (in reply to RCPT TO command)\n",
            "",
            [("left@example.net", "failed", "5.1.1")],
        ),
        _report(
            2,
            "bounce-status-per-message-only",
            "class 10: the status part has per-message fields only; the prose names the recipient",
            "** Address not found **\n\nYour message wasn't delivered to nobody.here@example.com"
            " because the address couldn't be found.\n\nThe response was:\n\n550 5.1.1 The"
            " email account that you tried to reach does not exist.\n",
            PER_MESSAGE,
            [("nobody.here@example.com", "failed", "5.1.1")],
            from_=("Mail Delivery Subsystem", "mailer-daemon@googlemail.com"),
            subject="Delivery Status Notification (Failure)",
        ),
        _report(
            3,
            "bounce-sendmail-status-generic-diagnostic-specific",
            "class 12: Status 5.0.0 gives way to 5.1.1 in Diagnostic-Code; 4.x diagnostic"
            " under 5.0.0 does not, but its words (mailbox full) give the detail: 5.2.2",
            "The original message was received at Mon, 4 Mar 2024 11:00:00 GMT\nfrom"
            " relay.help.example.com [192.0.2.1]\n\n   ----- The following addresses had"
            " permanent fatal errors -----\n<ann@example.org>\n<bob@example.org>\n",
            PER_MESSAGE
            + "\n"
            + _dsn_block("ann@example.org", "failed", "5.0.0", "550 5.1.1 <ann@example.org>...")
            + "\n"
            + _dsn_block("bob@example.org", "failed", "5.0.0", "452 4.2.2 Mailbox full"),
            [("ann@example.org", "failed", "5.1.1"), ("bob@example.org", "failed", "5.2.2")],
            from_=("Mail Delivery Subsystem", "MAILER-DAEMON@sendmail.remote.example"),
            subject="Returned mail: see transcript for details",
        ),
        _report(
            4,
            "bounce-dsn-nonstandard-actions",
            "class 13: Action failure / expired / undeliverable are failures",
            "Your message could not be delivered to some recipients.\n",
            PER_MESSAGE
            + "\n"
            + _dsn_block("one@example.org", "failure", "5.1.1")
            + "\n"
            + _dsn_block("two@example.org", "expired", "4.4.7")
            + "\n"
            + _dsn_block("three@example.org", "undeliverable", "5.2.1"),
            [
                ("one@example.org", "failed", "5.1.1"),
                ("two@example.org", "failed", "4.4.7"),
                ("three@example.org", "failed", "5.2.1"),
            ],
        ),
        _report(
            5,
            "bounce-dsn-groups-without-blank-line",
            "class 13: two recipient groups run together without a blank line",
            "Delivery has failed to these recipients or groups:\n\nfirst@example.org\n"
            "second@example.net\n",
            PER_MESSAGE
            + "\n"
            + "Original-Recipient: rfc822;first@example.org\n"
            + _dsn_block("first@example.org", "failed", "5.1.10")
            + "Original-Recipient: rfc822;second@example.net\n"
            + _dsn_block("second@example.net", "failed", "5.4.1"),
            [("first@example.org", "failed", "5.1.10"), ("second@example.net", "failed", "5.4.1")],
            from_=("Microsoft Outlook", "postmaster@remote.example"),
            subject="Undeliverable: Your ticket #1042",
        ),
        _report(
            6,
            "bounce-status-part-in-mixed",
            "class 11: a delivery-status part under multipart/mixed, no report container",
            "Your message could not be delivered.\n",
            PER_MESSAGE + "\n" + _dsn_block("mixed@example.org", "failed", "5.1.2"),
            [("mixed@example.org", "failed", "5.1.2")],
            container="mixed",
        ),
        _report(
            7,
            "bounce-global-delivery-status",
            "class 11: RFC 6533 message/global-delivery-status",
            "Your message could not be delivered.\n",
            PER_MESSAGE
            + "\n"
            + "Final-Recipient: rfc822; global@example.org\nAction: failed\nStatus: 5.1.1\n",
            [("global@example.org", "failed", "5.1.1")],
            status_ctype="message/global-delivery-status",
        ),
        _report(
            8,
            "delay-dsn-exchange-relayed",
            "class 15: a relayed/delivered success report is kind bounce, nobody failed",
            "Delivery to these recipients or groups is complete, but no delivery notification"
            " was sent by the destination server:\n\nrelay.me@example.org\n",
            PER_MESSAGE + "\n" + _dsn_block("relay.me@example.org", "relayed", "2.0.0"),
            [("relay.me@example.org", "relayed", "2.0.0")],
            from_=("Microsoft Outlook", "postmaster@remote.example"),
            subject="Relayed: Your ticket #1042",
        ),
    ]


def _wrapped() -> Case:
    """class 11: a relay's daemon wraps the DSN it received as message/rfc822."""
    _, inner, _ = _report(
        9,
        "inner",
        "",
        "Your message could not be delivered.\n",
        PER_MESSAGE + "\n" + _dsn_block("deep@example.org", "failed", "5.1.1"),
        [("deep@example.org", "failed", "5.1.1")],
    )
    body = multipart(
        "mixed",
        "----=_wrap_0009",
        [
            _text("The attached delivery report was returned to the relay.\n"),
            raw_part("message/rfc822", inner),
        ],
    )
    subject = "Returned mail: relay notice"
    from_ = ("Mail Delivery System", "MAILER-DAEMON@relay.remote.example")
    e = _expect(
        "class 11: a relay daemon attaches the DSN it got; the inner report is read",
        subject,
        from_,
        [("deep@example.org", "failed", "5.1.1")],
        mid=original(9, "deep@example.org")[1],
    )
    return "bounce-relay-wraps-dsn", message(_top(9, f"{from_[0]} <{from_[1]}>", subject), body), e


def prose_cases() -> list[Case]:
    exim_body = (
        "This message was created automatically by mail delivery software.\n\n"
        "A message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a permanent error. The following address(es) failed:\n\n"
        "  final.box@example.org\n    (generated from sales@example.org)\n"
        "    host mx.example.org [192.0.2.40]\n"
        "    SMTP error from remote mail server after RCPT TO:<final.box@example.org>:\n"
        "    550 5.1.1 No such mailbox\n"
        "  full.box@example.net\n    host mx.example.net [192.0.2.41]\n"
        "    SMTP error from remote mail server after end of data:\n"
        "    552 5.2.2 Quota exceeded\n\n"
        "If you need help, contact helpdesk@isp.example.com.\n\n"
        "------ This is a copy of the message, including all the headers. ------\n\n"
        + _inline(10, "final.box@example.org")
    )
    ndr2003 = (
        "Your message did not reach some or all of the intended recipients.\n\n"
        "      Subject:\tYour ticket #1042\n"
        "      Sent:\t3/4/2024 11:00 AM\n\n"
        "The following recipient(s) could not be reached:\n\n"
        "      'gone.user@example.org' on 3/4/2024 11:00 AM\n"
        "            The e-mail account does not exist at the organization this message"
        " was sent to.\n"
        "            <mx.example.org #5.1.1 smtp;550 5.1.1 User unknown>\n\n"
        "      SMTP=other.user@example.org on 3/4/2024 11:00 AM\n"
        "            The recipient's mailbox is full.\n"
        "            <mx.example.org #5.2.2>\n"
    )
    domino = (
        "Your message\n\n  Subject: Your ticket #1042\n  Sent: 03/04/2024 11:00:00 AM\n"
        "  To: anna.b@notes.example.org\n  Cc: carl.d@notes.example.org\n\n"
        "was not delivered to:\n\n  anna.b@notes.example.org\n\nbecause:\n\n"
        "  User anna.b (anna.b@notes.example.org) not listed in Domino Directory\n"
    )
    groupwise = (
        "The message that you sent was undeliverable to the following:\n"
        "\tleft.company@gw.example.org (user not found)\n\nPossible causes:\n"
        "  The e-mail address was misspelled.\n  The user no longer has an account.\n\n"
        "For help, contact the administrator at gwadmin@gw.example.org.\n\n"
        "Original message follows:\n\n" + _inline(13, "left.company@gw.example.org")
    )
    aol = (
        "The original message was received at Mon, 4 Mar 2024 06:00:00 -0500\n"
        "from relay.help.example.com [192.0.2.1]\n\n"
        "   ----- The following addresses had permanent fatal errors -----\n"
        "<screenname@aol.example.com>\n    (reason: 550 MAILBOX NOT FOUND)\n\n"
        "   ----- Transcript of session follows -----\n"
        "... while talking to mailin-01.mx.aol.example.com.:\n"
        ">>> MAIL From:<bounces+abc@help.example.com> SIZE=1234\n<<< 250 OK\n"
        ">>> RCPT To:<screenname@aol.example.com>\n<<< 550 MAILBOX NOT FOUND\n"
        "550 5.1.1 <screenname@aol.example.com>... User unknown\n"
    )
    yahoo = (
        "Sorry, we were unable to deliver your message to the following address.\n\n"
        "<old.name@yahoo.example.com>:\n"
        "554: delivery error: dd Not a valid recipient - atlas104.free.mail.ne1.yahoo.com\n\n"
        "--- Below this line is a copy of the message.\n\n"
        + _inline(15, "old.name@yahoo.example.com").replace(
            "To: <old.name@yahoo.example.com>",
            "To: <old.name@yahoo.example.com>\nCc: colleague@example.net",
        )
    )
    return [
        _prose(
            10,
            "bounce-exim-generated-from-and-contact",
            "class 8/9: Exim; X-Failed-Recipients lists both; the alias and the help-desk"
            " address are not recipients",
            ("Mail Delivery System", "Mailer-Daemon@mail.remote.example"),
            "Mail Delivery System <Mailer-Daemon@mail.remote.example>",
            "Mail delivery failed: returning message to sender",
            exim_body,
            [
                ("final.box@example.org", "failed", "5.1.1"),
                ("full.box@example.net", "failed", "5.2.2"),
            ],
            to="final.box@example.org",
            extra=[("X-Failed-Recipients", "final.box@example.org, full.box@example.net")],
        ),
        _prose(
            11,
            "bounce-exchange-2003-ndr",
            "class 8: Exchange 2003 NDR; quoted address and SMTP= prefix stripped",
            ("System Administrator", "postmaster@exchange.remote.example"),
            "System Administrator <postmaster@exchange.remote.example>",
            "Undeliverable: Your ticket #1042",
            ndr2003,
            [
                ("gone.user@example.org", "failed", "5.1.1"),
                ("other.user@example.org", "failed", "5.2.2"),
            ],
            to="gone.user@example.org",
            attach=True,
        ),
        _prose(
            12,
            "bounce-lotus-domino",
            "class 7/8: Lotus Domino from Postmaster@; the quoted To/Cc summary is not the list",
            ("", "Postmaster@notes.example.org"),
            "Postmaster@notes.example.org",
            "DELIVERY FAILURE: User anna.b not listed in Domino Directory",
            domino,
            [("anna.b@notes.example.org", "failed", "5.1.1")],
            to="anna.b@notes.example.org",
            attach=True,
        ),
        _prose(
            13,
            "bounce-groupwise",
            "class 7/8: GroupWise from a daemon name with an empty address; 'Original message"
            " follows' marker; the admin contact is not a recipient",
            ("Mail Delivery System", ""),
            "Mail Delivery System <>",
            "Message status - undeliverable",
            groupwise,
            [("left.company@gw.example.org", "failed", "5.1.1")],
            to="left.company@gw.example.org",
        ),
        _prose(
            14,
            "bounce-aol-sendmail",
            "class 7/8: AOL (sendmail) with a transcript; MAIL FROM is not a recipient",
            ("Mail Delivery Subsystem", "MAILER-DAEMON@aol.example.com"),
            "Mail Delivery Subsystem <MAILER-DAEMON@aol.example.com>",
            "Returned mail: see transcript for details",
            aol,
            [("screenname@aol.example.com", "failed", "5.1.1")],
            to="screenname@aol.example.com",
            attach=True,
        ),
        _prose(
            15,
            "bounce-yahoo-copy-with-cc",
            "class 8: Yahoo; the copied original's To/Cc are below the marker",
            ("", "MAILER-DAEMON@yahoo.example.com"),
            "MAILER-DAEMON@yahoo.example.com",
            "Failure Notice",
            yahoo,
            [("old.name@yahoo.example.com", "failed", "5.0.0")],
            to="old.name@yahoo.example.com",
        ),
        _prose(
            16,
            "bounce-exchange-de",
            "class 7: German Exchange NDR from MicrosoftExchange<hex>@",
            (
                "Microsoft Outlook",
                "MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@firma.example",
            ),
            "Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@firma.example>",
            "Unzustellbar: Ihr Ticket #1042",
            "Die Zustellung an folgende Empfänger oder Gruppen ist fehlgeschlagen:\n\n"
            "weg@firma.example\nDie eingegebene E-Mail-Adresse wurde nicht gefunden.\n\n"
            "Diagnoseinformationen für Administratoren:\n\nGenerierender Server:"
            " EX01.firma.example\n\nweg@firma.example\nRemote Server returned '550 5.1.1"
            " RESOLVER.ADR.RecipNotFound; not found'\n",
            [("weg@firma.example", "failed", "5.1.1")],
            to="weg@firma.example",
            attach=True,
        ),
        _prose(
            17,
            "bounce-exchange-fr",
            "class 7: French NDR ('La remise … a échoué')",
            ("Microsoft Outlook", "postmaster@entreprise.example"),
            "Microsoft Outlook <postmaster@entreprise.example>",
            "Non remis : Votre ticket #1042",
            "La remise aux destinataires ou groupes suivants a échoué :\n\n"
            "absent@entreprise.example\nL'adresse de messagerie que vous avez entrée est"
            " introuvable.\n\nDiagnostic pour les administrateurs :\n\nabsent@entreprise.example\n"
            "Remote Server returned '550 5.1.1 RESOLVER.ADR.RecipNotFound'\n",
            [("absent@entreprise.example", "failed", "5.1.1")],
            to="absent@entreprise.example",
            attach=True,
        ),
        _prose(
            18,
            "bounce-exchange-es",
            "class 7: Spanish NDR ('Error en la entrega')",
            ("Microsoft Outlook", "postmaster@empresa.example"),
            "Microsoft Outlook <postmaster@empresa.example>",
            "No se puede entregar: Su ticket #1042",
            "Error en la entrega a estos destinatarios o grupos:\n\n"
            "nadie@empresa.example\nNo se encontró la dirección de correo electrónico.\n\n"
            "Información de diagnóstico para administradores:\n\nnadie@empresa.example\n"
            "Remote Server returned '550 5.1.1 RESOLVER.ADR.RecipNotFound'\n",
            [("nadie@empresa.example", "failed", "5.1.1")],
            to="nadie@empresa.example",
            attach=True,
        ),
        _prose(
            19,
            "bounce-exchange-pt",
            "class 7: Portuguese NDR ('Falha na entrega')",
            ("Microsoft Outlook", "postmaster@empresa.example.br"),
            "Microsoft Outlook <postmaster@empresa.example.br>",
            "Não é possível entregar: Seu chamado #1042",
            "Falha na entrega para estes destinatários ou grupos:\n\n"
            "ninguem@empresa.example.br\nO endereço de email não foi encontrado.\n\n"
            "Informações de diagnóstico para administradores:\n\nninguem@empresa.example.br\n"
            "Remote Server returned '550 5.1.1 RESOLVER.ADR.RecipNotFound'\n",
            [("ninguem@empresa.example.br", "failed", "5.1.1")],
            to="ninguem@empresa.example.br",
            attach=True,
        ),
        _prose(
            20,
            "bounce-163-zh-hint",
            "class 7: 163 from postmaster@ with '无法送达' wording; the contact line is skipped",
            ("", "postmaster@163.example.com"),
            "postmaster@163.example.com",
            "系统退信",
            "您好，您发送的邮件无法送达以下收件人：\n\n  lost.user@163.example.com\n\n"
            "原因：550 User not found: lost.user@163.example.com\n\n"
            "如有疑问，请联系 kefu@163.example.com\n",
            [("lost.user@163.example.com", "failed", "5.1.1")],
            to="lost.user@163.example.com",
        ),
        _prose(
            21,
            "bounce-japanese",
            "class 7: Japanese daemon bounce ('配信できませんでした')",
            ("Mail Delivery System", "MAILER-DAEMON@mx.example.jp"),
            "Mail Delivery System <MAILER-DAEMON@mx.example.jp>",
            "配信エラー: Your ticket #1042",
            "次の宛先へのメッセージは配信できませんでした。\n\n  inai@example.jp\n"
            "  550 5.1.1 ユーザーが存在しません\n\n----- 元のメッセージ -----\n\n"
            + _inline(21, "inai@example.jp"),
            [("inai@example.jp", "failed", "5.1.1")],
            to="inai@example.jp",
        ),
        _prose(
            22,
            "bounce-russian",
            "class 7: Russian daemon bounce ('не может быть доставлено')",
            ("", "MAILER-DAEMON@mx.example.ru"),
            "MAILER-DAEMON@mx.example.ru",
            "Сообщение не доставлено",
            "Ваше сообщение не может быть доставлено следующим получателям:\n\n"
            "  net.takogo@example.ru\n    550 5.1.1 Нет такого пользователя\n\n"
            "----- Исходное сообщение -----\n\n" + _inline(22, "net.takogo@example.ru"),
            [("net.takogo@example.ru", "failed", "5.1.1")],
            to="net.takogo@example.ru",
        ),
        _prose(
            23,
            "delay-sendmail-warning",
            "class 15: sendmail's 'WARNING MESSAGE ONLY' delay: kind bounce, delayed",
            ("Mail Delivery Subsystem", "MAILER-DAEMON@sendmail.remote.example"),
            "Mail Delivery Subsystem <MAILER-DAEMON@sendmail.remote.example>",
            "Warning: could not send message for past 4 hours",
            "    **********************************************\n"
            "    **      THIS IS A WARNING MESSAGE ONLY      **\n"
            "    **  YOU DO NOT NEED TO RESEND YOUR MESSAGE  **\n"
            "    **********************************************\n\n"
            "The original message was received at Mon, 4 Mar 2024 07:00:00 GMT\n\n"
            "   ----- Transcript of session follows -----\n"
            "<slow.host@example.org>... Deferred: 421 4.4.2 Connection timed out\n"
            "Warning: message still undelivered after 4 hours\n"
            "Will keep trying until message is 5 days old\n",
            [("slow.host@example.org", "delayed", "4.4.2")],
            to="slow.host@example.org",
        ),
    ]


def _ses(n: int, slug: str, desc: str, note: dict[str, object], expect: dict[str, object]) -> Case:
    subject = "AWS Notification Message"
    from_ = ("AWS Notifications", "no-reply@sns.amazonaws.com")
    top = _top(n, f"{from_[0]} <{from_[1]}>", subject)[1:]  # SNS sends with a real sender
    body = text_part(json.dumps(note, indent=2) + "\n", "utf-8", "7bit")
    e = {"description": desc, "subject": subject, "from": [{"name": from_[0], "address": from_[1]}]}
    e.update(expect)
    return slug, message(top, body), e


SES_MAIL = {
    "timestamp": "2024-03-04T11:00:00.000Z",
    "source": "support@help.example.com",
    "sourceArn": "arn:aws:ses:eu-west-1:123456789012:identity/help.example.com",
    "messageId": "0102018e0f0c0000-ses-0000",
    "destination": ["ses.gone@example.org", "ses.full@example.net"],
    "headersTruncated": False,
    "commonHeaders": {
        "from": ["Acme Support <support@help.example.com>"],
        "to": ["ses.gone@example.org", "ses.full@example.net"],
        "messageId": "<out-0030.7f3a@help.example.com>",
        "subject": "Your ticket #1042",
    },
}


def ses_cases() -> list[Case]:
    bounce = {
        "notificationType": "Bounce",
        "bounce": {
            "feedbackId": "0102018e-feedback-0001",
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [
                {
                    "emailAddress": "ses.gone@example.org",
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                },
                {"emailAddress": "ses.full@example.net"},
            ],
            "timestamp": "2024-03-04T11:00:05.000Z",
            "reportingMTA": "dsn; a1-2.smtp-out.eu-west-1.amazonses.com",
        },
        "mail": SES_MAIL,
    }
    complaint = {
        "notificationType": "Complaint",
        "complaint": {
            "feedbackId": "0102018e-feedback-0002",
            "complainedRecipients": [{"emailAddress": "ses.angry@example.org"}],
            "complaintFeedbackType": "abuse",
            "userAgent": "ExampleISP Feedback Loop (V0.01)",
            "timestamp": "2024-03-04T12:00:00.000Z",
        },
        "mail": SES_MAIL,
    }
    transient = {
        "bounceType": "Transient",
        "bounceSubType": "MailboxFull",
        "bouncedRecipients": [{"emailAddress": "ses.later@example.org"}],
        "timestamp": "2024-03-04T11:00:05.000Z",
    }
    sns = {
        "Type": "Notification",
        "MessageId": "4a0c6a1e-0000-5000-8000-000000000032",
        "TopicArn": "arn:aws:sns:eu-west-1:123456789012:ses-bounces",
        "Message": json.dumps(
            {"notificationType": "Bounce", "bounce": transient, "mail": SES_MAIL}
        ),
        "Timestamp": "2024-03-04T11:00:06.000Z",
    }
    mid = "out-0030.7f3a@help.example.com"
    return [
        _ses(
            30,
            "bounce-amazon-ses-json",
            "class 14: SES bounce notification (email subscription, raw JSON body)",
            bounce,
            {
                "kind": "bounce",
                "bounce_recipients": [
                    {"address": "ses.gone@example.org", "action": "failed", "status": "5.1.1"},
                    {"address": "ses.full@example.net", "action": "failed", "status": "5.0.0"},
                ],
                "classify": {"original_message_id": mid},
            },
        ),
        _ses(
            31,
            "complaint-amazon-ses-json",
            "class 14: SES complaint notification",
            complaint,
            {
                "kind": "complaint",
                "classify": {
                    "original_message_id": mid,
                    "complaint": {
                        "original_rcpt_to": "ses.angry@example.org",
                        "feedback_type": "abuse",
                    },
                },
            },
        ),
        _ses(
            32,
            "bounce-amazon-ses-sns-transient",
            "class 14: SES transient bounce inside the SNS e-mail-json envelope: 4.0.0",
            sns,
            {
                "kind": "bounce",
                "bounce_recipients": [
                    {"address": "ses.later@example.org", "action": "failed", "status": "4.0.0"}
                ],
            },
        ),
    ]


def mdn_case() -> Case:
    """class 16: a daemon's MDN saying the message was deleted is a rejection."""
    n = 33
    orig, mid = original(n, "rules@example.org")
    head = orig.split(b"\r\n\r\n", 1)[0] + b"\r\n"
    fields = (
        "Reporting-UA: mx.remote.example; Transport Rules Agent\r\n"
        "Final-Recipient: rfc822; rules@example.org\r\n"
        f"Original-Message-ID: <{mid}>\r\n"
        "Disposition: automatic-action/MDN-sent-automatically; deleted\r\n"
    ).encode()
    body = multipart(
        "report",
        f"----=_mdn_{n:04d}",
        [
            _text("Your message was deleted without being read by a server rule.\n"),
            raw_part("message/disposition-notification", fields),
            raw_part("text/rfc822-headers", head),
        ],
        params="; report-type=disposition-notification",
    )
    subject = "Not read: Your ticket #1042"
    from_ = ("", "MAILER-DAEMON@mx.remote.example")
    e = _expect(
        "class 16: automatic-action …; deleted from a daemon: the recipient failed",
        subject,
        from_,
        [("rules@example.org", "failed", "5.0.0")],
        mid=mid,
    )
    return "bounce-mdn-deleted-by-daemon", message(_top(n, from_[1], subject), body), e


def not_bounce_cases() -> list[Case]:
    """Wording without a daemon, a person forwarding an NDR: ordinary mail."""
    top = [
        ("Date", DATE.format(m=34)),
        ("From", '"Jane Roe" <jane.roe@customer.example>'),
        ("To", SENDER),
        ("Subject", "My mail could not be delivered"),
        ("Message-ID", "<world-bounce-0034@customer.example>"),
    ]
    body = _text(
        "Hello,\n\nmy order confirmation could not be delivered to the following address:"
        " jane.roe@old-isp.example. Please use this one from now on.\n\nJane\n"
    )
    e = {
        "description": "a customer using bounce wording is not a bounce",
        "kind": "normal",
        "subject": "My mail could not be delivered",
        "from": [{"name": "Jane Roe", "address": "jane.roe@customer.example"}],
        "bounce": None,
    }
    return [("normal-customer-mentions-undelivered", message(top, body), e)]


def more_prose_cases() -> list[Case]:
    """QQ Mail's labelled summary, Postfix's "expanded from" alias."""
    qq = (
        "您的邮件未能送达以下收件人，系统已退回。\n\n"
        "收件人地址：nobody.qq@qq.example.com\n退信原因：550 Mailbox not found.\n\n"
        "------------------ 原始邮件 ------------------\n"
        "发件人：Acme Support <support@help.example.com>\n"
        "收件人：nobody.qq@qq.example.com; cc.person@example.net\n主题：Your ticket #1042\n"
    )
    postfix = (
        "This is the mail system at host mx.remote.example.\n\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients. It's attached below.\n\n"
        "For further assistance, please send mail to postmaster.\n\n"
        "                   The mail system\n\n"
        "<real.box@example.org> (expanded from <team@example.org>): host"
        " mx.example.org[192.0.2.50] said: 550 5.1.1 <real.box@example.org>:"
        " Recipient address rejected: User unknown in local recipient table"
        " (in reply to RCPT TO command)\n"
    )
    return [
        _prose(
            35,
            "bounce-qq-labelled-summary",
            "class 7/8: QQ Mail's '收件人地址' summary line is the list; the quoted original's"
            " 收件人 (To) with a Cc below the marker is not",
            ("QQ邮箱", "PostMaster@qq.example.com"),
            "=?utf-8?B?UVHpgq7nrrE=?= <PostMaster@qq.example.com>",
            "退信：Your ticket #1042",
            qq,
            [("nobody.qq@qq.example.com", "failed", "5.1.1")],
            to="nobody.qq@qq.example.com",
        ),
        _prose(
            36,
            "bounce-postfix-expanded-from",
            "class 8: Postfix prose (no DSN); the alias it was expanded from is not a recipient",
            ("Mail Delivery System", "MAILER-DAEMON@mx.remote.example"),
            "MAILER-DAEMON@mx.remote.example (Mail Delivery System)",
            "Undelivered Mail Returned to Sender",
            postfix,
            [("real.box@example.org", "failed", "5.1.1")],
            to="team@example.org",
            attach=True,
        ),
    ]


def smtpd_cases() -> list[Case]:
    """OpenSMTPD's and Courier's own prose."""
    opensmtpd = (
        "Hi!\n\nThis is the MAILER-DAEMON, please DO NOT REPLY to this e-mail.\n\n"
        "An error has occurred while attempting to deliver a message for\n"
        "the following list of recipients:\n\n"
        "nobody.smtpd@example.org: 550 5.1.1 <nobody.smtpd@example.org>: user unknown\n\n"
        "Below is a copy of the original message:\n\n" + _inline(37, "nobody.smtpd@example.org")
    )
    courier = (
        "This is a delivery status notification from mx.remote.example,\n"
        "running the Courier mail server, version 1.1.\n\n"
        "The original message was received on Mon, 4 Mar 2024 11:38:00 +0000\n"
        "from relay.help.example.com [192.0.2.1]\n\n"
        "<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<\n"
        "                        UNDELIVERABLE MAIL\n"
        ">>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>\n\n"
        "Your message to the following recipients cannot be delivered:\n\n"
        "<no.one@example.org>:\n    mx.example.org [192.0.2.9]:\n"
        ">>> RCPT TO:<no.one@example.org>\n"
        "<<< 550 5.1.1 <no.one@example.org>... User Unknown\n"
    )
    return [
        _prose(
            37,
            "bounce-opensmtpd",
            "class 7/8: OpenSMTPD's notice ('error has occurred while attempting to deliver');"
            " the copy below 'Below is a copy of the original message' is not the list",
            ("Mailer Daemon", "MAILER-DAEMON@smtpd.remote.example"),
            "Mailer Daemon <MAILER-DAEMON@smtpd.remote.example>",
            "Delivery status notification: error",
            opensmtpd,
            [("nobody.smtpd@example.org", "failed", "5.1.1")],
            to="nobody.smtpd@example.org",
        ),
        _prose(
            38,
            "bounce-courier-prose",
            "class 7: Courier from '<@>' with a daemon name and a null Return-Path",
            ("Courier mail server at mx.remote.example", ""),
            "Courier mail server at mx.remote.example <@>",
            "NOTICE: mail delivery status.",
            courier,
            [("no.one@example.org", "failed", "5.1.1")],
            to="no.one@example.org",
        ),
    ]


def cases() -> list[Case]:
    return [
        *dsn_cases(),
        _wrapped(),
        *prose_cases(),
        *ses_cases(),
        mdn_case(),
        *not_bounce_cases(),
        *more_prose_cases(),
        *smtpd_cases(),
    ]
