"""Update the console's catalogues (web/translations/*.po) from its code and templates.

    .venv/bin/python scripts/console-messages.py

Every ``_()`` of web/ (Python and Jinja2 templates, extracted with Babel) becomes a
message of each catalogue; translations already made are kept, messages no longer
used are dropped. Then fill in the empty ``msgstr`` of zh_CN.po:
tests/test_console_i18n.py fails while one is missing.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

WEB = Path(__file__).resolve().parent.parent / "src" / "mailgate" / "web"
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2.ext:babel_extract")]
OPTIONS = {
    "templates/**.html": {
        "extensions": "jinja2.ext.i18n",
        "trim_blocks": "True",
        "lstrip_blocks": "True",
    }
}


def extract() -> Catalog:
    template = Catalog(project="mailgate console")
    for filename, lineno, message, comments, context in extract_from_dir(
        WEB, METHODS, options_map=OPTIONS
    ):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def main() -> None:
    template = extract()
    for po in sorted((WEB / "translations").glob("*.po")):
        with po.open("rb") as f:
            catalog = read_po(f, locale=po.stem)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        with po.open("wb") as f:
            write_po(f, catalog, width=100, omit_header=False, sort_output=True)
        print(f"{po.name}: {len(catalog)} messages")


if __name__ == "__main__":
    main()
