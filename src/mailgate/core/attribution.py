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
and a colon) must end it, it must carry a date, time or address (a short one
ending in a colon may go without when a ">" quote follows: "Acme Support
wrote:"), and without a colon the next line must be quoted. A line of the reply
that merely contains "wrote" therefore never cuts the reply: at most a line such
as "As I wrote:" right above a quote goes with the quote. Every pattern is anchored and bounded, so
a long line costs linear time.
"""

from __future__ import annotations

import re

__all__ = [
    "Attribution",
    "attribution_at",
    "is_forward_marker",
    "is_groupwise_attribution",
    "is_separator",
    "may_end_attribution",
    "starts_header_block",
]

# Lines longer than this are prose, not an attribution fragment.
_MAX_LINE = 300
_MAX_WRAP = 4

_DASHES = "-–—_*=~ \t"

# Verbs that end an attribution, the colon optional when a quote follows.
# Verbs that end an attribution, the colon optional when a quote follows.
_VERBS = (
    "wrote", "has written", "a écrit", "escribió", "escreveu", "ha scritto", "napisał",
    "napisał(a)", "napisała", "napsal", "napsal(a)", "napsala", "napísal", "napisao",
    "napisala", "pisze", "пишет", "написал", "написала", "написали", "написал(а)", "написав",
    "kirjoitti", "yazdı", "írta", "geschreven", "menulis", "έγραψε", "a scris", "kirjutas",
    "rašė", "rakstīja", "đã viết", "va escriure", "כתב", "كتب",
    # Gendered forms written with a slash, and more languages.
    "napisao/la", "napisal/a", "napisał/a", "napísal(a)", "napísala", "כתב/ה", "כתבה",
    "пише", "написав(ла)", "نوشت", "เขียนว่า", "skrifaði",
)  # fmt: skip
# Chinese, Japanese and Korean verbs follow a name or date without a space.
_VERBS_CJK = ("写道", "寫道", "のメッセージ", "のメール", "書きました", "작성")
_VERB_END = re.compile(
    r"(?:(?<![^\W\d_])(?:"
    + "|".join(re.escape(v) for v in sorted(_VERBS, key=len, reverse=True))
    + ")|"
    + "|".join(_VERBS_CJK)
    + r")\s*[:：]?$",
    re.I,
)
# Verbs followed by the author or date before the colon: "schrieb Acme <a>:", Lotus
# Notes' "Acme <a> wrote on 01/01/2024 10:00:00 AM:", Gmail's Hungarian "ezt írta
# (időpont: 2024. jan. 1., H, 10:00):".
_VERB_TAIL = re.compile(
    r"(?:\bschrieb|\bschreef|\bskrev|\bkirjoitti|\bwrote on|\bírta)\b"
    r"(?:[^:：]|[:：](?=\s?\d)){0,160}[:：]$",
    re.I,
)
# Verbs that open the line (Horde/IMP and its translations): "Quoting Acme <a@b>:".
_LEAD_VERB = re.compile(
    r"(?:Quoting|Zitat von|Citando(?: a)?|Citation de|Citation|Cytuję|Citerar|Citeren)\s"
    r"[^:：]{1,200}\s?[:：]$",
    re.I,
)
# GroupWise: ">>> Acme Support <a@b> 01/01/2024 10:00 >>>" (no verb, arrows both ends).
_GROUPWISE = re.compile(r">>>\s[^>]{0,200}(?:<[^<>]{1,200}>[^>]{0,100})?>>>")
# Verbless: an address (or "<a>") right before the colon.
# Verbless: the last word before the colon is an address, bare or in "<>" / "()".
_VERBLESS = re.compile(r"[(<]?[^\s<>()]{1,200}@[^\s<>():]{1,200}[)>]?[:：]$")
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


# For a cheap test of a line's end (no regex per line).
_VERB_WORDS = _VERBS + _VERBS_CJK


def may_end_attribution(line: str) -> bool:
    """Cheap test that ``line`` could be the last line of an attribution."""
    tail = line.rstrip()
    if not tail or len(tail) > _MAX_LINE:
        return False
    if tail[-1] in ":：-—_*=~" or (tail[-1] == ">" and "@" in tail):
        return True
    return tail[-12:].lower().endswith(_VERB_WORDS)


def attribution_at(lines: list[str], ends: list[bool | None], i: int) -> Attribution | None:
    """The attribution starting on line ``i`` (normalised lines), or None.

    ``ends[j]`` caches ``may_end_attribution(lines[j])`` (None: not computed yet).
    """
    # Cheap first: some line of the next few (before a blank) must end like one.
    stop = i + _MAX_WRAP if i + _MAX_WRAP < len(lines) else len(lines)
    for j in range(i, stop):
        end = ends[j]
        if end is None:
            end = ends[j] = may_end_attribution(lines[j])
        if end:
            break
        if not lines[j] or lines[j].isspace():
            return None
    else:
        return None
    para_start = i == 0 or not lines[i - 1].strip() or lines[i - 1].lstrip().startswith(">")
    parts: list[str] = []
    for j in range(i, min(i + _MAX_WRAP, len(lines))):
        line = lines[j].strip()
        if not line or len(line) > _MAX_LINE:
            return None
        # Gmail may wrap right before the ">" that closes the address: "<a@b\n> wrote:".
        if line.startswith(">") and not (
            parts
            and parts[-1].rfind("<") > parts[-1].rfind(">")
            and len(line) <= 40
            and may_end_attribution(line)
        ):
            return None
        if j == i + 1 and not para_start and not _START.search(parts[0]):
            return None  # wrapped, but its first line starts no paragraph and no attribution
        if parts and not _wraps_on(parts, line):
            return None
        parts.append(line)
        end = ends[j]
        if end is None:
            end = ends[j] = may_end_attribution(line)
        if not end:
            continue
        column = _match(" ".join(parts), len(parts[0]), _quote_follows(lines, j + 1), para_start)
        if column is not None:
            return Attribution(j + 1, column)
    return None


_WRAPPED_ADDRESS = re.compile(
    r"[^:：]{0,120}[<\[(](?:mailto:)?[^\s<>@]{1,100}@[^\s<>]{1,100}[>\])]"
)


def _wrapped_address(line: str) -> bool:
    """The rest of a wrapped header value: "<a@b>", "Jane Roe <a@b>", "[mailto:a@b]"."""
    s = line.strip().rstrip(";,")
    return len(s) <= 200 and "@" in s and s[-1:] in ">])" and _WRAPPED_ADDRESS.match(s) is not None


def _wraps_on(parts: list[str], line: str) -> bool:
    """``line`` may continue the wrapped attribution ``parts``.

    Not after a line that ends a sentence ("Thanks!") or copies a header field
    ("From: …"), and past two lines only when it opens with "On"/"Am"/"在"…: a
    client wraps one long line, it does not gather the lines of a reply (which a
    second pass would see side by side once the quotes between them are gone).
    """
    last = parts[-1]
    if last[-1] in "!?！？。" or (len(parts) == 1 and _header_key(last) is not None):
        return False
    return len(parts) < 2 or _START.match(parts[0]) is not None


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
    # Each pattern is anchored at the end: search only the tail that can match.
    n = len(core)
    if not (
        _VERB_END.search(core, max(0, n - 25))
        or (colon and _tail_verb(core[-200:].lower()) and _VERB_TAIL.search(core, max(0, n - 200)))
        or _verbless(core if colon else core + ":", quoted)
        # Mutt: "* Name <a@b> [2024-03-04 10:00:00 +0000]:" over a quote.
        or (colon and quoted and "@" in core and _YEAR.search(core) and _TIME.search(core))
        or (colon and "@" in core and _LEAD_VERB.match(core) and _ends_with_address(core))
    ):
        return None
    # "Acme Support wrote:" (Thunderbird without the date) over a quote is enough.
    if not (quoted and colon and len(core) <= 80) and not _evidence(core, quoted):
        return None
    if _START.match(core):
        return 0
    # Glued onto the end of the reply's last line: "Thanks! On Fri, … wrote:".
    for m in _START.finditer(core, 1, min(first_len, len(core))):
        if _GLUE_BEFORE.search(core[: m.start()]) and _evidence(core[m.start() :], False):
            return lead + m.start()
    if para_start and not _prose_before(cand, first_len):
        return 0
    return None


def _tail_verb(low: str) -> bool:
    return (
        "schrieb" in low
        or "schreef" in low
        or "skrev" in low
        or "kirjoitti" in low
        or "wrote on" in low
        or "írta" in low
    )


def _ends_with_address(core: str) -> bool:
    """The last word before the colon is an address ("… <a@b>:", "… a@b :")."""
    words = core[:-1].rstrip().rsplit(None, 1)
    return bool(words) and _VERBLESS.match(words[-1] + ":") is not None


def is_groupwise_attribution(line: str) -> bool:
    """GroupWise's ">>> Name <a@b> 01/01/2024 10:00 >>>": it carries a date or time."""
    s = line.strip()
    if not (s.startswith(">>>") and s.endswith(">>>")) or len(s) > _MAX_LINE:
        return False
    return _GROUPWISE.fullmatch(s) is not None and bool(_TIME.search(s) or _NUMERIC_DATE.search(s))


def _verbless(core: str, quoted: bool) -> bool:
    """Ends "<a@b>:" (or "a@b:") and carries a year and a time (over a quote, the
    year is enough and the colon may lack: old Gmail's "2013/7/20 Name <a@b>")."""
    words = core[:-1].rsplit(None, 1)
    if not words or "@" not in words[-1] or not _VERBLESS.match(words[-1] + ":"):
        return False
    return bool(_YEAR.search(core)) and (quoted or bool(_TIME.search(core)))


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
_SEPARATOR_RE = re.compile(rf"(?:{_ORIGINAL})", re.I)
_FORWARD = (
    r"Forwarded message|Forwarded Message|Weitergeleitete Nachricht|Message transféré"
    r"|Message transmis|Mensaje reenviado|Messaggio inoltrato|Doorgestuurd bericht"
    r"|Vidarebefordrat meddelande|Videresendt melding|Videresendt meddelelse|Välitetty viesti"
    r"|Пересылаемое сообщение|Пересланное сообщение|Mensagem encaminhada|Wiadomość przekazana"
    r"|Přeposlaná zpráva|转发邮件|轉寄郵件|转发的邮件|転送メッセージ|전달된 메시지"
)
_FORWARD_RE = re.compile(rf"(?:{_FORWARD})", re.I)
_FORWARD_INTRO_RE = re.compile(
    r"(?:Begin forwarded message|Anfang der weitergeleiteten Nachricht"
    r"|Début du message réexpédié|Inicio del mensaje reenviado|Inizio messaggio inoltrato"
    r"|Begin doorgestuurd bericht|Vidarebefordrat brev|Início da mensagem reencaminhada"
    r"|Начало переадресованного сообщения|以下是转发的邮件|转发的邮件|転送されたメッセージ)"
    r"\s*[:：]",
    re.I,
)
_RULE = "-_=*~ \t"


def _between_rules(s: str) -> str | None:
    """The words of a line like "-----Original Message-----", or None.

    Rule characters are stripped in Python, not by the pattern: a regex with
    optional runs of them on both sides backtracks badly on a long rule line.
    """
    words = s.strip(_RULE)
    if not words or len(s) > 120:
        return None
    before = s[: s.find(words)]
    after = s[len(before) + len(words) :]
    if sum(before.count(c) for c in "-_=") < 2 or sum(after.count(c) for c in "-_=*") < 2:
        return None
    return words


def is_separator(line: str) -> bool:
    """A line that opens the quoted original: "-----Original Message-----" and kin."""
    s = line.strip()
    if s[:1] not in ("-", "_", "=", "*"):
        return False
    if len(s) >= 20 and not s.strip("_"):
        return True  # Outlook's rule of underscores
    words = _between_rules(s)
    return words is not None and _SEPARATOR_RE.fullmatch(words) is not None


def is_forward_marker(line: str) -> bool:
    """A line that opens forwarded content (kept: it is what the sender wants read)."""
    s = line.strip()
    if not s or len(s) > 120:
        return False
    if s[0] in "-_=*":
        words = _between_rules(s)
        return words is not None and _FORWARD_RE.fullmatch(words) is not None
    return s[-1] in ":：" and _FORWARD_INTRO_RE.fullmatch(s) is not None


# --- copied header blocks -----------------------------------------------------------

_FROM_KEYS = (
    r"From|De|Von|Da|Van|Från|Fra|Frá|От|Від|Od|Lähettäjä|Kimden|Gönderen|Feladó|Afsender"
    r"|Avsender|Afzender|Expéditeur|Remitente|Mittente|Absender|De la|Dari|Από|Šalje"
    r"|发件人|寄件者|寄件人|差出人|보낸 사람"
)
_OTHER_KEYS = (
    r"Sent|Date|To|Cc|Bcc|Subject|Reply-To|Envoyé|À|Objet|Gesendet|Datum|An|Betreff|Kopie"
    r"|Inviato|Data|A|Oggetto|Verzonden|Aan|Onderwerp|Skickat|Till|Ämne|Kopia|Sendt|Til|Emne"
    r"|Отправлено|Дата|Кому|Тема|Копия|Enviado el|Enviado em|Enviada em|Enviado|Enviada"
    r"|Para|Asunto|Assunto|Fecha|Wysłano"
    r"|Wysłane|Do|Temat|DW|Lähetetty|Vastaanottaja|Aihe|Gönderildi|Kime|Konu|Tárgy|Elküldve"
    r"|Címzett|发送时间|日期|时间|收件人|抄送|主题|寄件日期|收件者|副本|主旨|送信日時|宛先|件名"
    r"|받는 사람|보낸 날짜|제목|Odesláno|Komu|Předmět|Kopie|Trimis|Către|Subiect|Dikirim"
    r"|Kepada|Perihal|Tanggal|Στάλθηκε|Προς|Θέμα|Κοιν|Надіслано|Empfänger|Destinataire"
    r"|Envoyé le|Date d'envoi|Poslano|Prima|Naslov"
)
_FROM_SET = frozenset(k.lower() for k in _FROM_KEYS.split("|"))
_OTHER_SET = frozenset(k.lower() for k in _OTHER_KEYS.split("|"))


def _header_key(line: str) -> str | None:
    """The field name of a copied header line ("From: …", "*Sent:* …", "De : …"), or None."""
    head = line[:32]
    colon = head.find(":")
    wide = head.find("：")
    if colon < 0 or (0 <= wide < colon):
        colon = wide
    if colon <= 0:
        return None
    key = head[:colon].strip(" \t*_").lower()
    return key if key in _FROM_SET or key in _OTHER_SET else None


def starts_header_block(lines: list[str], i: int, ends: list[bool | None] | None = None) -> bool:
    """Line ``i`` opens a copied header block: three or more different header fields
    in a row, one of them From; the block may start with another field ("Date:").

    With ``ends`` (``attribution_at``'s cache), an attribution over a ">" quote
    between two fields is skipped as well: extract_reply drops both, and the
    fields it would bring together must get the same verdict now as on a second pass.
    """
    if _header_key(lines[i]) is None:
        return False
    # Consecutive header lines; blank and ">" lines between them are skipped (so
    # the verdict is the same once quotes are gone: extract_reply stays idempotent).
    keys: set[str] = set()
    count = wrapped = 0
    j, stop = i, min(i + 16, len(lines))
    while j < stop:
        ln = lines[j]
        j += 1
        if not ln.strip() or ln.lstrip().startswith(">"):
            continue
        key = _header_key(ln)
        if key is None and count and wrapped < 3 and _wrapped_address(ln):
            wrapped += 1  # a long From/To value wrapped before its "<address>"
            continue
        if key is None and ends is not None and count:
            found = attribution_at(lines, ends, j - 1)
            if found is not None and _quote_follows(lines, found.end):
                j, stop = found.end, min(found.end + 16, len(lines))
                continue
        if key is None or count == 6:
            break
        keys.add(key)
        count += 1
    has_from = not keys.isdisjoint(_FROM_SET)
    return has_from and len(keys) >= 3
