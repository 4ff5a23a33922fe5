"""Reply extraction: the new part of a reply, without quoted history or signature.

Mail clients mark the start of the quoted history in a handful of ways, none
standard (``core/attribution.py`` knows them): an attribution line in one of many
languages and shapes ("On <date>, <name> wrote:", "Am … schrieb …:", "在 … 写道："),
a separator ("-----Original Message-----", "-----Mensaje original-----"), or a
copied header block ("From: / Sent: / To: / Subject:", "De : / Envoyé : / À :",
"发件人: / 发送时间: / 收件人:"). Lines quoted with ">" (RFC 3676 §4.5) are dropped
wherever they are; the text between and below them is the answer too
(interleaved and bottom-posted replies), so an attribution followed by ">" lines
drops only itself. A separator, a header block, or an attribution followed by
unmarked text starts history that runs to the end. Then the signature goes
(``core/signatures.py``).

A forward marker ("---------- Forwarded message ---------", "Begin forwarded
message:") is not a quote: the forwarded content is kept after the sender's own
text. Outlook forwards with the same "-----Original Message-----" separator (or
header block) it replies with; only the subject tells them apart, so when the
subject's first prefix is a forward's ("FW:", "Fwd:", "WG:", "TR:", "RV:",
"转发:", …) and not a reply's ("RE:", "AW:", "答复:"), the separator or header
block opens forwarded content, kept like the rest. A message that is only
quotes has an empty reply text.

When the text is empty the HTML is used: it is cut at the markup clients wrap
the history in (Gmail's ``gmail_quote``, Outlook's ``divRplyFwdMsg``, Apple's
``blockquote type="cite"``…) and its tags are stripped crudely.
"""

from __future__ import annotations

import re

from mailgate.core.attribution import (
    attribution_at,
    is_forward_marker,
    is_groupwise_attribution,
    is_separator,
    starts_header_block,
)
from mailgate.core.htmltext import html_to_text
from mailgate.core.signatures import strip_signature

__all__ = ["extract_reply", "is_forward_subject"]

# Where clients start the quoted history in their HTML: a class on a <div>, an id on
# any tag, a <blockquote>, a dashed "Original" rule. Found by their words first and
# the tag around a word checked with string operations, so hostile markup (thousands
# of tags that never close) costs linear time, not a regular expression's backtracking.
_MARKER_WORDS = re.compile(
    r"gmail_quote|moz-cite-prefix|yahoo_quoted|divRplyFwdMsg|OLK_SRC_BODY_SECTION"
    r"|appendonsend|mail-editor-reference-message-container|<blockquote"
    r"|(?<!-)-{6,}+(?:&nbsp;|\s)*+(?:原始邮件|Original)",
    re.I,
)
_CLASS_MARKERS = {"gmail_quote": "gmail_quote", "moz-cite-prefix": "moz", "yahoo_quoted": "moz"}
_DIV_OPEN = re.compile(r"<div", re.I)
_TAG_WINDOW = 2000  # how far back a marker's tag may start
_MAX_MISSES = 100
_FORWARD_HTML = re.compile(
    r"Forwarded message|Begin forwarded message|Weitergeleitete Nachricht|Message transféré"
    r"|Mensaje reenviado|Messaggio inoltrato|转发邮件|轉寄郵件",
    re.I,
)


# Subject prefixes, by language: Outlook and webmail write "FW:"/"WG:"/"TR:"/"RV:"/
# "ENC:"/"I:"/"VB:"/"PD:"/"转发:" on a forward, "RE:"/"AW:"/"SV:"/"R:"/"答复:" on a reply.
_SUBJECT_PREFIX_RE = re.compile(
    r"\s*(?:\[[^\]]{0,40}\]\s*)?(re|aw|sv|vs|r|rif|odp|antw|antwort|ynt|res|回复|答复|回覆|返信"
    r"|fwd?|wg|tr|rv|enc|i|vb|vl|pd|doorst|转发|轉寄|轉發|转寄|転送|전달)\s*(?:\[\d+\])?\s*[:：]",
    re.I,
)
_FORWARD_PREFIXES = frozenset(
    {"fw", "fwd", "wg", "tr", "rv", "enc", "i", "vb", "vl", "pd", "doorst"}
    | {"转发", "轉寄", "轉發", "转寄", "転送", "전달"}
)


def is_forward_subject(subject: str | None) -> bool:
    """The subject's first prefix is a forward's ("FW: RE: x" yes, "RE: FW: x" no)."""
    found = _SUBJECT_PREFIX_RE.match(subject or "")
    return found is not None and found.group(1).lower() in _FORWARD_PREFIXES


def extract_reply(text: str, html: str | None, subject: str | None = None) -> str:
    """The new part of a reply in ``text`` (``html`` when the text is empty).

    ``subject`` tells an Outlook forward ("FW: …", which keeps what follows its
    "-----Original Message-----") from a reply ("RE: …", which drops it).
    """
    forward = is_forward_subject(subject)
    if not text.strip() and html:
        text = _html_to_text(html if forward else _cut_html(html))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    norm = _normalise(text).split("\n")  # one replacement per text, not per line
    ends: list[bool | None] = [None] * len(norm)  # filled lazily by attribution_at
    kept: list[str] = []
    forwarded: list[str] = []
    gap = False  # lines were dropped since the last kept text: fold the blanks around them
    i = 0
    while i < len(lines):
        line = norm[i]
        stripped = line.strip()
        if not stripped:
            if not (gap and (not kept or not kept[-1].strip())):
                kept.append("")
            i += 1
            continue
        if stripped.startswith(">"):
            if is_groupwise_attribution(stripped) and not _quote_follows(norm, i + 1):
                break  # GroupWise's attribution over unmarked history
            gap, i = True, i + 1
            continue
        if is_forward_marker(stripped) or (
            forward and (is_separator(stripped) or starts_header_block(norm, i))
        ):
            forwarded = lines[i:]
            # A bare rule (Outlook's underscores, an HTML <hr>) over the forwarded
            # header block is decoration: not kept (the block still opens the forward).
            nxt = next((j for j in range(i + 1, len(norm)) if norm[j].strip()), None)
            if not stripped.strip("_") and nxt is not None and starts_header_block(norm, nxt):
                forwarded = lines[nxt:]
            break
        if is_separator(stripped) or starts_header_block(norm, i, ends):
            break
        found = attribution_at(norm, ends, i)
        if found is not None:
            if found.column:
                kept.append(stripped[: found.column].rstrip())
            if not _quote_follows(norm, found.end):
                break  # unmarked history runs to the end
            gap, i = True, found.end
            continue
        kept.append(lines[i])
        gap = False
        i += 1
    reply = "\n".join(ln.rstrip() for ln in strip_signature(kept)).strip()
    if forwarded:
        rest = "\n".join(ln.rstrip() for ln in forwarded).strip()
        reply = f"{reply}\n\n{rest}" if reply else rest
    return reply


def _normalise(text: str) -> str:
    """The text as matched: QQ Mail leaves literal "&nbsp;" in its text part."""
    return (
        text.replace("&nbsp;", " ")
        .replace("\u00a0", " ")
        .replace("\u202f", " ")
        .replace("\u3000", " ")
    )


def _quote_follows(lines: list[str], j: int) -> bool:
    """The next non-blank line from ``j`` is ">"-quoted, or there is none."""
    for line in lines[j:]:
        if line.strip():
            return line.lstrip().startswith(">")
    return True


def _cut_html(html: str) -> str:
    starts: dict[str, int] = {}  # each marker's first place
    misses = 0
    for match in _MARKER_WORDS.finditer(html):
        word = match.group(0).lower()
        kind = _CLASS_MARKERS.get(word, word if word[0] != "-" else "-")
        if kind not in starts:
            start = _marker_start(html, match.start(), word)
            if start is not None:
                starts[kind] = start
            elif (misses := misses + 1) > _MAX_MISSES:
                break  # the words, but not in tags: text written to slow us down
    # Gmail wraps a forward in the same markup as a quote: a forward is kept.
    found = [s for s in starts.values() if not _FORWARD_HTML.search(html, s, s + 600)]
    return html[: min(found)] if found else html


def _marker_start(html: str, at: int, word: str) -> int | None:
    """Where the marker ``word`` found at ``at`` starts, or None if it is no marker there."""
    if word[0] in "<-":
        return at
    low = max(0, at - _TAG_WINDOW)
    low = max(low, html.rfind(">", low, at) + 1)  # the tag holding the word starts after this
    if word in _CLASS_MARKERS:  # <div ... class="... gmail_quote
        div = _DIV_OPEN.search(html, low, at)
        if div is None:
            return None
        tag = html[div.start() : at].lower()
        cut = tag.rfind("class=")
        if cut < 0:
            return None
        return div.start() if '"' not in tag[cut + 6 :].removeprefix('"') else None
    # <... id="divRplyFwdMsg
    if not html[max(0, at - 4) : at].lower().endswith(("id=", 'id="')):
        return None
    tag_start = html.find("<", low, at)
    return tag_start if tag_start >= 0 else None


def _html_to_text(html: str) -> str:
    """The HTML's text as the parser renders it (linear on hostile markup)."""
    return html_to_text(html)
