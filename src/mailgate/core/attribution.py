"""Where quoted history starts in a reply: attribution lines, separators, copied headers.

Mail clients introduce the history they quote in one of three ways, none standard:

* an **attribution line** naming the author and date: "On <date>, <name> wrote:",
  "Am <date> schrieb <name>:", "Le <date>, <name> a écrit :", "在 <date>，<name>
  写道：", the date-first form without a verb "2016-10-24 15:36 GMT+02:00 Name
  <a@b>:", … Clients wrap it over two to four lines, glue it onto the end of the
  last reply line, put dashes around it, or leave out "On" or the colon;
* a **separator line**: "-----Original Message-----", "-----Mensaje original-----",
  "-------- Message d'origine --------", Outlook's line of underscores;
* a **copied header block**: "From: / Sent: / To: / Subject:" and its translations
  ("De : / Envoyé : / À : / Objet :", "Von / Gesendet / An / Betreff", "发件人 /
  发送时间 / 收件人 / 主题", …), possibly starting with "Date:".

Forward markers ("---------- Forwarded message ---------", "Begin forwarded
message:") are told apart: what follows them is content the sender means us to read.

An attribution is accepted only with evidence: its verb (or, verbless, an address
and a colon) must end it, it must carry a date, time or address, and without a
colon the next line must be quoted. A line of the reply that merely contains
"wrote" therefore never cuts the reply. Every pattern is anchored and bounded, so
a long line costs linear time.
"""

from __future__ import annotations

import re

__all__ = [
    "Attribution",
    "attribution_at",
    "is_forward_marker",
    "is_separator",
    "may_end_attribution",
    "starts_header_block",
]

# Lines longer than this are prose, not an attribution fragment.
_MAX_LINE = 300
_MAX_WRAP = 4

_DASHES = "-–—_*=~ \t"

# Verbs that end an attribution, the colon optional when a quote follows.
_VERB_END = re.compile(
    r"(?:\bwrote|\bhas written|\ba écrit|\bescribió|\bescreveu|\bha scritto|\bnapisał(?:\(a\)|a)?"
    r"|\bnapsal(?:\(a\)|a)?|\bpisze|\bпишет|\bнаписал(?:\(а\)|а|и)?|\bkirjoitti|\byazdı|\bírta"
    r"|写道|寫道|のメッセージ|書きました|작성)"
    r"\s*[:：]?$",
    re.I,
)
# Verbs followed by the author or date before the colon: "schrieb Acme <a>:".
_VERB_TAIL = re.compile(
    r"(?:\bschrieb|\bschreef|\bskrev|\bkirjoitti)\b(?:[^:：]|[:：](?=\d)){0,160}[:：]$",
    re.I,
)
# Verbless: an address (or "<a>") right before the colon.
_VERBLESS = re.compile(
    r"(?:<[^<>\s]{1,200}@[^<>\s]{1,200}>|[^\s<>]{1,200}@[^\s<>:]{1,200})\s*[:：]$"
)
_YEAR = re.compile(r"(?<!\d)(?:19|20)\d\d(?!\d)")
_TIME = re.compile(r"(?<!\d)\d{1,2}[:.]\d\d(?!\d)")
_NUMERIC_DATE = re.compile(r"(?<!\d)\d{1,4}[-/.年]\d{1,2}(?:[-/.月]\d{1,4})?(?!\d)")
# Words an attribution starts with, by language.
_START = re.compile(
    r"(?:On|Am|Le|El|Em|Il|Op|W dniu|Dne|Den|På|在|於|于)(?=\s|\d)",
)
_GLUE_BEFORE = re.compile(r"[.!?。！？)\]]\s*$|\s{2,}$")


class Attribution:
    """An attribution found at a line: it spans lines ``[start, end)``; ``column`` > 0
    when it is glued onto the end of a reply line (that line's text before it is kept)."""

    __slots__ = ("column", "end")

    def __init__(self, end: int, column: int) -> None:
        self.end = end
        self.column = column


def may_end_attribution(line: str) -> bool:
    """Cheap test that ``line`` could be the last line of an attribution."""
    tail = line.rstrip()
    if not tail or len(tail) > _MAX_LINE:
        return False
    last = tail[-1]
    if last in ":：-—_*=~":
        return True
    return bool(_VERB_END.search(tail[-24:]))


def attribution_at(lines: list[str], ends: list[bool], i: int) -> Attribution | None:
    """The attribution starting on line ``i`` (normalised lines), or None.

    ``ends[j]`` is ``may_end_attribution(lines[j])``, computed once by the caller.
    """
    para_start = i == 0 or not lines[i - 1].strip() or lines[i - 1].lstrip().startswith(">")
    parts: list[str] = []
    for k in range(_MAX_WRAP):
        j = i + k
        if j >= len(lines):
            return None
        line = lines[j].strip()
        if not line or line.startswith(">") or len(line) > _MAX_LINE:
            return None
        parts.append(line)
        if not ends[j]:
            continue
        column = _match(" ".join(parts), len(parts[0]), _quote_follows(lines, j + 1), para_start)
        if column is not None:
            return Attribution(j + 1, column)
    return None


def _quote_follows(lines: list[str], j: int) -> bool:
    for line in lines[j : j + 3]:
        if line.strip():
            return line.lstrip().startswith(">")
    return False


def _match(cand: str, first_len: int, quoted: bool, para_start: bool) -> int | None:
    """Column where an attribution starts in ``cand`` (0: the whole), or None."""
    core = cand.rstrip(_DASHES)
    dashed = len(cand) - len(core) >= 2 and cand.rstrip().endswith(("--", "——", "__", "**"))
    lead = len(core) - len(core.lstrip(_DASHES))
    core = core[lead:]
    if dashed and not core.endswith((":", "：")):
        core += ":"
    colon = core.endswith((":", "："))
    if not colon and not quoted:
        return None
    if not (_VERB_END.search(core) or _VERB_TAIL.search(core) or _verbless(core)):
        return None
    if not _evidence(core, quoted):
        return None
    if _START.match(core):
        return 0
    # Glued onto the end of the reply's last line: "Thanks! On Fri, … wrote:".
    for m in _START.finditer(core, 1, min(first_len, len(core))):
        if _GLUE_BEFORE.search(core[: m.start()]) and _evidence(core[m.start() :], quoted):
            return lead + m.start()
    if para_start and not _prose_before(cand, first_len):
        return 0
    return None


def _verbless(core: str) -> bool:
    return bool(_VERBLESS.search(core)) and bool(_YEAR.search(core)) and bool(_TIME.search(core))


def _evidence(core: str, quoted: bool) -> bool:
    """A date, a time or an address; with a quote following, any digit will do."""
    if "@" in core or "mailto:" in core:
        return True
    if _YEAR.search(core) or _TIME.search(core) or _NUMERIC_DATE.search(core):
        return True
    return quoted and any(c.isdigit() for c in core)


def _prose_before(cand: str, first_len: int) -> bool:
    """The first line of a wrapped candidate reads as a finished sentence of the reply."""
    first = cand[:first_len].rstrip()
    return first_len < len(cand) and first[-1:] in ".!?。！？"


# --- separators and forward markers -----------------------------------------------

_ORIGINAL = (
    r"Original Message|Original|Mensaje original|Message d'origine|Message original"
    r"|Ursprüngliche Nachricht|Originalnachricht|Messaggio originale|Oorspronkelijk bericht"
    r"|Origineel bericht|Ursprungligt meddelande|Originalmeddelande|Opprinnelig melding"
    r"|Oprindelig meddelelse|Original meddelelse|Alkuperäinen viesti|Исходное сообщение"
    r"|Оригинальное сообщение|Mensagem original|Wiadomość oryginalna|Oryginalna wiadomość"
    r"|Původní zpráva|Eredeti üzenet|Orijinal İleti|Orijinal mesaj|Reply message"
    r"|Previous message|原始邮件|邮件原件|原邮件|原始郵件|原始信件|元のメッセージ|원본 메시지"
)
_RULE_BEFORE = r"^[-_=*\s]{0,40}[-_=]{2,}\s*"
_RULE_AFTER = r"\s*[-_=*]{2,}[-_=*\s]{0,40}$"
_SEPARATOR_RE = re.compile(rf"{_RULE_BEFORE}(?:{_ORIGINAL}){_RULE_AFTER}|^_{{20,}}$", re.I)
_FORWARD = (
    r"Forwarded message|Forwarded Message|Weitergeleitete Nachricht|Message transféré"
    r"|Message transmis|Mensaje reenviado|Messaggio inoltrato|Doorgestuurd bericht"
    r"|Vidarebefordrat meddelande|Videresendt melding|Videresendt meddelelse|Välitetty viesti"
    r"|Пересылаемое сообщение|Пересланное сообщение|Mensagem encaminhada|Wiadomość przekazana"
    r"|Přeposlaná zpráva|转发邮件|轉寄郵件|转发的邮件|転送メッセージ|전달된 메시지"
)
_FORWARD_RE = re.compile(
    rf"{_RULE_BEFORE}(?:{_FORWARD}){_RULE_AFTER}"
    r"|^(?:Begin forwarded message|Anfang der weitergeleiteten Nachricht"
    r"|Début du message réexpédié|Inicio del mensaje reenviado|Inizio messaggio inoltrato"
    r"|Begin doorgestuurd bericht|Vidarebefordrat brev|Início da mensagem reencaminhada"
    r"|Начало переадресованного сообщения|以下是转发的邮件|转发的邮件|転送されたメッセージ)"
    r"\s*[:：]$",
    re.I,
)


def is_separator(line: str) -> bool:
    """A line that opens the quoted original: "-----Original Message-----" and kin."""
    s = line.strip()
    return len(s) <= 120 and bool(_SEPARATOR_RE.match(s))


def is_forward_marker(line: str) -> bool:
    """A line that opens forwarded content (kept: it is what the sender wants read)."""
    s = line.strip()
    return len(s) <= 120 and bool(_FORWARD_RE.match(s))


# --- copied header blocks -----------------------------------------------------------

_FROM_KEYS = (
    r"From|De|Von|Da|Van|Från|Fra|От|Od|Lähettäjä|Kimden|Feladó|Afsender|Avsender"
    r"|发件人|寄件者|寄件人|差出人|보낸 사람"
)
_OTHER_KEYS = (
    r"Sent|Date|To|Cc|Bcc|Subject|Reply-To|Envoyé|À|Objet|Gesendet|Datum|An|Betreff|Kopie"
    r"|Inviato|Data|A|Oggetto|Verzonden|Aan|Onderwerp|Skickat|Till|Ämne|Kopia|Sendt|Til|Emne"
    r"|Отправлено|Дата|Кому|Тема|Копия|Enviado|Enviada|Para|Asunto|Assunto|Fecha|Wysłano"
    r"|Wysłane|Do|Temat|DW|Lähetetty|Vastaanottaja|Aihe|Gönderildi|Kime|Konu|Tárgy|Elküldve"
    r"|Címzett|发送时间|日期|时间|收件人|抄送|主题|寄件日期|收件者|副本|主旨|送信日時|宛先|件名"
    r"|받는 사람|보낸 날짜|제목"
)
_HEADER_RE = re.compile(
    rf"^\s*[*_]{{0,2}}(?:({_FROM_KEYS})|(?:{_OTHER_KEYS}))[*_]{{0,2}}\s{{0,3}}[*_]{{0,2}}[:：]",
    re.I,
)


def starts_header_block(lines: list[str], i: int) -> bool:
    """Line ``i`` opens a copied header block: a From line and two more header lines
    among the next few, or a block that starts with another field ("Date:")."""
    first = _HEADER_RE.match(lines[i])
    if first is None:
        return False
    window = [ln for ln in lines[i : i + 9] if ln.strip()][:6]
    found = [m for m in (_HEADER_RE.match(ln) for ln in window) if m is not None]
    has_from = any(m.group(1) for m in found)
    return has_from and len(found) >= 3
