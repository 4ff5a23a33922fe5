"""Write the test corpus: NNN-short-name.eml and NNN-short-name.expect.json.

Run ``python tests/corpus/make_corpus.py``. Output is deterministic (fixed dates,
Message-IDs and boundaries), so a diff of the corpus is a review of the change.

Each expectation says what the message *is* (from how it was built), not what
any parser prints. Keys (all optional except kind, subject, from):

* ``kind``, ``subject``, ``from``, ``reply_to``, ``sender``, ``cc``,
  ``message_id``, ``in_reply_to``, ``references``, ``date``, ``bounce``:
  the contract field must equal this value.
* ``reply_text_equals``: contract ``reply_text``, compared with runs of
  whitespace collapsed (line wrapping is not content).
* ``text_contains`` / ``html_contains``: substrings of ``text`` / ``html``.
* ``bounce_recipients``: ``bounce.recipients`` in order, each compared on the
  keys given (address case-insensitively).
* ``attachments``: the attachment list in order, each compared on the keys given;
  ``attachments_include``: entries some attachment must match.
* ``errors_nonempty``: the parser must report a defect.
* ``classify``: extras of ``mailgate.core.classify.Classification``
  (``original_message_id``, ``loop_suspected``, ``complaint`` subset).
* ``description``: what the case is about, for the reader.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _auto  # noqa: E402 -- sibling modules, found through the path set above
import _bounces  # noqa: E402
import _misc  # noqa: E402
import _replies  # noqa: E402
import _robust  # noqa: E402

Case = tuple[str, bytes, dict[str, object]]
# Blocks numbered from a fixed start (one line each), so that work done in
# parallel never renumbers another block's files: (first number, cases).
BLOCKS: list[tuple[int, Callable[[], list[Case]]]] = [
    (200, _robust.header_block),  # _headers_world's cases, then _robust's
    (300, _robust.bounce_block),  # _bounces_world's cases, then _robust's
    (400, _robust.reply_block),  # _replies_world's cases, then _robust's
]


def all_cases() -> list[Case]:
    return [*_replies.cases(), *_bounces.cases(), *_auto.cases(), *_misc.cases()]


def numbered_cases() -> list[Case]:
    """Every case as ("NNN-slug", raw, expect): the base list from 001, then each block."""
    out = [(f"{i:03d}-{slug}", raw, expect) for i, (slug, raw, expect) in enumerate(all_cases(), 1)]
    for start, cases in BLOCKS:
        block = cases()
        if out and start <= int(out[-1][0][:3]):
            raise SystemExit(f"block at {start} overlaps the cases before it")
        out += [(f"{i:03d}-{slug}", raw, exp) for i, (slug, raw, exp) in enumerate(block, start)]
    return out


def main() -> int:
    cases = numbered_cases()
    names = [stem[4:] for stem, _, _ in cases]
    dupes = {s for s in names if names.count(s) > 1}
    if dupes:
        raise SystemExit(f"duplicate case names: {sorted(dupes)}")
    for old in [*HERE.glob("*.eml"), *HERE.glob("*.expect.json")]:
        old.unlink()
    for stem, raw, expect in cases:
        (HERE / f"{stem}.eml").write_bytes(raw)
        text = json.dumps(expect, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
        (HERE / f"{stem}.expect.json").write_text(text, encoding="utf-8")
    print(f"wrote {len(cases)} messages to {HERE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
