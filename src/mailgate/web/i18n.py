"""Languages of the console: Babel catalogues read at import, dates in the user's zone.

The ``.po`` files in ``web/translations`` are the source; they are compiled in
memory when this module is imported (Babel's pofile/mofile), so there is no build
step and no ``.mo`` file to forget. English is the source language: its catalogue
may leave a message empty, and the message id is shown.
"""

from __future__ import annotations

import gettext
import io
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

TRANSLATIONS = Path(__file__).parent / "translations"
LANGUAGES = ("zh_CN", "en")
DEFAULT = "en"
#: What the language picker shows: each language in its own words.
NAMES = {"zh_CN": "简体中文", "en": "English"}


def _compile(language: str) -> gettext.GNUTranslations:
    with (TRANSLATIONS / f"{language}.po").open("rb") as f:
        catalog = read_po(f, locale=language)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


CATALOGUES: dict[str, gettext.GNUTranslations] = {lang: _compile(lang) for lang in LANGUAGES}


def negotiate(preferred: str | None, accept_language: str | None) -> str:
    """The user's setting, else the best of ``Accept-Language``, else English."""
    if preferred in LANGUAGES:
        return preferred
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if tag:
            ranked.append((-q, i, tag.strip().replace("-", "_").lower()))
    for _, _, tag in sorted(ranked):
        if tag.startswith("zh"):
            # Simplified Chinese is the only Chinese we have; Traditional readers read it too.
            return "zh_CN"
        if tag.startswith("en"):
            return "en"
    return DEFAULT


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def format_when(value: datetime | str | None, language: str, tz: str | None) -> str:
    """A moment in the user's zone and language (``2026年11月30日 19:22:05``)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        moment = value
    return str(format_datetime(moment, "medium", tzinfo=zone(tz), locale=Locale.parse(language)))
