"""The console's languages: every string translated, language and time zone chosen right."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from mailgate.web import i18n

WEB = Path(i18n.__file__).parent
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2.ext:babel_extract")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}
#: Words a template may show as they are: names, protocols, examples.
VERBATIM = {"mailgate", "Message-ID", "STARTTLS", "TLS", "B", "English"}


def _used() -> set[str]:
    found = set()
    for _, _, message, _, _ in extract_from_dir(WEB, METHODS, options_map=OPTIONS):
        found.add(message if isinstance(message, str) else message[0])
    return found


def _catalogue(language: str) -> dict[str, str]:
    with (WEB / "translations" / f"{language}.po").open("rb") as f:
        return {m.id: m.string for m in read_po(f) if m.id}


def test_every_message_is_translated_into_chinese() -> None:
    """Each _() of the code and templates is in zh_CN.po with a translation
    (run scripts/console-messages.py, then translate what it added)."""
    used, zh = _used(), _catalogue("zh_CN")
    assert used, "no messages extracted"
    assert sorted(used - set(zh)) == [], "not in zh_CN.po"
    assert sorted(m for m in used if not zh[m]) == [], "untranslated in zh_CN.po"
    assert sorted(used - set(_catalogue("en"))) == [], "not in en.po"
    for msgid in used:
        assert re.findall(r"%\(\w+\)s", msgid) == re.findall(r"%\(\w+\)s", zh[msgid]), msgid


def test_templates_show_no_text_outside_the_catalogue() -> None:
    """Text between tags is a _() call, data, or a name kept verbatim: never bare English."""
    for template in sorted((WEB / "templates").glob("*.html")):
        source = template.read_text()
        source = re.sub(r"{#.*?#}|{%.*?%}|{{.*?}}", " ", source, flags=re.S)
        source = re.sub(r"<(script|style)\b.*?</\1>", " ", source, flags=re.S)
        text = re.sub(r"<[^>]*>", " ", source)
        words = {w for w in re.findall(r"[A-Za-z][A-Za-z'-]*", text) if w not in VERBATIM}
        assert not words, f"{template.name}: untranslated {sorted(words)}"


def test_language_from_setting_then_accept_language() -> None:
    assert i18n.negotiate("en", "zh-CN,zh;q=0.9") == "en"
    assert i18n.negotiate(None, "zh-CN,zh;q=0.9,en;q=0.8") == "zh_CN"
    assert i18n.negotiate(None, "fr-FR, en;q=0.5, zh;q=0.4") == "en"
    assert i18n.negotiate(None, "en;q=0.3, zh-TW;q=0.8") == "zh_CN"
    assert i18n.negotiate(None, None) == "en"


def test_dates_in_the_users_zone() -> None:
    moment = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    assert "12月1日" in i18n.format_when(moment, "zh_CN", "Asia/Shanghai")
    assert "7:30:00" in i18n.format_when(moment, "zh_CN", "Asia/Shanghai")
    assert "Nov 30, 2026" in i18n.format_when(moment.isoformat(), "en", "America/New_York")
    assert i18n.format_when(None, "en", None) == ""
