"""Classify an inbound message: normal, auto-reply, bounce or complaint; and spot loops.

Order, exact first and heuristic second (STYLE.md practice 7):

1. **complaint** — an ARF report (RFC 5965: multipart/report with
   report-type=feedback-report).
2. **bounce** — ``core/bounces.py``: an RFC 3464 delivery status notification
   wherever its status part sits, an Amazon SES JSON notification, then the
   prose of non-standard bounces (``prose_bounce``: a vendor's sentence, or one
   daemon-sender hint plus bounce wording in one of eight languages), and an
   MDN a daemon sends saying the message was deleted. A daemon sender on its
   own proves nothing.
3. **auto_reply** — an RFC 8098 read receipt (report-type=disposition-notification),
   RFC 3834 ``Auto-Submitted`` other than "no", the vendor headers and
   ``X-Loop``, ``Precedence: bulk|junk|list`` (RFC 3834 §2: never answer it
   automatically, so "auto_reply" means "do not answer"), then out-of-office
   wording in the subject and the fixed sentences of QQ/NetEase.
   ``X-MS-Exchange-Inbox-Rules-Loop`` is no marker: server rules put it on
   people's mail.

How delivery reports map to ``kind``. Every delivery report is kind "bounce":
also one whose recipients are all "delayed" (a delay warning: the MTA keeps
trying, RFC 3464 §2.3.3) or only "delivered"/"relayed"/"expanded" (a success
notice). It is a report about our mail, not an auto-reply. ``bounce`` carries
every recipient with its action; only recipients with Action "failed" are
failures, so a delay or success notice fails and hard-suppresses nobody.

``X-Auto-Response-Suppress`` is deliberately not an auto-reply marker: it is a
*request* that others not auto-reply to this message, set on ordinary mail by
Outlook and by mailgate itself.

``loop_suspected`` is independent of ``kind``: more than 25 Received fields
(a runaway forwarding chain; RFC 5321 §6.3 suggests a limit of at least 100
hops for giving up, mail that has made 25 is already abnormal for us), or an
``X-Mailgate-Id`` field, which our own outbound mail carries. That field is only
a suspicion here: anyone can write it, and another workspace on the same
installation writes it too. ``marker`` hands its value on; routing checks its
signature against the receiving workspace (``inbound/markers.py``) and only a
genuine one makes a loop. ``original_marker`` is the same field in the returned
copy inside a bounce or complaint: evidence, checked the same way, that the
report is about mail we sent.

``classify`` never raises; what it could not understand goes to ``errors``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import Message
from email.utils import getaddresses
from typing import Any

from mailgate.core import bounces, dsn

__all__ = ["MARKER_HEADER", "MAX_RECEIVED", "Classification", "classify"]

MAX_RECEIVED = 25
MARKER_HEADER = "X-Mailgate-Id"
# The mark in a copy quoted as text (qmail and other prose bounces).
_QUOTED_MARKER = re.compile(r"^X-Mailgate-Id:[ \t]*([0-9A-Za-z_]{1,40}\.[0-9a-fA-F]{32})\s*$", re.M)


@dataclass(frozen=True, slots=True)
class Classification:
    """The result of ``classify``; ``bounce`` is the parse contract's bounce object."""

    kind: str = "normal"
    bounce: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)
    complaint: dict[str, Any] | None = None
    original_message_id: str | None = None
    loop_suspected: bool = False
    loop_reason: str | None = None
    #: X-Mailgate-Id of this message, and of the original a bounce/complaint returns:
    #: unverified here (core has no keys); routing checks the signature.
    marker: str | None = None
    original_marker: str | None = None


def classify(msg: Message, *, text: str, subject: str) -> Classification:
    """Classify ``msg`` (compat32); ``text`` is its decoded body, ``subject`` decoded."""
    errors: list[str] = []
    try:
        loop, reason = _loop(msg)
        kind, bounce, complaint, original = _kind(msg, text or "", subject or "", errors)
        marker = _marker(msg.get(MARKER_HEADER))
        original_marker = _original_marker(msg, text or "") if kind != "normal" else None
    except Exception as exc:  # contract: classify never raises
        errors.append(f"classify: {type(exc).__name__}: {exc}")
        return Classification(errors=errors)
    return Classification(
        kind=kind,
        bounce=bounce,
        errors=errors,
        complaint=complaint,
        original_message_id=original,
        loop_suspected=loop,
        loop_reason=reason,
        marker=marker,
        original_marker=original_marker,
    )


def _kind(
    msg: Message, text: str, subject: str, errors: list[str]
) -> tuple[str, dict[str, Any] | None, dict[str, Any] | None, str | None]:
    arf = dsn.find_report(msg, "feedback-report")
    if arf is not None:
        complaint = _complaint(arf, errors)
        return "complaint", None, complaint, complaint.get("original_message_id")

    # DSN, SES JSON, prose; delay and success reports are bounces too (core/bounces.py).
    found = bounces.find(msg, text, subject, errors) or bounces.mdn_rejection(msg)
    if found is not None:
        if found.kind == "complaint":
            return "complaint", None, found.complaint, found.original_message_id
        return "bounce", {"recipients": found.recipients}, None, found.original_message_id

    # RFC 8098 read receipts are machine-written answers: never answer them back.
    if dsn.find_report(msg, "disposition-notification") is not None:
        original, _ = dsn.attached_original(msg)
        return "auto_reply", None, None, original

    if is_auto_reply(msg, text, subject):
        return "auto_reply", None, None, None
    return "normal", None, None, None


# --- complaints (RFC 5965) ------------------------------------------------


def _complaint(report: Message, errors: list[str]) -> dict[str, Any]:
    fields: Message | None = None
    for part in dsn.walk_shallow(report):
        if part.get_content_type() == "message/feedback-report":
            blocks = dsn.header_blocks(part)
            fields = blocks[0] if blocks else None
            break
    original_id, original = dsn.attached_original(report)
    if fields is None:
        errors.append("feedback-report without a message/feedback-report part")
        fields = Message()

    def one(name: str) -> str | None:
        value = fields.get(name) if fields is not None else None
        return re.sub(r"\s+", " ", str(value)).strip() if value is not None else None

    rcpt_to = [
        a for _, a in getaddresses([str(v) for v in fields.get_all("Original-Rcpt-To", [])]) if a
    ]
    if not rcpt_to and original is not None:
        # Many providers redact Original-Rcpt-To; the returned copy's To is the
        # next best evidence of which of our recipients complained.
        rcpt_to = [a for _, a in getaddresses([str(v) for v in original.get_all("To", [])]) if a]
    mail_from = one("Original-Mail-From")
    if mail_from is None and original is not None:
        addrs = getaddresses([str(v) for v in original.get_all("From", [])])
        mail_from = addrs[0][1] if addrs and addrs[0][1] else None
    feedback_type = (one("Feedback-Type") or "").lower()
    if not feedback_type:
        errors.append("feedback-report without Feedback-Type (RFC 5965 §3.1)")
    return {
        "feedback_type": feedback_type or "other",
        "user_agent": one("User-Agent"),
        "version": one("Version"),
        "original_mail_from": mail_from.strip("<>") if mail_from else None,
        # One address is the common case and what the pipeline suppresses;
        # RFC 5965 §3.2 lets the field repeat, so every one is kept as well.
        "original_rcpt_to": rcpt_to[0] if rcpt_to else None,
        "original_rcpt_to_all": rcpt_to,
        "arrival_date": one("Arrival-Date") or one("Received-Date"),
        "source_ip": one("Source-IP"),
        "reported_domain": one("Reported-Domain"),
        "original_message_id": original_id,
    }


# --- auto-replies (RFC 3834 and vendors) ----------------------------------

# Headers whose mere presence marks automatic mail.
_PRESENT = (
    "X-Autoreply",
    "X-Autorespond",
    "X-Autoresponder",
    "X-Autoreply-From",
    "X-Mail-Autoreply",
    "X-MS-Exchange-Generated-Message-Source",
    # Request Tracker, procmail recipes and list managers stamp X-Loop on what
    # they send automatically. Not X-MS-Exchange-Inbox-Rules-Loop: Exchange
    # adds that to a person's mail whenever a server-side rule moved it.
    "X-Loop",
    "X-Vacation",
)
# name -> pattern of the value that marks it.
_VALUED = {
    "X-Autogenerated": re.compile(r"^\s*reply", re.I),
    "X-POST-MessageClass": re.compile(r"autoresponder", re.I),
    "Delivered-To": re.compile(r"^\s*autoresponder\s*$", re.I),
    "X-Precedence": re.compile(r"^\s*auto[_-]?reply", re.I),
    "Precedence": re.compile(r"^\s*auto[_-]?reply", re.I),
}
# Subject prefixes written by out-of-office responders; a separator (or the
# end) must follow, so "休假申请" (a leave request) stays ordinary mail.
_SUBJECT_PREFIX_RE = re.compile(
    r"^\W*(?:\[[^\]]{1,40}\]\s*)?"  # a list or ticket tag first: "[Support] Automatic reply:"
    r"(?:automatic reply|auto(?:matic)?[ -]?(?:reply|response)|autoreply|auto"
    r"|out of (?:the )?office(?: (?:auto-?reply|reply))?|away from (?:the |my )?office"
    r"|vacation (?:reply|response|auto-?reply)|autosvar|automatische antwort|abwesenheitsnotiz"
    r"|réponse automatique|absente? du bureau|risposta automatica|respuesta automática"
    # Exchange's "Automatic reply" in Outlook's other languages.
    r"|automatisch antwoord|resposta automática|automatiskt svar|automatisk svar"
    r"|odpowiedź automatyczna|automatická odpověď|automatická odpoveď|automaattinen vastaus"
    r"|automatikus válasz|otomatik yanıt|răspuns automat|αυτόματη απάντηση"
    r"|автоматический ответ|автоматична відповідь|自動応答|自動返信|자동 회신|자동 응답"
    r"|自动回复|自動回覆|自动答复|自動回复|休假|休假中|不在办公室|外出|假期自动回复)"
    r"\s*(?:[:：\]】)]|$)",
    re.I,
)
_SUBJECT_ANYWHERE_RE = re.compile(
    r"\bout of (?:the )?office\b|\bon vacation\b|自动回复|自動回覆|不在办公室|休假中", re.I
)
_HUMAN_PREFIX_RE = re.compile(r"^\s*(?:re|fwd?|aw|wg|sv|vs|回复|答复|转发|回覆|轉寄)\s*[:：]", re.I)
# Fixed sentences of QQ Mail's and NetEase's responders (they set no header).
_VENDOR_BODY_RE = re.compile(
    r"这是来自QQ邮箱的假期自动回复邮件|这是一封自动回复(?:的)?邮件|此邮件为自动回复"
)


def is_auto_reply(msg: Message, text: str, subject: str) -> bool:
    """True when headers, subject or a vendor's fixed wording mark automatic mail."""
    # RFC 3834 §5: any Auto-Submitted value other than "no" means automatic.
    for value in msg.get_all("Auto-Submitted", []):
        token = str(value).split(";", 1)[0].split("(", 1)[0].strip().lower()
        if token and token != "no":
            return True
    if any(msg.get(name) is not None for name in _PRESENT):
        return True
    for name, rx in _VALUED.items():
        if any(rx.search(str(v)) for v in msg.get_all(name, [])):
            return True
    # Precedence bulk/junk/list: RFC 3834 §2 says not to answer such mail
    # automatically, so it is kind auto_reply ("do not answer") on its own.
    precedence = " ".join(
        str(v) for v in msg.get_all("Precedence", []) + msg.get_all("X-Precedence", [])
    )
    if re.search(r"\b(?:bulk|junk|list)\b", precedence, re.I):
        return True
    if _SUBJECT_PREFIX_RE.search(subject):
        return True
    # "Re: Out of Office …" is a person answering an auto-reply, not one.
    if not _HUMAN_PREFIX_RE.match(subject) and _SUBJECT_ANYWHERE_RE.search(subject):
        return True
    # A person answering such a reply quotes its sentence: only the sender's own
    # text counts, and a reply ("回复:", "Re:") never does.
    if _HUMAN_PREFIX_RE.match(subject):
        return False
    own = _own_text(text[:2000])
    # Outlook's read receipt as plain text (no RFC 8098 report): "Read: …" over
    # "Your message … was read on …".
    if _RECEIPT_SUBJECT_RE.match(subject) and _RECEIPT_BODY_RE.search(own):
        return True
    return bool(_VENDOR_BODY_RE.search(own))


_RECEIPT_SUBJECT_RE = re.compile(
    r"^\s*(?:read|not read|gelesen|ungelesen|lu|non lu|leído|no leído|letto|non letto|gelezen"
    r"|lida|läst|прочитано|已读|已讀|未读|開封済み)\s*[:：]",
    re.I,
)
_RECEIPT_BODY_RE = re.compile(
    r"was read on|was deleted without being read|wurde am .{0,80}gelesen|a été lu"
    r"|fue leído|è stato letto|werd gelezen|foi lida|прочитано|已于.{0,60}(?:读取|阅读)"
    r"|開封されました",
    re.I,
)


# Where quoted history starts in a body: a ">" line, QQ/Outlook separators, a copied From.
_HISTORY_RE = re.compile(
    r"^\s*(?:>|-{2,}.{0,20}(?:原始邮件|Original)|(?:From|发件人|寄件者)\s*[:：])", re.I | re.M
)


def _own_text(text: str) -> str:
    found = _HISTORY_RE.search(text)
    return text[: found.start()] if found else text


# --- loops -----------------------------------------------------------------


def _loop(msg: Message) -> tuple[bool, str | None]:
    received = len(msg.get_all("Received", []))
    if received > MAX_RECEIVED:
        return True, f"{received} Received fields (more than {MAX_RECEIVED}): runaway chain"
    value = msg.get(MARKER_HEADER)
    if value is not None:
        reason = f"{MARKER_HEADER} present ({str(value).strip()}): our own message may be back"
        return True, reason
    return False, None


def _marker(value: object) -> str | None:
    text = re.sub(r"\s+", "", str(value)) if value is not None else ""
    return text[:200] or None


def _original_marker(msg: Message, text: str) -> str | None:
    """X-Mailgate-Id of the returned original (message/rfc822, rfc822-headers, or quoted)."""
    _, original = dsn.attached_original(msg)
    if original is not None and original.get(MARKER_HEADER) is not None:
        return _marker(original.get(MARKER_HEADER))
    found = _QUOTED_MARKER.search(text)
    return found.group(1) if found else None
