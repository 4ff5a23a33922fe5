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

import html as htmllib
import re

from mailgate.core.attribution import (
    attribution_at,
    is_forward_marker,
    is_groupwise_attribution,
    is_separator,
    starts_header_block,
)
from mailgate.core.signatures import strip_signature

__all__ = ["extract_reply", "is_forward_subject"]

_HTML_MARKERS = (
    r'<div[^>]*class="?[^">]*gmail_quote',
    r'<[^>]*id="?divRplyFwdMsg',
    r'<[^>]*id="?OLK_SRC_BODY_SECTION',
    r'<[^>]*id="?appendonsend',
    r'<[^>]*id="?mail-editor-reference-message-container',
    r'<div[^>]*class="?[^">]*(?:moz-cite-prefix|yahoo_quoted)',
    r"<blockquote",
    r"-{6,}(?:&nbsp;|\s)*(?:原始邮件|Original)",
)
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
            # A bare rule (Outlook's underscores, an HTML <hr>) is decoration: not kept.
            forwarded = lines[i + 1 :] if not stripped.strip("_") else lines[i:]
            break
        if is_separator(stripped) or starts_header_block(norm, i):
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
    starts = [m.start() for rx in _HTML_MARKERS if (m := re.search(rx, html, re.I))]
    # Gmail wraps a forward in the same markup as a quote: a forward is kept.
    starts = [s for s in starts if not _FORWARD_HTML.search(html, s, s + 600)]
    return html[: min(starts)] if starts else html


def _html_to_text(html: str) -> str:
    """Crude tag stripping: enough for a fallback when the parser gave no text."""
    html = re.sub(r"(?is)<(script|style|head)\b.*?</\1\s*>", "", html)
    html = re.sub(r"(?i)<br\s*/?>", "\n", html)
    html = re.sub(r"(?i)</(p|div|tr|li|h\d|blockquote)\s*>", "\n", html)
    html = re.sub(r"<[^>]+>", "", html)
    text = htmllib.unescape(html).replace("\u00a0", " ")
    return re.sub(r"\n{3,}", "\n\n", text)
