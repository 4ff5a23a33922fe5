"""Render an HTML mail body as readable plain text.

For HTML-only mail the pipeline still needs a ``text``: paragraphs become blank
lines, ``<br>`` a line break, list items "- " or "1. ", links "text (url)",
``<blockquote>`` lines get "> " so quote stripping sees them as quoted. Script,
style and head content is dropped; entities are decoded by ``html.parser``.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

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


class _Renderer(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
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
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
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
            self._links.append((dict(attrs).get("href") or "", []))
        elif tag == "img":
            alt = (dict(attrs).get("alt") or "").strip()
            if alt:
                self._emit(alt)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
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
    try:
        renderer.feed(html)
        renderer.close()
    except Exception:  # html.parser is lenient, but keep what was rendered on a surprise
        pass
    return renderer.render()
