"""Reply extraction: the new part of a reply, without quoted history or signature.

Mail clients mark the start of the quoted history in a handful of ways, none
standard: an attribution line ("On <date>, <name> wrote:", "在 …，<name> 写道："),
a separator ("-----Original Message-----", Foxmail's "------------------ 原始邮件
------------------", Outlook's line of underscores), or a copied header block
("From: / Sent: / To: / Subject:", "发件人: / 发送时间: / 收件人: / 主题:"). We
cut at the first of them, drop ">"-quoted lines (RFC 3676 §4.5 quote marks),
then drop the signature: the RFC 3676 §4.3 "-- " separator and the fixed lines
mobile clients append ("Sent from my iPhone", "发自我的iPhone", …).

When the text is empty the HTML is used: it is cut at the markup clients wrap
the history in (Gmail's ``gmail_quote``, Outlook's ``divRplyFwdMsg``, Apple's
``blockquote type="cite"``…) and its tags are stripped crudely.

If nothing new is left (the whole message is quoted, or a bottom-posted reply
whose answer sits below the quote), the answer below the quote is kept; failing
that, the whole text stripped: a non-empty message never yields "".
"""

from __future__ import annotations

import html as htmllib
import re

__all__ = ["extract_reply"]

_SEPARATOR_RE = re.compile(
    r"^\s*(?:"
    r"-{2,}\s*(?:Original Message|Original|原始邮件|邮件原件|原邮件|Forwarded message|转发邮件"
    r"|Weitergeleitete Nachricht|Ursprüngliche Nachricht)\s*-{2,}"
    r"|_{20,}"
    r"|Begin forwarded message:"
    r")\s*$",
    re.I,
)
# An attribution line; two physical lines are tried joined, since Gmail wraps.
_ATTRIBUTION_RE = re.compile(
    r"^\s*(?:On\s.{4,300}\swrote:|在\s*.{4,300}写道[:：]|.{4,200}于\s*.{4,200}写道[:：]"
    r"|Am\s.{4,300}schrieb.{0,80}:|Le\s.{4,300}a écrit\s*:)\s*$",
    re.I,
)
_HEADER_FROM_RE = re.compile(r"^\s*\*?(?:From|发件人|寄件者)\s*\*?\s*[:：]", re.I)
_HEADER_OTHER_RE = re.compile(
    r"^\s*\*?(?:Sent|Date|To|Cc|Subject|发送时间|日期|时间|收件人|抄送|主题|寄件日期|收件者|主旨)"
    r"\s*\*?\s*[:：]",
    re.I,
)
_SIGNATURE_RE = re.compile(
    r"^\s*(?:Sent from my \w+|Sent from (?:Mail|Outlook|Yahoo Mail)\b|Get Outlook for \w+"
    r"|Sent from my mobile device|发自我的\s*\S+|发自网易邮箱大师|来自网易邮箱大师|发自\s*网易邮箱"
    r"|从我的\s*\S+\s*发送|发自(?:QQ|企业微信|钉钉)\S*|Von meinem \S+ gesendet)[^\n]{0,40}$",
    re.I,
)
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


def extract_reply(text: str, html: str | None) -> str:
    """The new part of a reply in ``text`` (``html`` when the text is empty)."""
    if not text.strip() and html:
        text = _html_to_text(_cut_html(html))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    norm = [_normalise(line) for line in lines]
    cut = _quote_start(norm)
    head = lines[:cut]
    kept = [ln for ln, n in zip(head, norm[:cut], strict=True) if not n.lstrip().startswith(">")]
    reply = _strip_signature(kept)
    if not reply.strip() and cut < len(lines):
        # Bottom-posting: the quote comes first and the answer below it.
        end = cut + 1 + _quote_start(norm[cut + 1 :])
        below = [
            ln
            for ln, n in zip(lines[cut + 1 : end], norm[cut + 1 : end], strict=True)
            if not n.lstrip().startswith(">")
        ]
        reply = _strip_signature(below)
    if not reply.strip():
        return text.strip()
    return reply


def _normalise(line: str) -> str:
    """The line as matched: QQ Mail leaves literal "&nbsp;" in its text part."""
    return line.replace("&nbsp;", " ").replace("\u00a0", " ").replace("\u3000", " ")


def _quote_start(lines: list[str]) -> int:
    """Index of the first line of quoted history, or ``len(lines)``."""
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        if _SEPARATOR_RE.match(line) or _ATTRIBUTION_RE.match(line):
            return i
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if (
            re.match(r"^\s*(?:On\s|在)", line)
            and nxt.strip()
            and _ATTRIBUTION_RE.match(line.rstrip() + " " + nxt.strip())
        ):
            return i
        if _HEADER_FROM_RE.match(line):
            window = [ln for ln in lines[i + 1 : i + 8] if ln.strip()][:5]
            if sum(1 for ln in window if _HEADER_OTHER_RE.match(ln)) >= 2:
                return i
        if line.lstrip().startswith(">") and _only_quotes_follow(lines[i:]):
            return i
    return len(lines)


def _only_quotes_follow(lines: list[str]) -> bool:
    """True when the rest is quoted lines, blanks and at most a short signature."""
    rest = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith(">")]
    return len(rest) <= 2 and all(_SIGNATURE_RE.match(ln) or ln.strip() == "--" for ln in rest)


def _strip_signature(lines: list[str]) -> str:
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    # RFC 3676 §4.3: "-- " on its own line starts the signature; clients that
    # trim trailing blanks leave "--", accepted only near the end.
    for i in range(len(lines) - 1, -1, -1):
        if lines[i] == "-- " or (lines[i].strip() == "--" and len(lines) - i <= 10):
            lines = lines[:i]
            break
    tail_start = max(0, len(lines) - 4)
    for i in range(tail_start, len(lines)):
        if _SIGNATURE_RE.match(_normalise(lines[i])):
            lines = lines[:i]
            break
    return "\n".join(line.rstrip() for line in lines).strip()


def _cut_html(html: str) -> str:
    starts = [m.start() for rx in _HTML_MARKERS if (m := re.search(rx, html, re.I))]
    return html[: min(starts)] if starts else html


def _html_to_text(html: str) -> str:
    """Crude tag stripping: enough for a fallback when the parser gave no text."""
    html = re.sub(r"(?is)<(script|style|head)\b.*?</\1\s*>", "", html)
    html = re.sub(r"(?i)<br\s*/?>", "\n", html)
    html = re.sub(r"(?i)</(p|div|tr|li|h\d|blockquote)\s*>", "\n", html)
    html = re.sub(r"<[^>]+>", "", html)
    text = htmllib.unescape(html).replace("\u00a0", " ")
    return re.sub(r"\n{3,}", "\n\n", text)
