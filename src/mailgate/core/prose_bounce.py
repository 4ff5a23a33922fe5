"""Bounces written as prose: recognise them, and read the failed recipients out of the text.

The heuristic half of bounce parsing (STYLE.md practice 7); ``dsn`` is the exact half.

Recognition, in order:

1. a vendor's fixed sentence (qmail, Exim, Postfix, Sendmail, Exchange, Gmail,
   QQ Mail, NetEase): enough on its own, except generic wording ("Mail delivery
   failed", "投递失败"), which also needs a daemon sender;
2. one strong sender hint (``dsn.sender_hint``: null Return-Path, ``MAILER-DAEMON@``,
   ``postmaster@``, ``Mail.Delivery.System@``, a daemon name with an empty address,
   ``X-Failed-Recipients``) plus bounce wording in the body, in English, German,
   French, Spanish, Portuguese, Chinese, Japanese or Russian;
3. a bounce subject plus a sender hint.

Extraction reads the *failure list* only: from the first line with bounce
wording down to where the returned copy of the original starts. Lines that
quote headers (From, Sender, Message-ID, a To/Cc inside a quoted header block),
addresses after "generated from", "expanded from", "MAIL FROM" or a contact
sentence, the bounce's own From/To and the original's sender are never failed
recipients. ``X-Failed-Recipients``, when present, is the recipient list.
"""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass, field
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses

from mailgate.core.dsn import (
    _ADDR_RE,
    _DAEMON_ADDR_RE,
    _SMTP_CODE_RE,
    _STATUS_RE,
    Recipient,
    attached_original,
    clean_address,
    daemon_sender,
    failed_recipients_field,
    find_status,
    headers_message_id,
    refine_status,
    sender_hint,
)

__all__ = ["TextBounce", "text_bounce"]


@dataclass
class TextBounce:
    """What the prose of a non-RFC 3464 bounce says."""

    vendor: str
    recipients: list[Recipient] = field(default_factory=list)
    original_message_id: str | None = None


# Fixed wording each MTA writes; a match is strong evidence on its own.
_VENDORS: list[tuple[str, re.Pattern[str]]] = [
    ("qmail", re.compile(r"This is the qmail-send program", re.I)),
    ("exim", re.compile(r"This message was created automatically by mail delivery software", re.I)),
    ("postfix", re.compile(r"I'm sorry to have to inform you that your message could not", re.I)),
    ("postfix", re.compile(r"This is the mail system at host", re.I)),
    ("sendmail", re.compile(r"The following addresses had permanent fatal errors", re.I)),
    ("exchange", re.compile(r"Delivery has failed to these recipients or groups", re.I)),
    ("exchange", re.compile(r"Your message to \S+ couldn't be delivered", re.I)),
    (
        "exchange",
        re.compile(r"Your message did not reach some or all of the intended recipients", re.I),
    ),
    (
        "gmail",
        re.compile(r"Delivery to the following recipients? (?:failed|has been delayed)", re.I),
    ),
    ("gmail", re.compile(r"Your message wasn't delivered to", re.I)),
    ("gmail", re.compile(r"\*\* (?:Address not found|Message not delivered|Message blocked) \*\*")),
    ("yahoo", re.compile(r"Sorry, we were unable to deliver your message to the following", re.I)),
    # Lotus Domino: "Your message\n\n  Subject: …\n\nwas not delivered to:".
    ("domino", re.compile(r"Your message\s+Subject:.{0,300}\s+was not delivered to", re.I)),
    ("qq", re.compile(r"很抱歉您发送的邮件被退回")),
    ("netease", re.compile(r"您发送的邮件.{0,20}未能成功投递")),
    ("generic", re.compile(r"系统退信|投递失败|无法发送到|退信原因")),
    ("generic", re.compile(r"Undelivered Mail Returned to Sender|Mail delivery failed", re.I)),
]

# Bounce wording: with one sender hint, any of these makes the mail a bounce.
# Written from the texts of Exim, Postfix, Sendmail, qmail, Exchange NDRs,
# Lotus Domino, GroupWise, Yahoo, AOL and QQ/163, and their translations.
_APOS = "['\u2019]"
_WORDING_RE = re.compile(
    "|".join(
        [
            # English
            rf"(?:could ?not|couldn{_APOS}t|can ?not|can{_APOS}t) be (?:delivered|reached)",
            r"(?:could ?not|unable to|failed to|not able to) (?:deliver|send message)",
            r"still undelivered|this is a warning message only",
            rf"(?:could ?not|couldn{_APOS}t|cannot|can{_APOS}t) be sent|was not accepted",
            r"error (?:has )?occurred while attempting to deliver|had delivery problems?",
            r"user unknown|unknown user|no such (?:user|mailbox)|mailbox (?:unavailable|not found)",
            rf"wasn{_APOS}t able to deliver",
            r"(?:was|were|has been|have been) not delivered",
            rf"(?:wasn{_APOS}t|weren{_APOS}t) delivered",
            r"following (?:address(?:es|\(es\))?|recipients?(?:\(s\))?)"
            r" (?:failed|could ?not|cannot)",
            r"did not reach (?:the following|some or all|its|the intended)",
            r"was undeliverable|undeliverable to|message (?:is )?undeliverable",
            r"permanent (?:fatal )?errors?|delivery (?:has )?failed",
            r"delivery (?:to .{1,80} )?failed",
            r"delivery failure|failed permanently|returned to sender|non-?delivery report",
            r"delivery status notification \(failure\)|message (?:was )?(?:rejected|bounced)",
            # German
            r"(?:konnte|kann) nicht (?:zugestellt|ausgeliefert|übermittelt) werden|unzustellbar",
            r"nicht zugestellt|zustellung .{0,60}fehlgeschlagen|nicht an .{1,60} zugestellt",
            # French
            r"n['\u2019]a pas (?:pu|été) (?:être )?(?:remis|distribu|délivr|livr|achemin)",
            r"impossible de (?:remettre|distribuer|délivrer|livrer)|non (?:remis|distribuable)",
            r"la remise .{0,80}a échoué|échec de (?:la )?(?:remise|distribution|livraison)",
            # Spanish
            r"no se (?:ha )?(?:pudo|podido|puede) entregar|no (?:ha )?podido (?:ser )?entregad",
            r"no (?:pudo|puede) ser entregad|error en la entrega|imposible entregar",
            r"no se entregó|no ha sido entregad",
            # Portuguese
            r"não (?:pôde|pode|foi possível) (?:ser )?entreg|não foi entregue|falha na entrega",
            r"impossível entregar|não (?:foi|pôde ser) (?:enviad|entregu)",
            # Chinese (simplified and traditional)
            r"无法投递|投递失败|未能送达|无法送达|无法发送|发送失败|未能成功投递|未送达|被退回|退信",
            r"無法投遞|投遞失敗|無法傳送|傳送失敗|無法送達|未能送達|退信",
            # Japanese
            r"配信できません|配送できません|届きませんでした|送信できませんでした|配信に失敗",
            r"配送に失敗|配信不能|配送不能|宛先不明|送信に失敗",
            # Russian
            r"не (?:может быть|могло быть|было|удалось|будет) доставлен|не удалось доставить",
            r"не доставлено|недоставлен|доставка .{0,80}не выполнена|невозможно доставить",
            r"не удалось выполнить доставку",
            # Exchange's NDR in Outlook's other languages ("Delivery has failed to …")
            r"recapito non riuscito|non recapitabile|impossibile recapitare",  # Italian
            r"bezorging is mislukt|onbestelbaar|kan niet worden bezorgd",  # Dutch
            r"dostarczenie .{0,60}nie powiodło się|niedostarczaln",  # Polish
            r"leveransen misslyckades|kan inte levereras|levering .{0,60}mislykkedes",
            r"kan ikke leveres|toimitus epäonnistui|ei voitu toimittaa",  # Nordic
            r"doručení .{0,60}se nezdařilo|nedoručiteln|teslim (?:başarısız|edilemedi)",
            r"kézbesítés .{0,60}nem sikerült|kézbesíthetetlen|배달하지 못|无法传递|無法傳遞",
        ]
    ),
    re.I,
)
# Where a failure list starts: a vendor sentence or bounce wording.
_INTRO_RE = re.compile(
    "|".join([*(f"(?:{rx.pattern})" for _, rx in _VENDORS), _WORDING_RE.pattern]), re.I
)
# Wording that marks a delay warning: the MTA is still trying (RFC 3464 "delayed").
_DELAY_RE = re.compile(
    r"THIS IS A WARNING (?:MESSAGE )?ONLY|has not yet been delivered|has been delayed"
    r"|not delivered yet|still undelivered|will keep trying"
    r"|will (?:continue to )?(?:be )?retr|Delivery attempts will continue|延迟投递|仍在重试"
    r"|noch nicht zugestellt|n'a pas encore été remis|aún no se ha entregado|ainda não foi entregue"
    r"|ещё не доставлено|еще не доставлено|配信が遅延",
    re.I,
)
# Success notices written as prose (RFC 3461 NOTIFY=SUCCESS without a report part).
_SUCCESS_RE = re.compile(
    r"successfully delivered|delivery to the following recipients? (?:was )?(?:completed|succeeded)"
    r"|已成功投递|投递成功",
    re.I,
)
# Where the returned copy of the original starts: addresses below it are not recipients.
_COPY_RE = re.compile(
    r"(?:Below this line is a copy of the message|copy of (?:the |your )?(?:original )?message"
    r"|original message (?:follows|is below|below)|header of the original message"
    r"|Original message headers|-{2,}\s*Original message\s*-{2,}|Content-Description: Undelivered"
    r"|Original message follows|Unsent message follows|Message header follows"
    r"|Returned message follows|Text of (?:the )?original message|Headers of the original message"
    r"|original message is (?:attached|included)|^Received: |^Return-Path: "
    r"|Originalnachricht|Ursprüngliche Nachricht|Kopie der (?:Original)?nachricht"
    r"|Message d['\u2019]origine|Message original|copie du message|En-têtes du message"
    r"|Mensaje original|copia del mensaje|Encabezados del mensaje"
    r"|Mensagem original|cópia da mensagem|Cabeçalhos da mensagem"
    r"|原邮件信息|原始邮件|原邮件头|原郵件|原始郵件|元のメッセージ|元のメール|オリジナルメッセージ"
    r"|Исходное сообщение|Оригинальное сообщение|копия (?:вашего |исходного )?сообщения"
    r"|Заголовки (?:исходного )?сообщения)",
    re.I | re.M,
)
# A person's reply or forward: "FW: Undeliverable: …", "RE: failure notice", "答复: 退信".
_FORWARD_RE = re.compile(
    r"^\s*(?:fwd?|wg|tr|rv|enc|re|aw|sv|antw|r|转发|轉寄|回复|答复|回覆)\s*[:：]", re.I
)
_SUBJECT_HINT_RE = re.compile(
    r"undeliver|delivery status notification|returned mail|mail delivery fail|failure notice"
    r"|delivery failure|delivery_failure|non[- ]?delivery|delivery problem|not delivered"
    r"|could not send message|delivery delayed|delayed mail"
    r"|unzustellbar|non remis|non distribuable|no entregad|não entregue|недоставлен"
    r"|non recapitabile|onbestelbaar|niedostarczaln|kan inte levereras|nedoručiteln"
    r"|退信|投递失败|未能投递|发送失败|配信エラー|配信不能",
    re.I,
)
# A quoted header line of the original (From/Sender/Message-ID and the like).
_SENDER_LINE_RE = re.compile(
    r"^\s*(?:>\s*)?(?:From|Sender|Reply-To|Return-Path|Message-ID|In-Reply-To|References"
    r"|Sender Address|Von|De|Da|Van|Från|От|发件人|寄件者|差出人)\s*[:：]",
    re.I,
)
# The lines of a quoted summary block (Domino, Exchange 2003, Outlook); To/Cc
# lines are dropped only inside such a block, a lone "To:" may be the list.
_SUMMARY_LINE_RE = re.compile(
    r"^\s*(?:>\s*)?(?:Subject|Date|Sent|Betreff|Datum|Gesendet|Objet|Envoyé|Asunto|Enviado"
    r"|Assunto|Тема|Дата|主题|主題|件名|日付|发送时间|時間)\s*[:：]",
    re.I,
)
_TO_LINE_RE = re.compile(
    r"^\s*(?:>\s*)?(?:To|Cc|Bcc|An|À|A|Para|Aan|Till|Кому|Копия|收件人|抄送|宛先)\s*[:：]", re.I
)
# After these words on a line, an address is not a failed recipient.
_NOT_AFTER_RE = re.compile(
    r"generated (?:from|by)|expanded from|forwarded (?:from|by)|alias(?:ed)? (?:of|from)"
    r"|mail from|\bsender\b|\bfrom:|\bcontact\b|contactez|kontaktieren|contacte|entre em contato"
    r"|свяжитесь|обратитесь|联系|聯絡|連絡|message[- ]?id|msgid|\bid[=:]",
    re.I,
)


def _fold(text: str) -> str:
    """``text`` lower-cased as re.IGNORECASE folds it, with every offset kept."""
    if not text.isascii():
        # str.translate looks up every character in a dict (6 ms on 290 KB); the four
        # characters are rare, and a replace that finds nothing costs one C scan.
        for char, ascii_char in _FOLD_TO_ASCII_PAIRS:
            if char in text:
                text = text.replace(char, ascii_char)
    return text.lower()


def _lowered(rx: re.Pattern[str]) -> re.Pattern[str]:
    """``rx`` for text already folded by ``_fold``: several times faster than re.I.

    Only literal text is lower-cased; escapes (``\\S``, ``\\(``) keep their meaning.
    """
    pattern = re.sub(
        r"\\.|[^\\]+",
        lambda m: m.group(0) if m.group(0)[0] == "\\" else m.group(0).lower(),
        rx.pattern,
    )
    return re.compile(pattern, rx.flags & ~re.I)


# Speed only: a case-insensitive vendor pattern can match only where its leading words
# are in the lower-cased text. These are the non-ASCII characters re.IGNORECASE takes
# for ASCII letters, so lower-casing after this mapping misses no match.
_FOLD_TO_ASCII_PAIRS = (("\u0130", "i"), ("\u0131", "i"), ("\u212a", "k"), ("\u017f", "s"))
_LITERAL = re.compile(r"[A-Za-z0-9 ',:-]*")
_LOWER = {rx: _lowered(rx) for rx in (_COPY_RE, _WORDING_RE, _INTRO_RE, _DELAY_RE, _SUCCESS_RE)}


@functools.lru_cache(maxsize=64)
def _needles(rx: re.Pattern[str]) -> tuple[str, ...]:
    """Lower-cased words one of which starts every match of ``rx``; () when unknown."""
    pattern = rx.pattern
    if rx.flags & re.X or not rx.flags & re.I or "[" in pattern or "\\\\" in pattern:
        return ()  # only plain patterns, where counting parentheses finds the groups
    cuts, depth = [-1], 0
    for i, char in enumerate(pattern):
        if i and pattern[i - 1] == "\\":
            continue
        depth += (char == "(") - (char == ")")
        if char == "|" and depth == 0:
            cuts.append(i)  # an alternative at the top: each has its own start
    cuts.append(len(pattern))
    needles = []
    for begin, stop in itertools.pairwise(cuts):
        branch = pattern[begin + 1 : stop]
        words = _LITERAL.match(branch)
        literal = words.group(0) if words else ""
        if branch[len(literal) : len(literal) + 1] in ("?", "*", "+", "{"):
            literal = literal[:-1]  # the quantifier applies to the last character
        if len(literal) < 4:
            return ()
        needles.append(literal.lower())
    return tuple(needles)


def _may_match(rx: re.Pattern[str], folded: str) -> bool:
    needles = _needles(rx)
    return not needles or any(n in folded for n in needles)


def text_bounce(msg: Message, text: str, subject: str, *, known: bool = False) -> TextBounce | None:
    """Recognise a bounce written as prose; None when nothing says it is one.

    ``known``: the message is a bounce already (a delivery report whose status
    part was unusable); only the reading is wanted.
    """
    hint = sender_hint(msg)
    folded = _fold(text)
    vendor: str | None = None
    # Exim (and Gmail) write X-Failed-Recipients on bounces only.
    known = known or bool(failed_recipients_field(msg))
    if not known:
        # RFC 3834 §3.3 asks auto-responders for a null Return-Path too: from a
        # person's address, that hint alone is weak ("I cannot be reached until …").
        weak = hint and not daemon_sender(msg)
        if _FORWARD_RE.match(subject) and (weak or not hint):
            # A person forwarding a bounce to us ("FW: Undeliverable: …"), or
            # answering one with it quoted ("RE: failure notice"), is not one.
            return None
        vendor = next(
            (name for name, rx in _VENDORS if _may_match(rx, folded) and rx.search(text)), None
        )
        if vendor == "generic" and not hint:
            # Generic wording ("投递失败", "Mail delivery failed") also appears in
            # ordinary mail about a bounce; only a daemon or null sender confirms it.
            return None
        if vendor is None:
            if not hint or _AUTO_SUBJECT_RE.match(subject):
                return None  # an out-of-office reply is no bounce, whatever it says
            cut = _copy_start(folded)
            if weak and not (_SUBJECT_HINT_RE.search(subject) or _STATUS_RE.search(text, 0, cut)):
                return None
            if not (
                _LOWER[_WORDING_RE].search(folded, 0, cut)
                or _SUBJECT_HINT_RE.search(subject)
                or _WORDING_RE.search(subject)
            ):
                return None
    return _read(msg, text, folded, vendor or "prose")


# Subjects of automatic replies (the prefixes classify's auto-reply test knows best).
_AUTO_SUBJECT_RE = re.compile(
    r"^\W*(?:automatic reply|auto(?:matic)?[ -]?(?:reply|response)|autoreply|out of (?:the )?office"
    r"|automatische antwort|abwesenheitsnotiz|réponse automatique|respuesta automática"
    r"|risposta automatica|resposta automática|automatisch antwoord|自动回复|自動回覆|自動応答)",
    re.I,
)


def _read(msg: Message, text: str, folded: str, vendor: str) -> TextBounce:
    cut = _copy_start(folded)
    report, quoted = text[:cut], text[cut:]
    if _LOWER[_SUCCESS_RE].search(folded, 0, cut):
        action = "delivered"
    elif _LOWER[_DELAY_RE].search(folded, 0, cut):
        action = "delayed"
    else:
        action = "failed"
    own = _own_addresses(msg, quoted)
    result = TextBounce(vendor=vendor)
    lines = report.splitlines()
    listed = failed_recipients_field(msg)
    if listed:
        found = {a.lower(): a for a in listed}
        candidates = [(i, a) for i, a in _candidates(lines, folded, own) if a.lower() in found]
        at = {a.lower(): i for i, a in reversed(candidates)}
        for address in listed:
            result.recipients.append(
                _recipient(lines, at.get(address.lower()), address, own, action)
            )
    else:
        for i, address in _candidates(lines, folded, own):
            result.recipients.append(_recipient(lines, i, address, own, action))
    if not result.recipients:
        # The text names nobody ("Your message could not be delivered."): a returned
        # original sent to one address says whom it failed for.
        only = _sole_original_recipient(msg, quoted, own)
        if only is not None:
            result.recipients.append(
                {"address": only, "action": action, "status": "", "diagnostic": ""}
            )
    # Exchange prints the status far below the address ("Diagnostic information
    # for administrators"): the address again, its code on the next lines.
    if len(result.recipients) > 1:
        for rcpt in result.recipients:
            if not rcpt["status"]:
                rcpt["status"], diagnostic = _later_status(lines, rcpt["address"], own)
                rcpt["diagnostic"] = rcpt["diagnostic"] or diagnostic
    # With one recipient, a code anywhere is its code.
    for rcpt in result.recipients:
        if not rcpt["status"] and len(result.recipients) == 1:
            rcpt["status"] = refine_status(find_status(report) or "", report)
            rcpt["diagnostic"] = rcpt["diagnostic"] or _diagnostic(lines)
        if not rcpt["status"]:
            generic = {"delayed": "4.0.0", "delivered": "2.0.0"}.get(action, "5.0.0")
            alone = len(result.recipients) == 1
            rcpt["status"] = refine_status(generic, rcpt["diagnostic"] or (report if alone else ""))
    if quoted:
        result.original_message_id = headers_message_id(quoted)
    return result


def _sole_original_recipient(msg: Message, quoted: str, own: set[str]) -> str | None:
    """The one To/Cc address of the returned original (attached or quoted), else None."""
    _, original = attached_original(msg)
    if original is None and quoted:
        start = quoted.find("\n") + 1  # the copy marker's own line
        original = HeaderParser().parsestr(quoted[start:].lstrip("\n")[:20000])
    if original is None:
        return None
    fields = [str(v) for name in ("To", "Cc") for v in original.get_all(name, [])]
    found = {clean_address(a).lower(): clean_address(a) for _, a in getaddresses(fields)}
    found = {k: v for k, v in found.items() if "@" in k and k not in own}
    return next(iter(found.values())) if len(found) == 1 else None


def _copy_start(folded: str) -> int:
    """Where the returned copy of the original starts (its line), else the end of the text."""
    found = _LOWER[_COPY_RE].search(folded)
    return folded.rfind("\n", 0, found.start()) + 1 if found else len(folded)


def _own_addresses(msg: Message, quoted: str) -> set[str]:
    """The bounce's own From/To and the returned original's sender: never failed recipients."""
    fields = [str(v) for name in ("From", "To", "Sender") for v in msg.get_all(name, [])]
    own = {clean_address(m.group(0)).lower() for f in fields for m in _ADDR_RE.finditer(f)}
    for line in quoted.splitlines()[:60]:
        if _SENDER_LINE_RE.match(line):
            own |= {clean_address(m.group(0)).lower() for m in _ADDR_RE.finditer(line)}
    return own


def _candidates(lines: list[str], folded: str, own: set[str]) -> list[tuple[int, str]]:
    """(line number, address) of every failed recipient the failure list names, in order."""
    # ``lines`` are the report's, the start of ``folded``: line numbers agree.
    intro = _LOWER[_INTRO_RE].search(folded)
    start = folded.count("\n", 0, intro.start()) if intro else 0
    if start >= len(lines):
        start = 0
    found = _scan(lines, start, own)
    if not found and start:
        found = _scan(lines, 0, own)  # the address came before the wording
    return found


def _scan(lines: list[str], start: int, own: set[str]) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    seen: set[str] = set()
    for i in range(start, len(lines)):
        line = lines[i]
        if "@" not in line or _SENDER_LINE_RE.match(line):
            continue
        if _TO_LINE_RE.match(line) and _in_summary(lines, i):
            continue
        stop = _NOT_AFTER_RE.search(line)
        for m in _ADDR_RE.finditer(line):
            if stop and m.start() >= stop.start():
                break
            if line[max(0, m.start() - 1) : m.start()] == "<" and _looks_like_msgid(line, m):
                continue
            address = clean_address(m.group(0))
            key = address.lower()
            if "@" not in address or key in seen or key in own or _DAEMON_ADDR_RE.match(address):
                continue
            seen.add(key)
            out.append((i, address))
    return out


def _in_summary(lines: list[str], i: int) -> bool:
    near = lines[max(0, i - 3) : i + 4]
    return any(_SUMMARY_LINE_RE.match(line) or _SENDER_LINE_RE.match(line) for line in near)


def _looks_like_msgid(line: str, m: re.Match[str]) -> bool:
    # "<20240501.abc123@host>" with nothing person-like about it, right after "id".
    before = line[: m.start()].lower()
    return before.rstrip("< \t").endswith(("id", "id:", "ids", "references:"))


def _recipient(
    lines: list[str], i: int | None, address: str, own: set[str], action: str
) -> Recipient:
    if i is None:
        return {"address": address, "action": action, "status": "", "diagnostic": ""}
    line = lines[i]
    window = _window(lines, i, address.lower(), own)
    at = line.lower().find(address.lower())
    around = "\n".join(window)
    status = find_status(line[at + len(address) :] if at >= 0 else line) or find_status(around)
    status = refine_status(status, around) if status else None
    return {
        "address": address,
        "action": action,
        "status": status or "",
        "diagnostic": _diagnostic(window),
    }


def _window(lines: list[str], start: int, key: str, own: set[str]) -> list[str]:
    """Up to 8 lines from ``start``, ending before a line that names another recipient."""
    out = [lines[start]]
    for line in lines[start + 1 : start + 8]:
        stop = _NOT_AFTER_RE.search(line)
        end = stop.start() if stop else len(line)
        others = {clean_address(m.group(0)).lower() for m in _ADDR_RE.finditer(line, 0, end)}
        if others - own - {key}:
            break
        out.append(line)
    return out


def _later_status(lines: list[str], address: str, own: set[str]) -> tuple[str, str]:
    """(status, diagnostic) from a later mention of ``address`` in its own block."""
    key = address.lower()
    seen = False
    for i, line in enumerate(lines):
        if key not in line.lower():
            continue
        if not seen:
            seen = True  # the failure list itself: its status was looked at already
            continue
        window = _window(lines, i, key, own)[:4]
        status = find_status("\n".join(window))
        if status:
            return status, _diagnostic(window)
    return "", ""


def _diagnostic(lines: list[str]) -> str:
    """The first line in ``lines`` that carries an SMTP reply or status code."""
    for line in lines:
        if _STATUS_RE.search(line) or _SMTP_CODE_RE.search(line):
            return re.sub(r"\s+", " ", line).strip()
    return ""
