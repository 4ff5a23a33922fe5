"""Bounces shaped like real servers' (issue 11, classes 7–16), through ``parse_message``.

Every message here is written for this file from the formats' documentation
(RFC 3464, RFC 6533, RFC 3798, the Amazon SES notification contents) and from
what Exim, Postfix, Sendmail, qmail, Exchange, Lotus Domino, GroupWise, Yahoo,
AOL and QQ/163 write in their bounces.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from mailgate.core.dsn import refine_status
from mailgate.core.parse import ParsedMessage, parse_message

US = "support@help.example.com"
ORIGINAL = (
    "X-Mailgate-Id: ws_1." + "a" * 32 + "\n"
    "From: Support <support@help.example.com>\n"
    "To: Customer <gone@example.org>\n"
    "Cc: Other Person <cc.person@example.net>\n"
    "Subject: Your ticket #77\n"
    "Message-ID: <ticket-77@help.example.com>\n"
    "Date: Fri, 01 Mar 2024 09:00:00 +0000\n"
)


def mail(headers: str, body: str, *, ctype: str = 'text/plain; charset="utf-8"') -> bytes:
    """A message: header lines, a Content-Type, a blank line and the body (CRLF line ends)."""
    head = headers.strip("\n") + f"\nMIME-Version: 1.0\nContent-Type: {ctype}\n"
    text = head + "\n" + body
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def daemon(subject: str = "Undelivered Mail", sender: str = "MAILER-DAEMON@mx.example.org") -> str:
    return f"Return-Path: <>\nFrom: {sender}\nTo: {US}\nSubject: {subject}\n"


def failed(parsed: ParsedMessage) -> list[tuple[str, str]]:
    assert parsed.bounce is not None, (parsed.kind, parsed.errors)
    return [(r["address"].lower(), r["status"]) for r in parsed.bounce["recipients"]]


def addresses(parsed: ParsedMessage) -> list[str]:
    return [a for a, _ in failed(parsed)]


def report(status_blocks: str, *, ctype: str = "message/delivery-status", extra: str = "") -> str:
    """The body of a multipart/report with boundary "RPT"."""
    return (
        "--RPT\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n"
        f"--RPT\nContent-Type: {ctype}\n\n{status_blocks.strip()}\n\n"
        f"{extra}--RPT\nContent-Type: text/rfc822-headers\n\n{ORIGINAL}\n--RPT--\n"
    )


REPORT_TYPE = 'multipart/report; report-type=delivery-status; boundary="RPT"'


# --- class 7: prose bounces recognised by one hint plus wording -------------------------

PROSE = {
    "domino": (
        "From: Postmaster@notes.example.org\nTo: support@help.example.com\n"
        "Subject: DELIVERY FAILURE: User gone (gone@example.org) not listed in Domino Directory\n",
        "Your message\n\n  Subject: Your ticket #77\n\nwas not delivered to:\n\n"
        "  gone@example.org\n\nbecause:\n\n"
        "  User gone (gone@example.org) not listed in Domino Directory\n",
        [("gone@example.org", "5.1.1")],
    ),
    "groupwise": (
        "From: Mail Delivery System <>\nTo: support@help.example.com\n"
        "Subject: Message status - undeliverable\n",
        "The message that you sent was undeliverable to the following:\n"
        "\tgone@example.org (user not found)\n\nPossible causes:\n"
        "The e-mail address is misspelled or the recipient's mailbox does not exist.\n",
        [("gone@example.org", "5.1.1")],
    ),
    "aol-sendmail": (
        "Return-Path: <>\nFrom: Mail Delivery Subsystem <MAILER-DAEMON@aol.example.com>\n"
        "To: support@help.example.com\nSubject: Returned mail: see transcript for details\n",
        "The original message was received at Fri, 1 Mar 2024 10:00:00 -0500\n"
        "from relay.help.example.com [192.0.2.10]\n\n"
        "   ----- The following addresses had permanent fatal errors -----\n"
        "<gone@aol.example.com>\n    (reason: 550 MAILBOX NOT FOUND)\n\n"
        "   ----- Transcript of session follows -----\n"
        "... while talking to mailin.aol.example.com.:\n"
        ">>> MAIL From:<bounces+x@help.example.com>\n<<< 250 OK\n"
        ">>> RCPT To:<gone@aol.example.com>\n<<< 550 MAILBOX NOT FOUND\n",
        [("gone@aol.example.com", "5.1.1")],
    ),
    "exchange-german": (
        "From: Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e"
        "@firma.example.de>\nTo: support@help.example.com\nSubject: Unzustellbar: Ticket\n",
        "Die Zustellung an folgende Empfänger oder Gruppen ist fehlgeschlagen:\n\n"
        "weg@firma.example.de\nDie eingegebene E-Mail-Adresse wurde nicht gefunden.\n\n"
        "Diagnoseinformationen für Administratoren:\n\nRemote Server returned "
        "'550 5.1.1 RESOLVER.ADR.RecipNotFound; not found'\n",
        [("weg@firma.example.de", "5.1.1")],
    ),
    "french": (
        "Return-Path: <>\nFrom: MAILER-DAEMON@mx.exemple.fr\nTo: support@help.example.com\n"
        "Subject: Echec de distribution\n",
        "Votre message n'a pas pu être remis aux destinataires suivants :\n\n"
        "  parti@exemple.fr\n    550 5.1.1 Adresse inconnue\n",
        [("parti@exemple.fr", "5.1.1")],
    ),
    "spanish": (
        "From: Mail Delivery System <MAILER-DAEMON@correo.ejemplo.es>\n"
        "To: support@help.example.com\nSubject: Mensaje no entregado\n",
        "No se pudo entregar el mensaje a los siguientes destinatarios:\n\n"
        "  ido@ejemplo.es\n    552 5.2.2 Buzón lleno\n",
        [("ido@ejemplo.es", "5.2.2")],
    ),
    "portuguese": (
        "From: MAILER-DAEMON@mail.exemplo.com.br\nTo: support@help.example.com\n"
        "Subject: Mensagem devolvida\n",
        "A mensagem não pôde ser entregue aos seguintes destinatários:\n\n"
        "  saiu@exemplo.com.br\n    550 5.1.1 Usuário desconhecido\n",
        [("saiu@exemplo.com.br", "5.1.1")],
    ),
    "chinese-163": (
        "From: postmaster@163.example.com\nTo: support@help.example.com\nSubject: 系统退信\n",
        "您好，您发送的邮件无法送达以下收件人：\n\n  lost@163.example.com\n\n"
        "原因：550 User not found\n",
        [("lost@163.example.com", "5.1.1")],
    ),
    "japanese": (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.jp>\n"
        "To: support@help.example.com\nSubject: 配信エラー\n",
        "次の宛先へメッセージを配信できませんでした。\n\n  inai@example.jp\n"
        "  550 5.1.1 ユーザーが存在しません\n",
        [("inai@example.jp", "5.1.1")],
    ),
    "russian": (
        "From: MAILER-DAEMON@mx.example.ru\nTo: support@help.example.com\n"
        "Subject: Сообщение не доставлено\n",
        "Ваше сообщение не может быть доставлено следующим получателям:\n\n"
        "  net@example.ru\n    550 5.1.1 Нет такого пользователя\n",
        [("net@example.ru", "5.1.1")],
    ),
    "yahoo": (
        "From: MAILER-DAEMON@yahoo.example.com\nTo: support@help.example.com\n"
        "Subject: Failure Notice\n",
        "Sorry, we were unable to deliver your message to the following address.\n\n"
        "<old.user@yahoo.example.com>:\n554: delivery error: dd Not a valid recipient\n",
        [("old.user@yahoo.example.com", "5.0.0")],
    ),
    "unable-to-deliver": (
        "From: Mail.Delivery.System@relay.example.com\nTo: support@help.example.com\n"
        "Subject: Notice\n",
        "Unable to deliver message to <away@example.com>: 550 5.7.1 relaying denied\n",
        [("away@example.com", "5.7.1")],
    ),
    "opensmtpd": (
        "From: Mailer Daemon <MAILER-DAEMON@smtpd.example.org>\nTo: support@help.example.com\n"
        "Subject: Delivery status notification: error\n",
        "Hi!\n\nThis is the MAILER-DAEMON, please DO NOT REPLY to this e-mail.\n\n"
        "An error has occurred while attempting to deliver a message for\n"
        "the following list of recipients:\n\nnobody@example.org: 550 5.1.1 user unknown\n\n"
        "Below is a copy of the original message:\n\nTo: other@example.net\n",
        [("nobody@example.org", "5.1.1")],
    ),
    "courier": (
        "Return-Path: <>\nFrom: Courier mail server at mx.example.org <@>\n"
        "To: support@help.example.com\nSubject: NOTICE: mail delivery status.\n",
        "This is a delivery status notification from mx.example.org,\n"
        "running the Courier mail server.\n\n"
        "Your message to the following recipients cannot be delivered:\n\n"
        "<no.one@example.org>:\n    mx.example.org [192.0.2.9]:\n"
        ">>> RCPT TO:<no.one@example.org>\n<<< 550 5.1.1 <no.one@example.org>... User Unknown\n",
        [("no.one@example.org", "5.1.1")],
    ),
    "mcafee": (
        "From: postmaster@gateway.example.com\nTo: support@help.example.com\n"
        "Subject: Delivery Status Notification\n",
        "--- The following addresses had delivery problems ---\n\n"
        "<unknown.rcpt@example.com>   (Permanent error)\n\n"
        "550 5.1.1 <unknown.rcpt@example.com>... User unknown\n",
        [("unknown.rcpt@example.com", "5.1.1")],
    ),
    "daemon-name-only": (
        "From: MAILER-DAEMON\nTo: support@help.example.com\nSubject: Notice\n",
        "This message did not reach the following recipient(s):\n\n  x.y@example.com\n",
        [("x.y@example.com", "5.0.0")],
    ),
}


@pytest.mark.parametrize("name", sorted(PROSE))
def test_prose_bounce_recognised_by_hint_and_wording(name: str) -> None:
    """A daemon sender plus bounce wording (eight languages) makes a bounce with its recipient."""
    headers, body, want = PROSE[name]
    parsed = parse_message(mail(headers, body))
    assert parsed.kind == "bounce", (name, parsed.errors)
    assert failed(parsed) == want


def test_wording_without_a_daemon_hint_is_ordinary_mail() -> None:
    """A person writing "could not be delivered to the following" is not a bounce."""
    headers = f"From: Jane <jane@example.org>\nTo: {US}\nSubject: Question\n"
    body = "Hi, my mail could not be delivered to the following address: bob@example.com\n"
    assert parse_message(mail(headers, body)).kind == "normal"


def test_postmaster_without_bounce_wording_is_ordinary_mail() -> None:
    """postmaster@ writing about maintenance is a hint only; with no wording it stays normal."""
    headers = f"From: Postmaster <postmaster@example.org>\nTo: {US}\nSubject: Maintenance\n"
    body = "The mail server will be down tonight. Write to it@example.org with questions.\n"
    parsed = parse_message(mail(headers, body))
    assert parsed.kind == "normal"
    assert parsed.bounce is None


def test_person_forwarding_a_bounce_is_not_one() -> None:
    """ "Fwd: Undeliverable" from a person quotes a bounce's wording; it is still their mail."""
    headers = f"From: Jane <jane@example.org>\nTo: {US}\nSubject: Fwd: Undeliverable\n"
    body = "FYI\n\nDelivery has failed to these recipients or groups:\n\nbob@example.com\n"
    assert parse_message(mail(headers, body)).kind == "normal"


# --- class 8: recipients from the failure list only ----------------------------------


def test_exim_generated_from_and_contact_addresses_are_not_recipients() -> None:
    """Only the failed address; the alias it was generated from and the contact are not."""
    body = (
        "This message was created automatically by mail delivery software.\n\n"
        "A message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a permanent error. The following address(es) failed:\n\n"
        "  final.box@example.org\n    (generated from sales@example.org)\n"
        "    SMTP error from remote mail server after RCPT TO:<final.box@example.org>:\n"
        "    550 5.1.1 No such mailbox\n\n"
        "If you need help, contact helpdesk@isp.example.net.\n\n"
        "------ This is a copy of the message, including all the headers. ------\n\n"
        f"{ORIGINAL}\nHello.\n"
    )
    parsed = parse_message(mail(daemon("Mail delivery failed"), body))
    assert failed(parsed) == [("final.box@example.org", "5.1.1")]
    assert parsed.classification.original_message_id == "ticket-77@help.example.com"


def test_summary_block_sender_message_id_and_quoted_to_cc_are_not_recipients() -> None:
    """An NDR's summary quotes From/To/Cc/Message-ID; only the listed recipient failed."""
    body = (
        "Your message did not reach some or all of the intended recipients.\n\n"
        "      From:\tSupport <support@help.example.com>\n"
        "      To:\tgone@example.org; cc.person@example.net\n"
        "      Subject:\tYour ticket #77\n"
        "      Message-ID:\t<ticket-77@help.example.com>\n"
        "      Sent:\t3/1/2024 10:00 AM\n\n"
        "The following recipient(s) cannot be reached:\n\n"
        "      gone@example.org on 3/1/2024 10:00 AM\n"
        "            The e-mail account does not exist.\n"
        "            <mx.example.org #5.1.1 smtp;550 5.1.1 User unknown>\n"
    )
    headers = daemon("Undeliverable: Your ticket #77", "System Administrator <postmaster@ex.org>")
    parsed = parse_message(mail(headers, body))
    assert failed(parsed) == [("gone@example.org", "5.1.1")]


def test_x400_prefix_and_quotes_are_stripped() -> None:
    """'SMTP=user@host' and 'user@host' in quotes give the bare address."""
    body = (
        "Delivery has failed to these recipients or groups:\n\n"
        "SMTP=first@example.org\nThe mailbox is unavailable.\n\n"
        "'second@example.org'\nThe mailbox is full. 552 5.2.2\n"
    )
    parsed = parse_message(mail(daemon("Undeliverable: x"), body))
    assert addresses(parsed) == ["first@example.org", "second@example.org"]


@pytest.mark.parametrize(
    "marker",
    [
        "--- Below this line is a copy of the message.",
        "------ This is a copy of your message, including all the headers. ------",
        "   ----- Original message follows -----",
        "----- Original message -----",
        "------ Unsent message follows ------",
        "--- Originalnachricht ---",
        "-------- Message d'origine --------",
        "----- Mensaje original -----",
        "----- Mensagem original -----",
        "------------------ 原始邮件 ------------------",
        "----- 元のメッセージ -----",
        "----- Исходное сообщение -----",
    ],
)
def test_addresses_below_a_copy_marker_are_not_recipients(marker: str) -> None:
    """Everything after a copy marker (English and its translations) is the original."""
    body = (
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n\n"
        "<gone@example.org>:\n550 5.1.1 unknown user\n\n"
        f"{marker}\n\nTo: someone.else@example.net\nCc: third@example.com\n\nbody\n"
    )
    parsed = parse_message(mail(daemon("failure notice"), body))
    assert failed(parsed) == [("gone@example.org", "5.1.1")]


# --- class 9: X-Failed-Recipients ------------------------------------------------------


def test_x_failed_recipients_is_the_list() -> None:
    """The field names the failed recipients even when the text mentions others."""
    headers = (
        daemon("Mail delivery failed") + "X-Failed-Recipients: one@example.org, two@example.net\n"
    )
    body = (
        "A message that you sent could not be delivered to one or more of its recipients.\n\n"
        "  one@example.org\n    550 5.1.1 No such user\n"
        "  two@example.net\n    552 5.2.2 Over quota\n\n"
        "Questions? Ask relay-admin@example.com about relay.example.com.\n"
    )
    parsed = parse_message(mail(headers, body))
    assert failed(parsed) == [("one@example.org", "5.1.1"), ("two@example.net", "5.2.2")]


def test_x_failed_recipients_alone_makes_a_bounce() -> None:
    """With no known wording at all, the field still says who failed."""
    headers = (
        f"From: relay@example.com\nTo: {US}\nSubject: Notice\nX-Failed-Recipients: z@example.org\n"
    )
    parsed = parse_message(mail(headers, "Something happened.\n"))
    assert parsed.kind == "bounce"
    assert failed(parsed) == [("z@example.org", "5.0.0")]


# --- class 10: unusable reports fall back to the prose ---------------------------------


def test_report_with_mismatched_boundary_is_read() -> None:
    """A boundary parameter that matches no line: the parts are re-split and read."""
    body = report(
        "Reporting-MTA: dns; mx.example.org\n\n"
        "Final-Recipient: rfc822; gone@example.org\nAction: failed\nStatus: 5.1.1\n"
    )
    wrong = 'multipart/report; report-type=delivery-status; boundary="NOT-THERE"'
    parsed = parse_message(mail(daemon(), body, ctype=wrong))
    assert parsed.kind == "bounce"
    assert failed(parsed) == [("gone@example.org", "5.1.1")]


def test_report_without_status_part_reads_the_prose() -> None:
    """multipart/report with only a text part: its words name the recipient."""
    body = (
        "--RPT\nContent-Type: text/plain\n\n"
        "This is the mail system at host mx.example.org.\n\n"
        "<gone@example.org>: host mx.example.org said: 550 5.1.1 User unknown\n\n"
        "--RPT\nContent-Type: text/rfc822-headers\n\n" + ORIGINAL + "\n--RPT--\n"
    )
    parsed = parse_message(mail(daemon(), body, ctype=REPORT_TYPE))
    assert failed(parsed) == [("gone@example.org", "5.1.1")]


def test_status_part_with_per_message_fields_only_reads_the_prose() -> None:
    """Reporting-MTA and nothing else: the text part names the recipient instead."""
    body = (
        "--RPT\nContent-Type: text/plain\n\n"
        "Delivery to the following recipient failed permanently:\n\n     gone@example.org\n\n"
        "--RPT\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example.org\nArrival-Date: Fri, 1 Mar 2024 10:00:00 +0000\n\n"
        "--RPT--\n"
    )
    parsed = parse_message(mail(daemon(), body, ctype=REPORT_TYPE))
    assert failed(parsed) == [("gone@example.org", "5.0.0")]


# --- class 11: status parts wherever they sit ----------------------------------------


def test_status_part_inside_multipart_mixed() -> None:
    """A message/delivery-status part under multipart/mixed (no report container) is read."""
    body = (
        "--MIX\nContent-Type: text/plain\n\nNotice.\n\n"
        "--MIX\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example.org\n\n"
        "Final-Recipient: rfc822; gone@example.org\nAction: failed\nStatus: 5.1.2\n\n"
        "--MIX--\n"
    )
    parsed = parse_message(mail(daemon(), body, ctype='multipart/mixed; boundary="MIX"'))
    assert failed(parsed) == [("gone@example.org", "5.1.2")]


def test_global_delivery_status_is_read() -> None:
    """RFC 6533: message/global-delivery-status with a UTF-8 address."""
    body = report(
        "Reporting-MTA: dns; mx.example.org\n\n"
        "Final-Recipient: utf-8; 用户@例子.example\nAction: failed\nStatus: 5.1.1\n",
        ctype="message/global-delivery-status",
    )
    parsed = parse_message(mail(daemon(), body, ctype=REPORT_TYPE))
    assert parsed.kind == "bounce"
    assert parsed.bounce is not None
    assert parsed.bounce["recipients"][0]["status"] == "5.1.1"


def _wrapped(sender: str) -> bytes:
    inner = (
        f"From: MAILER-DAEMON@mx.example.org\nTo: {US}\nSubject: Undelivered\n"
        f"MIME-Version: 1.0\nContent-Type: {REPORT_TYPE}\n\n"
        + report("Final-Recipient: rfc822; gone@example.org\nAction: failed\nStatus: 5.1.1\n")
    )
    body = (
        "--OUT\nContent-Type: text/plain\n\nThe attached report was returned to the relay.\n\n"
        f"--OUT\nContent-Type: message/rfc822\n\n{inner}\n--OUT--\n"
    )
    return mail(
        f"From: {sender}\nTo: {US}\nSubject: Returned mail\n",
        body,
        ctype='multipart/mixed; boundary="OUT"',
    )


def test_report_inside_a_daemons_attached_message_is_read() -> None:
    """A relay daemon that wraps the bounce it got: the inner report is the bounce."""
    parsed = parse_message(_wrapped("MAILER-DAEMON@relay.example.com"))
    assert failed(parsed) == [("gone@example.org", "5.1.1")]
    assert parsed.classification.original_message_id == "ticket-77@help.example.com"
    assert parsed.classification.original_marker == "ws_1." + "a" * 32


def test_report_attached_by_a_person_is_not_a_bounce() -> None:
    """A person attaching a bounce they got is writing to us, not bouncing."""
    parsed = parse_message(_wrapped("Jane <jane@example.org>"))
    assert parsed.kind != "bounce"


# --- class 12: Status x.0.0 against a specific Diagnostic-Code --------------------------


@pytest.mark.parametrize(
    ("status", "diagnostic", "want"),
    [
        ("5.0.0", "smtp; 550 5.1.1 <gone@example.org>: User unknown", "5.1.1"),
        ("4.0.0", "smtp; 452 4.2.2 Mailbox full", "4.2.2"),
        # another class: Status keeps its class; the words give the detail
        ("5.0.0", "smtp; 452 4.2.2 Mailbox full", "5.2.2"),
        ("5.0.0", "smtp; 452 4.3.0 Try later", "5.0.0"),
        ("5.2.1", "smtp; 550 5.1.1 User unknown", "5.2.1"),  # specific Status wins
        ("", "smtp; 550 5.7.1 Rejected", "5.7.1"),
    ],
)
def test_generic_status_loses_to_specific_diagnostic(
    status: str, diagnostic: str, want: str
) -> None:
    """Status 5.0.0 gives way to 5.1.1 in Diagnostic-Code, only within its class."""
    line = f"Status: {status}\n" if status else ""
    body = report(
        f"Final-Recipient: rfc822; gone@example.org\nAction: failed\n{line}"
        f"Diagnostic-Code: {diagnostic}\n"
    )
    parsed = parse_message(mail(daemon(), body, ctype=REPORT_TYPE))
    assert failed(parsed) == [("gone@example.org", want)]


# --- class 13: non-standard actions, groups without a blank line ------------------------


@pytest.mark.parametrize("action", ["failure", "expired", "undeliverable", "Failed", "bounced"])
def test_non_standard_failure_actions(action: str) -> None:
    """Action values some MTAs write instead of "failed" are failures."""
    body = report(f"Final-Recipient: rfc822; gone@example.org\nAction: {action}\nStatus: 5.1.1\n")
    parsed = parse_message(mail(daemon(), body, ctype=REPORT_TYPE))
    assert parsed.bounce is not None
    assert [r["action"] for r in parsed.bounce["recipients"]] == ["failed"]
    assert not [e for e in parsed.errors if "unknown action" in e]


def test_two_recipient_groups_without_blank_line() -> None:
    """Two Final-Recipient groups run together: both recipients are read."""
    body = report(
        "Reporting-MTA: dns; mx.example.org\n\n"
        "Original-Recipient: rfc822; first@example.org\n"
        "Final-Recipient: rfc822; first@example.org\nAction: failed\nStatus: 5.1.1\n"
        "Original-Recipient: rfc822; second@example.net\n"
        "Final-Recipient: rfc822; second@example.net\nAction: delayed\nStatus: 4.4.1\n"
        "Final-Recipient: rfc822; third@example.com\nAction: failed\nStatus: 5.2.2\n"
    )
    parsed = parse_message(mail(daemon(), body, ctype=REPORT_TYPE))
    assert parsed.bounce is not None
    got = [(r["address"], r["action"], r["status"]) for r in parsed.bounce["recipients"]]
    assert got == [
        ("first@example.org", "failed", "5.1.1"),
        ("second@example.net", "delayed", "4.4.1"),
        ("third@example.com", "failed", "5.2.2"),
    ]


def test_groups_run_together_with_final_recipient_first() -> None:
    """Final-Recipient before Original-Recipient in each group: still two recipients."""
    body = report(
        "Final-Recipient: rfc822; a.final@example.org\nOriginal-Recipient: rfc822; a@example.org\n"
        "Action: failed\nStatus: 5.1.1\n"
        "Final-Recipient: rfc822; b@example.net\nAction: failed\nStatus: 5.2.2\n"
    )
    parsed = parse_message(mail(daemon(), body, ctype=REPORT_TYPE))
    assert failed(parsed) == [("a@example.org", "5.1.1"), ("b@example.net", "5.2.2")]


# --- class 14: Amazon SES notifications -------------------------------------------------


def _ses(notification: dict[str, Any], *, sns: bool = False) -> bytes:
    body = json.dumps(notification, indent=2)
    if sns:
        body = json.dumps(
            {"Type": "Notification", "MessageId": "a1b2", "TopicArn": "arn:aws:sns:x",
             "Message": json.dumps(notification)}
        )  # fmt: skip
    headers = (
        f"From: AWS Notifications <no-reply@sns.amazonaws.com>\nTo: {US}\n"
        "Subject: AWS Notification Message\n"
    )
    return mail(headers, body + "\n")


SES_MAIL = {
    "timestamp": "2024-03-01T10:00:00.000Z",
    "source": "support@help.example.com",
    "messageId": "0100018e-ses-id",
    "destination": ["gone@example.org", "full@example.net"],
    "commonHeaders": {"messageId": "<ticket-77@help.example.com>", "subject": "Your ticket"},
}


@pytest.mark.parametrize("sns", [False, True])
def test_ses_bounce_notification(sns: bool) -> None:
    """SES bounce JSON (plain body or inside the SNS envelope's Message) is a bounce."""
    note = {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [
                {
                    "emailAddress": "gone@example.org",
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                },
                {"emailAddress": "full@example.net"},
            ],
            "timestamp": "2024-03-01T10:00:05.000Z",
        },
        "mail": SES_MAIL,
    }
    parsed = parse_message(_ses(note, sns=sns))
    assert parsed.kind == "bounce"
    assert failed(parsed) == [("gone@example.org", "5.1.1"), ("full@example.net", "5.0.0")]
    assert parsed.bounce is not None
    assert parsed.bounce["recipients"][0]["diagnostic"] == "550 5.1.1 user unknown"
    assert parsed.classification.original_message_id == "ticket-77@help.example.com"


def test_ses_transient_bounce_is_soft() -> None:
    """A Transient SES bounce without a status is 4.0.0: never a hard suppression."""
    note = {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Transient",
            "bouncedRecipients": [{"emailAddress": "a@b.example"}],
        },
        "mail": SES_MAIL,
    }
    assert failed(parse_message(_ses(note))) == [("a@b.example", "4.0.0")]


def test_ses_complaint_notification() -> None:
    """SES complaint JSON is a complaint naming the complaining recipient."""
    note = {
        "notificationType": "Complaint",
        "complaint": {
            "complainedRecipients": [{"emailAddress": "angry@example.org"}],
            "complaintFeedbackType": "abuse",
            "timestamp": "2024-03-01T11:00:00.000Z",
        },
        "mail": SES_MAIL,
    }
    parsed = parse_message(_ses(note))
    assert parsed.kind == "complaint"
    complaint = parsed.classification.complaint
    assert complaint is not None
    assert complaint["original_rcpt_to"] == "angry@example.org"
    assert complaint["feedback_type"] == "abuse"
    assert complaint["original_message_id"] == "ticket-77@help.example.com"


def test_json_that_is_not_ses_is_ordinary_mail() -> None:
    """A customer pasting JSON with the key in it is not a notification."""
    headers = f"From: Dev <dev@example.org>\nTo: {US}\nSubject: our payload\n"
    body = 'We send {"notificationType": "Whatever", "x": 1} and it fails, help?\n'
    assert parse_message(mail(headers, body)).kind == "normal"


# --- class 15: delayed and delivered reports are bounces nobody failed in ---------------


@pytest.mark.parametrize(("action", "status"), [("delayed", "4.4.7"), ("delivered", "2.0.0")])
def test_delay_and_success_reports_are_kind_bounce(action: str, status: str) -> None:
    """A delay warning or success notice: kind bounce, the recipient listed, nobody failed."""
    body = report(
        f"Final-Recipient: rfc822; slow@example.org\nAction: {action}\nStatus: {status}\n"
    )
    parsed = parse_message(mail(daemon("Delivery Status Notification"), body, ctype=REPORT_TYPE))
    assert parsed.kind == "bounce"
    assert parsed.bounce is not None
    assert [r["action"] for r in parsed.bounce["recipients"]] == [action]
    assert not [r for r in parsed.bounce["recipients"] if r["action"] == "failed"]


def test_prose_delay_warning_is_a_bounce_without_failure() -> None:
    """Exim's "has not yet been delivered" warning lists the recipient as delayed."""
    body = (
        "This message was created automatically by mail delivery software.\n\n"
        "A message that you sent has not yet been delivered to one or more of its\n"
        "recipients after more than 24 hours on the queue.\n\n"
        "  slow@example.org\n    Delay reason: 451 4.7.1 Greylisted\n"
    )
    parsed = parse_message(mail(daemon("Warning: message delayed"), body))
    assert parsed.kind == "bounce"
    assert parsed.bounce is not None
    assert [(r["action"], r["status"]) for r in parsed.bounce["recipients"]] == [
        ("delayed", "4.7.1")
    ]


# --- class 16: a daemon's MDN saying "deleted" -------------------------------------------


def _mdn(sender: str, disposition: str) -> bytes:
    body = (
        "--MDN\nContent-Type: text/plain\n\nYour message was deleted without being read.\n\n"
        "--MDN\nContent-Type: message/disposition-notification\n\n"
        "Reporting-UA: mx.example.org; Rules Engine\n"
        "Final-Recipient: rfc822; gone@example.org\n"
        "Original-Message-ID: <ticket-77@help.example.com>\n"
        f"Disposition: {disposition}\n\n"
        "--MDN--\n"
    )
    ctype = 'multipart/report; report-type=disposition-notification; boundary="MDN"'
    return mail(f"From: {sender}\nTo: {US}\nSubject: Not read: Your ticket\n", body, ctype=ctype)


def test_daemon_mdn_deleted_is_a_rejection() -> None:
    """automatic-action/MDN-sent-automatically; deleted from a daemon: the recipient failed."""
    parsed = parse_message(
        _mdn("MAILER-DAEMON@mx.example.org", "automatic-action/MDN-sent-automatically; deleted")
    )
    assert parsed.kind == "bounce"
    assert parsed.bounce is not None
    assert [(r["address"], r["action"]) for r in parsed.bounce["recipients"]] == [
        ("gone@example.org", "failed")
    ]


@pytest.mark.parametrize(
    ("sender", "disposition"),
    [
        ("Jane <jane@example.org>", "manual-action/MDN-sent-manually; deleted"),
        ("MAILER-DAEMON@mx.example.org", "automatic-action/MDN-sent-automatically; displayed"),
    ],
)
def test_other_mdns_stay_auto_replies(sender: str, disposition: str) -> None:
    """A person's deletion notice, or a daemon's "displayed", is an auto-reply, not a bounce."""
    assert parse_message(_mdn(sender, disposition)).kind == "auto_reply"


# --- a generic code (x.0.0 or a bare 550) takes its detail from the server's words -----


@pytest.mark.parametrize(
    ("status", "words", "want"),
    [
        ("5.0.0", "550 Requested action not taken: User unknown", "5.1.1"),
        ("5.0.0", "550 Mailbox not found.", "5.1.1"),
        ("5.0.0", "The email account that you tried to reach does not exist", "5.1.1"),
        ("5.0.0", "退信原因：550 用户不存在", "5.1.1"),
        ("5.0.0", "552 Mailbox quota exceeded", "5.2.2"),
        ("4.0.0", "452 mailbox full, try again later", "4.2.2"),
        ("5.0.0", "550 This account has been disabled", "5.2.1"),
        ("5.0.0", "The email account that you tried to reach is disabled.", "5.2.1"),
        ("5.0.0", "User gone (gone@example.org) not listed in Domino Directory", "5.1.1"),
        ("5.0.0", "Host or domain name not found. Name service error", "5.1.2"),
        ("5.0.0", "552 Message size exceeds fixed maximum message size", "5.3.4"),
        ("5.0.0", "554 Relay access denied", "5.7.1"),
        ("5.0.0", "retry timeout exceeded", "5.4.7"),
        ("5.0.0", "Too many hops", "5.4.6"),
        ("5.0.0", "550 rejected for policy reasons", "5.0.0"),  # no detail is guessed
        ("5.1.1", "mailbox full", "5.1.1"),  # a specific code is never overridden
        ("2.0.0", "user unknown", "2.0.0"),  # a success is not a failure
    ],
)
def test_generic_status_takes_detail_from_wording(status: str, words: str, want: str) -> None:
    assert refine_status(status, words) == want


def test_prose_bounce_with_bare_reply_code_gets_detail() -> None:
    """A webmail bounce that gives only '550 User not found' is 5.1.1, not 5.0.0."""
    raw = (
        b"From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n"
        b"To: sender@example.com\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        b"Date: Mon, 6 May 2024 10:00:00 +0000\r\nMessage-ID: <b1@mx.example.net>\r\n\r\n"
        b"Your message could not be delivered to the following recipients:\r\n\r\n"
        b"  ghost@example.org\r\n  Reason: 550 User not found\r\n"
    )
    assert failed(parse_message(raw)) == [("ghost@example.org", "5.1.1")]
