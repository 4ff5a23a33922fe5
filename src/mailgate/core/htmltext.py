"""Render an HTML mail body as readable plain text.

For HTML-only mail the pipeline still needs a ``text``: paragraphs become blank
lines, ``<br>`` a line break, list items "- " or "1. ", links "text (url)",
``<blockquote>`` lines get "> " so quote stripping sees them as quoted. Script,
style and head content is dropped; entities are decoded as ``html.unescape`` does.

Speed: ``html.parser`` handles every tag in Python, attributes included, and mail
HTML is mostly tags that change nothing in the text (Outlook's ``<span style=…>``
and ``<o:p>``). One regular expression finds the tags; only those the renderer
acts on reach Python code, the rest are cut out of the text at C speed. The
tokens follow ``html.parser``'s reading (tag and attribute syntax, comments,
declarations, raw script/style content), so the text is the same.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Set
from html import unescape
from typing import Any

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
_HIDDEN = frozenset({"script", "style", "head", "template", "noscript", "xml"})
_WHITESPACE = re.compile(r"[ \t\n\r\f\v]+")
# Outlook writes this rule above a quoted reply in its own plain-text parts.
_RULE = "_" * 32
_ACTIVE = _PARAGRAPH | _LINE | _HIDDEN | {"body", "br", "li", "hr", "td", "th", "a", "img"}


def _alternation(words: Set[str]) -> str:
    """``words`` as a regular expression sharing prefixes, a longer word before its prefix."""
    tree: dict[str, dict[str, Any]] = {}
    for word in words:
        node = tree
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        alts = [re.escape(c) + emit(node[c]) for c in sorted(node) if c]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 and "" not in node else "(?:" + "|".join(alts) + ")"
        return body + ("?" if "" in node else "")

    return emit(tree)


# Quotes delimit an attribute value only right after "=" (as in html.parser), so a
# stray apostrophe in a tag cannot swallow the text after it.
# Possessive quantifiers: no backtracking on a tag that never closes.
_TAG_REST = r"""[^>=]*+(?:=\s*+(?:"[^"]*+"|'[^']*+')?+[^>=]*+)*+>"""
_NAME_END = r"(?![^\t\n\r\f />\x00])"
# Matched against the lower-cased document (same length, checked): no case-insensitive
# matching, which is slow on an alternation. The markup html.parser recognises, in
# its order of preference at a "<". Named groups: end/end2 (an end tag the renderer
# acts on), start (such a start tag), raw (script or style: their content is not
# markup, up to their end tag). Anything else matched is markup without effect.
_TOKEN_SOURCE = rf"""
    </\s*(?P<end>{_alternation(_ACTIVE)})(?![-.a-z0-9:_])\s*>
    |</(?P<end2>{_alternation(_ACTIVE)}){_NAME_END}[^>]*>
    |<(?P<raw>script|style){_NAME_END}{_TAG_REST}
    |<(?P<start>{_alternation(_ACTIVE)}){_NAME_END}{_TAG_REST}
    |<[a-z][^\t\n\r\f />\x00]*+{_TAG_REST}
    |</[^>]*>
    |<!--(?:[^-]++|-(?!-\s*>))*+--\s*>
    |<!\[cdata\[.*?\]\]>
    |<![^>]*>
    |<\?[^>]*>
"""
_TOKEN = re.compile(_TOKEN_SOURCE, re.S | re.X)
_TOKEN_ANY_CASE = re.compile(_TOKEN_SOURCE, re.S | re.X | re.I)  # when lower() changes lengths
_ATTR = re.compile(r"""([^\s/>=][^\s/>=]*)(?:\s*=+\s*('[^']*'|"[^"]*"|(?!['"])[^>\s]*))?""")
_BARE_SLASH = re.compile(r"=\s*[^\s'\">]*/>\Z")  # <a href=x/>: the slash is the value's
# Tags whose only effect, opening or closing, is a line break (2: a blank line);
# an opening <li> also writes its bullet.
_END_BREAKS = {t: 2 for t in _PARAGRAPH - {"pre", "ul", "ol", "blockquote"}} | {t: 1 for t in _LINE}
_START_BREAKS = {t: n for t, n in _END_BREAKS.items() if t != "li"}
_RAW_END = {
    "script": re.compile(r"</\s*script\s*>", re.I),
    "style": re.compile(r"</\s*style\s*>", re.I),
}


def _attributes(text: str) -> dict[str, str]:
    """Attributes as html.parser gives them (names lower-case, values unescaped)."""
    out: dict[str, str] = {}
    for match in _ATTR.finditer(text):
        value = match.group(2) or ""
        if value[:1] in ("'", '"') and value[-1:] == value[:1] and len(value) > 1:
            value = value[1:-1]
        out[match.group(1).lower()] = unescape(value) if "&" in value else value
    return out


class _Renderer:
    def __init__(self) -> None:
        self.lines: list[tuple[int, str]] = []  # (blockquote depth, line)
        self._cur: list[str] = []
        self._cur_depth = 0
        self._want = 0  # 1: start a new line before more text, 2: leave a blank line
        self._hidden = 0
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
        for _href, words in self._links:
            words.append(text)

    def _at_space(self) -> bool:
        return not self._cur or self._want > 0 or self._cur[-1][-1:] in (" ", "\n", "\t")

    # -- parser callbacks ------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: dict[str, str]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
            return
        if tag == "body":
            self._hidden = 0  # a missing </head> must not hide the body
        if self._hidden:
            return
        if tag == "br":
            if self._want:
                self._emit("")
            self._flush(force=True)
        elif tag == "blockquote":
            self._break(2)
            self._depth += 1
        elif tag in _PARAGRAPH:
            self._break(2)
            if tag == "pre":
                self._pre += 1
            elif tag in ("ul", "ol"):
                self._lists.append([tag == "ol", 0])
        elif tag == "li":
            self._break(1)
            indent = "  " * max(len(self._lists) - 1, 0)
            if self._lists and self._lists[-1][0]:
                self._lists[-1][1] += 1
                self._emit(f"{indent}{self._lists[-1][1]}. ")
            else:
                self._emit(f"{indent}- ")
        elif tag in _LINE:
            self._break(1)
        elif tag == "hr":
            self._break(1)
            self._emit(_RULE)
            self._break(1)
        elif tag in ("td", "th"):
            if not self._at_space():
                self._emit(" ")
        elif tag == "a":
            self._links.append((attrs.get("href") or "", []))
        elif tag == "img":
            alt = (attrs.get("alt") or "").strip()
            if alt:
                self._emit(alt)

    def handle_startendtag(self, tag: str, attrs: dict[str, str]) -> None:
        # <br/>, <hr/>, <img/> have no content; an empty <a/> or <p/> none either.
        self.handle_starttag(tag, attrs)
        if tag not in ("br", "hr", "img"):
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(self._hidden - 1, 0)
            return
        if self._hidden:
            return
        if tag == "blockquote":
            self._break(2)
            self._depth = max(self._depth - 1, 0)
        elif tag in _PARAGRAPH:
            self._break(2)
            if tag == "pre":
                self._pre = max(self._pre - 1, 0)
            elif tag in ("ul", "ol") and self._lists:
                self._lists.pop()
        elif tag in _LINE:
            self._break(1)
        elif tag == "a" and self._links:
            href, words = self._links.pop()
            self._end_link(href.strip(), "".join(words).strip())

    def _end_link(self, href: str, text: str) -> None:
        if not text or not href.lower().startswith(("http:", "https:", "ftp:", "mailto:")):
            return  # image-only links and anchors add noise, not meaning
        shown = href[7:] if href.lower().startswith("mailto:") else href
        if shown.rstrip("/") != text.rstrip("/"):
            self._emit(f" ({href})")

    def handle_data(self, data: str) -> None:
        if self._hidden or not data:
            return
        if self._pre:
            lines = data.split("\n")
            for i, line in enumerate(lines):
                if i:
                    self._flush(force=True)
                if line:
                    self._emit(line)
            return
        text = _WHITESPACE.sub(" ", data)
        if text.startswith(" ") and self._at_space():
            text = text[1:]
        if text:
            self._emit(text)

    def feed(self, html: str) -> None:
        """Tokenise ``html`` and call the handlers for the tags that change the text."""
        lower = html.lower()
        same_case = len(lower) == len(html)
        # Every token ends with ">": none starts after the last one.
        last = html.rfind(">") + 1
        tokens = (_TOKEN if same_case else _TOKEN_ANY_CASE).finditer(
            lower if same_case else html, 0, last
        )
        pieces: list[str] = []  # text since the last active tag (cut around inert markup)
        pos = 0
        for match in tokens:
            start = match.start()
            if start < pos:
                continue  # inside a script or style element
            if start > pos:
                pieces.append(html[pos:start])
            pos = match.end()
            name = match.lastgroup
            if name is None:
                continue  # a comment, a declaration or a tag with no effect on the text
            if pieces:
                if not self._hidden:
                    self._data(pieces)
                pieces = []
            tag = match.group(name)
            if not same_case:
                tag = tag.lower()
            brk = (_START_BREAKS if name == "start" else _END_BREAKS).get(tag)
            if brk is not None and name != "raw" and not self._hidden:
                # Block tags only ask for a line break, opening or closing, with or
                # without "/>": the commonest tags, handled without the handlers.
                if self._want < brk:
                    self._want = brk
            elif name == "start":
                raw = html[start:pos]
                attrs = _attributes(raw[len(tag) + 1 : -1]) if tag in ("a", "img") else {}
                if raw.endswith("/>") and not _BARE_SLASH.search(raw):
                    self.handle_startendtag(tag, attrs)
                else:
                    self.handle_starttag(tag, attrs)
            elif name == "raw":
                end = _RAW_END[tag].search(html, pos)
                self.handle_starttag(tag, {})
                pos = len(html) if end is None else end.end()
                self.handle_endtag(tag)
            else:
                self.handle_endtag(tag)
        if pos < len(html):
            pieces.append(html[pos:])
        if pieces and not self._hidden:
            self._data(pieces)

    def _data(self, pieces: list[str]) -> None:
        """``handle_data`` for the text between two active tags, cut around inert ones."""
        # html.parser decodes the entities of each run of text between two tags.
        if len(pieces) == 1:
            data = pieces[0]
            if "&" in data:
                data = unescape(data)
        else:
            data = "".join([unescape(p) if "&" in p else p for p in pieces])
        if not data:
            return
        if self._pre:
            self.handle_data(data)
            return
        # handle_data's common case, inline: this runs once per text run.
        text = _WHITESPACE.sub(" ", data)
        if text[0] == " ":
            cur = self._cur
            if not cur or self._want or cur[-1][-1:] in (" ", "\n", "\t"):
                text = text[1:]
                if not text:
                    return
        self._emit(text)

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
    renderer = _Renderer()
    # The tokenizer is lenient, but keep what was rendered on a surprise.
    with contextlib.suppress(Exception):
        renderer.feed(html)
    return renderer.render()
