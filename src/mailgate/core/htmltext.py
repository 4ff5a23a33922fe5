"""Render an HTML mail body as readable plain text.

For HTML-only mail the pipeline still needs a ``text``: paragraphs become blank
lines, ``<br>`` a line break, list items "- " or "1. ", links "text (url)",
``<blockquote>`` lines get "> " so quote stripping sees them as quoted. Script,
style and head content is dropped; entities are decoded as HTML5 says.

Speed: libxml2 (through lxml) tokenises and builds the tree in C, entities and
comments included; hidden elements are cut out in C too. Python then walks the
elements once: the text of elements that change nothing in the output (Outlook's
``<span style=…>`` and ``<o:p>``) is only collected, and the commonest block
tags just ask for a line break, inline. lxml is imported on first use, so
``mailgate parse`` starts without it.

Hostile HTML: no network, no DTD or entity declarations (libxml2's HTML parser
reads neither), ``huge_tree`` so a long text node is not cut. Nesting deeper than
libxml2's limit (2,048 elements) stops its parser, so such a document is rendered
flat instead: block tags are line breaks, every word kept. NUL characters become
U+FFFD (HTML5), as do lone surrogates (from undecodable bytes).
"""

from __future__ import annotations

import re
from html import unescape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lxml import etree as _etree_t

_PARAGRAPH = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "table", "ul", "ol", "dl", "blockquote"}
)
_LINE = frozenset(
    {
        "div", "tr", "li", "dt", "dd", "section", "article", "header", "footer", "nav",
        "aside", "main", "form", "address", "figure", "figcaption", "center", "caption",
        "tbody", "thead", "tfoot", "fieldset", "details", "summary", "title",
    }
)  # fmt: skip
_HIDDEN = ("script", "style", "head", "template", "noscript", "xml")
# Taken out before libxml2 reads the document, in one pass:
# * </html> and </body>: libxml2 2.14 stops reading at </html>, but mail joins
#   documents (Apple Mail's several HTML parts) and puts text after it;
# * a title with its text: metadata, also in a second document's head, which
#   libxml2 reads as part of the body;
# * an unclosed title becomes a <div>: libxml2 would hide the rest of the document
#   in it, where the old renderer read it as a block.
_TITLE = "[tT][iI][tT][lL][eE]"  # no re.I: it costs the search for "<" its speed (3x)
_PRE_PASS = re.compile(
    rf"<(?:/(?:[hH][tT][mM][lL]|[bB][oO][dD][yY])\s*>|{_TITLE}\b[^>]*>[^<]*</{_TITLE}\s*>"
    rf"|(/?){_TITLE}\b)"
)
# Common tags that change nothing in the text (most of mail HTML's markup): removed,
# their content kept, before Python sees the tree. Any other tag costs only time.
_INERT = (
    "span", "o:p", "b", "i", "u", "font", "strong", "em", "small", "big", "sup", "sub", "s",
    "strike", "code", "tt", "label", "cite", "abbr", "nobr", "ins", "del", "mark", "q", "wbr",
)  # fmt: skip
_WHITESPACE = re.compile(r"[ \t\n\r\f\v]+")
_SPACES = (" ", "\n", "\t")
# Outlook writes this rule above a quoted reply in its own plain-text parts.
_RULE = "_" * 32
# Tags whose only effect, opening or closing, is a line break (2: a blank line);
# an opening <li> also writes its bullet.
_END_BREAKS = {t: 2 for t in _PARAGRAPH - {"pre", "ul", "ol", "blockquote"}} | {t: 1 for t in _LINE}
_START_BREAKS = {t: n for t, n in _END_BREAKS.items() if t != "li"}
# Tags handled by the renderer's methods (the rest of the active ones only break lines).
_START_CALLS = frozenset(
    {"br", "blockquote", "pre", "ul", "ol", "li", "hr", "td", "th", "a", "img"}
)
_END_CALLS = frozenset({"blockquote", "pre", "ul", "ol", "a"})
_BLOCK_TAG = re.compile(
    r"</?(?:"
    + "|".join(sorted(_PARAGRAPH | _LINE | {"br", "hr", "li"}, key=len, reverse=True))
    + r")(?![-.\w:])[^>]*>",
    re.I,
)
_ANY_TAG = re.compile(r"<[!/?a-zA-Z][^>]*>")
_RAW_START = re.compile(r"<(script|style)\b[^>]*>", re.I)
_SURROGATE = re.compile("[\ud800-\udfff]")

_parser: Any = None


def _html_parser() -> _etree_t.HTMLParser:
    """One parser per process, made on first use (lxml costs ~40 ms to import)."""
    global _parser
    if _parser is None:
        from lxml import etree

        _parser = etree.HTMLParser(
            remove_comments=True, remove_pis=True, no_network=True, huge_tree=True
        )
    return _parser


def _blank(text: str) -> bool:
    """Only the whitespace HTML collapses (not U+00A0, which ``str.isspace`` counts)."""
    return not text.strip(" \t\n\r\f\v")


class _Renderer:
    def __init__(self) -> None:
        self.lines: list[tuple[int, str]] = []  # (blockquote depth, line)
        self._cur: list[str] = []
        self._cur_depth = 0
        self._want = 0  # 1: start a new line before more text, 2: leave a blank line
        self._pre = 0
        self._depth = 0
        self._lists: list[list[int]] = []  # [is_ordered, counter]
        self._links: list[tuple[str, list[str]]] = []

    # -- output ------------------------------------------------------------
    def _flush(self, force: bool = False) -> None:
        line = "".join(self._cur).rstrip()
        if line or force:
            self.lines.append((self._cur_depth, line))
        self._cur = []

    def _break(self, n: int) -> None:
        self._want = max(self._want, n)

    def _emit(self, text: str) -> None:
        if self._want:
            self._flush()
            if self._want == 2 and self.lines and self.lines[-1][1]:
                # A blank line between quoted and unquoted text belongs to neither.
                self.lines.append((min(self._depth, self.lines[-1][0]), ""))
            self._want = 0
        if not self._cur:
            self._cur_depth = self._depth
        self._cur.append(text)
        if self._links:
            for _href, words in self._links:
                words.append(text)

    def _at_space(self) -> bool:
        return not self._cur or self._want > 0 or self._cur[-1][-1:] in (" ", "\n", "\t")

    # -- elements ------------------------------------------------------------
    def start(self, tag: str, el: Any) -> None:
        if tag == "br":
            if self._want:
                self._emit("")
            self._flush(force=True)
        elif tag == "blockquote":
            self._break(2)
            self._depth += 1
        elif tag == "pre":
            self._break(2)
            self._pre += 1
        elif tag in ("ul", "ol"):
            self._break(2)
            self._lists.append([tag == "ol", 0])
        elif tag == "li":
            self._break(1)
            indent = "  " * max(len(self._lists) - 1, 0)
            if self._lists and self._lists[-1][0]:
                self._lists[-1][1] += 1
                self._emit(f"{indent}{self._lists[-1][1]}. ")
            else:
                self._emit(f"{indent}- ")
        elif tag == "hr":
            self._break(1)
            self._emit(_RULE)
            self._break(1)
        elif tag in ("td", "th"):
            if not self._at_space():
                self._emit(" ")
        elif tag == "a":
            self._links.append((el.get("href") or "", []))
        elif tag == "img":
            alt = (el.get("alt") or "").strip()
            if alt:
                self._emit(alt)

    def end(self, tag: str) -> None:
        if tag == "blockquote":
            self._break(2)
            self._depth = max(self._depth - 1, 0)
        elif tag == "pre":
            self._break(2)
            self._pre = max(self._pre - 1, 0)
        elif tag in ("ul", "ol"):
            self._break(2)
            if self._lists:
                self._lists.pop()
        elif tag == "a" and self._links:
            href, words = self._links.pop()
            self._end_link(href.strip(), "".join(words).strip())

    def _end_link(self, href: str, text: str) -> None:
        if not text or not href.lower().startswith(("http:", "https:", "ftp:", "mailto:")):
            return  # image-only links and anchors add noise, not meaning
        shown = href[7:] if href.lower().startswith("mailto:") else href
        if shown.rstrip("/") != text.rstrip("/"):
            self._emit(f" ({href})")

    def data(self, data: str) -> None:
        """The text between two active tags (inert elements' text already joined in)."""
        if self._pre:
            for i, line in enumerate(data.split("\n")):
                if i:
                    self._flush(force=True)
                if line:
                    self._emit(line)
            return
        # The regular expression costs more than the two tests that usually skip it.
        text = _WHITESPACE.sub(" ", data) if "  " in data or not data.isprintable() else data
        if text[0] == " ":
            cur = self._cur
            if not cur or self._want or cur[-1][-1:] in _SPACES:
                text = text[1:]
                if not text:
                    return
        self._emit(text)

    def walk(self, root: Any, iterwalk: Any) -> None:
        """Every element's start and end, its text and tail, in document order.

        The commonest case is inline here (``data`` and ``_emit`` without a pre or an
        open link): method calls cost as much as the work on a short text run.
        """
        pieces: list[str] = []  # text since the last active tag
        start_breaks, end_breaks = _START_BREAKS, _END_BREAKS
        start_calls, end_calls = _START_CALLS, _END_CALLS
        whitespace = _WHITESPACE.sub
        lines = self.lines
        for event, el in iterwalk(root, events=("start", "end")):
            tag = el.tag
            if event == "start":
                brk = start_breaks.get(tag)
                call = brk is None and tag in start_calls
            else:
                brk = end_breaks.get(tag)
                call = brk is None and tag in end_calls
            if pieces and (brk is not None or call):
                data = pieces[0] if len(pieces) == 1 else "".join(pieces)
                pieces = []
                if self._pre or self._links:
                    self.data(data)
                else:
                    # The regular expression costs more than the two tests that skip it.
                    if "  " in data or not data.isprintable():
                        data = whitespace(" ", data)
                    cur = self._cur
                    if data[0] == " " and (not cur or self._want or cur[-1][-1:] in _SPACES):
                        data = data[1:]
                    if data:
                        if self._want:
                            if cur:
                                line = "".join(cur).rstrip()
                                if line:
                                    lines.append((self._cur_depth, line))
                            if self._want == 2 and lines and lines[-1][1]:
                                lines.append((min(self._depth, lines[-1][0]), ""))
                            self._want = 0
                            self._cur = cur = []
                        if not cur:
                            self._cur_depth = self._depth
                        cur.append(data)
            if brk is not None:
                if self._want < brk:
                    self._want = brk
            elif call:
                if event == "start":
                    self.start(tag, el)
                else:
                    self.end(tag)
            text = el.text if event == "start" else el.tail
            # Whitespace before a pending line break changes nothing (the commonest
            # text in mail HTML: the newline after each block's end tag).
            if text and (pieces or not self._want or self._pre or not _blank(text)):
                pieces.append(text)
        if pieces:
            self.data("".join(pieces))

    def render(self) -> str:
        self._flush()
        out: list[str] = []
        blank = True  # drop leading blank lines and runs of them
        for depth, line in self.lines:
            line = line.replace("\xa0", " ").rstrip()
            if not line:
                if blank:
                    continue
                blank = True
            else:
                blank = False
            prefix = ">" * depth + " " if depth and line else ">" * depth
            out.append(prefix + line)
        while out and not out[-1].strip(">"):
            out.pop()
        return "\n".join(out)


def html_to_text(html: str) -> str:
    """Readable plain text for an HTML document or fragment; never raises."""
    try:
        return _render(html)
    except Exception:  # a surprise in libxml2 or lxml: the words, without layout
        return _flat_text(html)


def _render(html: str) -> str:
    if "<" not in html and "&" not in html:
        renderer = _Renderer()
        if html.strip():
            renderer.data(html)
        return renderer.render()
    from lxml import etree

    if not html.isascii():
        # libxml2 stops at a lone surrogate (an undecodable byte kept by the decoder).
        html = _SURROGATE.sub("\ufffd", html)
    cut = html.rfind(">") + 1
    if "<" in html[cut:]:
        # A tag still open at the end is text (as the old renderer and html.parser read
        # it), not dropped as HTML5 says: "<p>see a<b" keeps its "a<b".
        html = html[:cut] + html[cut:].replace("<", "&lt;")
    parser = _html_parser()
    root = etree.fromstring(_PRE_PASS.sub(_pre_pass, html), parser)
    if any(e.level == etree.ErrorLevels.FATAL for e in parser.error_log):
        return _flat_text(html)  # nesting too deep: libxml2 stopped reading
    renderer = _Renderer()
    if root is not None:
        etree.strip_elements(root, *_HIDDEN, with_tail=False)
        etree.strip_tags(root, *_INERT)  # their text joins their neighbours', in C
        renderer.walk(root, etree.iterwalk)
    return renderer.render()


def _pre_pass(match: re.Match[str]) -> str:
    slash = match.group(1)
    return "" if slash is None else f"<{slash}div"


def _flat_text(html: str) -> str:
    """The words of ``html`` with block tags as line breaks: for documents lxml cannot read."""
    kept: list[str] = []
    pos = 0
    for match in _RAW_START.finditer(html):  # script and style content is not text
        if match.start() < pos:
            continue
        kept.append(html[pos : match.start()])
        end = html.lower().find(f"</{match.group(1).lower()}", match.end())
        pos = len(html) if end < 0 else end
    html = "".join(kept) + html[pos:]
    html = _BLOCK_TAG.sub("\n", html)
    html = _ANY_TAG.sub("", html)
    lines = (_WHITESPACE.sub(" ", unescape(line)).strip() for line in html.split("\n"))
    return "\n".join(line for line in lines if line)
