"""The corpus in tests/corpus/: each message against its expectation file.

Two layers. ``classify`` and ``extract_reply`` are checked on every message with
a minimal stdlib reading of the body (so they are tested before and apart from
the parser). The full ``mailgate parse`` contract is checked through
``mailgate.core.parse.parse_message`` when that module exists.

The ``NNN-name.parse.json`` snapshots change only through the explicit update
command, never in a normal run; review the diff it makes before committing::

    MAILGATE_UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/test_corpus.py -k full_parse
"""

from __future__ import annotations

import email
import email.policy
import importlib
import importlib.util
import json
import os
import re
import sys
from collections.abc import Mapping
from email.header import decode_header, make_header
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from mailgate.core.classify import classify
from mailgate.core.parse import parse_message
from mailgate.core.quotes import extract_reply

CORPUS = Path(__file__).parent / "corpus"
CASES = sorted(p.with_suffix("").name for p in CORPUS.glob("*.eml"))
CONTRACT_KEYS = {
    "message_id", "in_reply_to", "references", "date", "from", "sender", "reply_to", "to", "cc",
    "subject", "text", "html", "reply_text", "attachments", "kind", "bounce", "errors",
    "warnings",
}  # fmt: skip
EQUAL_KEYS = (
    "kind", "subject", "from", "reply_to", "sender", "cc", "message_id", "in_reply_to",
    "references", "date", "bounce",
)  # fmt: skip


def _load(case: str) -> tuple[bytes, dict[str, Any]]:
    raw = (CORPUS / f"{case}.eml").read_bytes()
    expect = json.loads((CORPUS / f"{case}.expect.json").read_text(encoding="utf-8"))
    return raw, expect


def _ws(text: str) -> str:
    return " ".join(text.split())


# --- a minimal stdlib reading, enough to feed classify and extract_reply -----

_CHARSET_SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "cp936": "gb18030",
    "big5": "big5hkscs",
}


def _decode(part: Message) -> str:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    charset = (part.get_content_charset() or "us-ascii").lower()
    charset = _CHARSET_SUPERSETS.get(charset, charset)
    try:
        return data.decode(charset, "replace")
    except LookupError:
        return data.decode("utf-8", "replace")


def _leaves(msg: Message) -> list[Message]:
    if msg.is_multipart():
        out: list[Message] = []
        for sub in msg.get_payload():
            if sub.get_content_type() != "message/rfc822":
                out.extend(_leaves(sub))
        return out
    return [msg]


def _text_html(msg: Message) -> tuple[str, str | None]:
    text, html = "", None
    for part in _leaves(msg):
        if part.get_content_disposition() == "attachment":
            continue
        if part.get_content_type() == "text/plain" and not text:
            text = _decode(part)
        elif part.get_content_type() == "text/html" and html is None:
            html = _decode(part)
    if not text and html:
        text = re.sub(r"<[^>]+>", " ", html)
    return text.replace("\r\n", "\n"), html


def _subject(msg: Message) -> str:
    try:
        return str(make_header(decode_header(str(msg.get("Subject", "")))))
    except (UnicodeDecodeError, LookupError):
        return str(msg.get("Subject", ""))


# --- tests -----------------------------------------------------------------


def test_corpus_size_and_pairs() -> None:
    """The corpus has at least 150 messages, each with an expectation file."""
    assert len(CASES) >= 150
    for case in CASES:
        assert (CORPUS / f"{case}.expect.json").exists(), case
    assert len(list(CORPUS.glob("*.expect.json"))) == len(CASES)


def test_generator_reproduces_corpus() -> None:
    """make_corpus.py regenerates exactly the committed bytes and expectations."""
    sys.path.insert(0, str(CORPUS))
    try:
        spec = importlib.util.spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        cases = module.numbered_cases()
    finally:
        sys.path.remove(str(CORPUS))
    assert [stem for stem, _, _ in cases] == CASES
    for stem, raw, expect in cases:
        stored_raw, stored_expect = _load(stem)
        assert raw == stored_raw, stem
        assert json.loads(json.dumps(expect)) == stored_expect, stem


@pytest.mark.parametrize("case", CASES)
def test_classify_on_corpus(case: str) -> None:
    """classify() gives each corpus message the expected kind, bounce and extras."""
    raw, expect = _load(case)
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    text, _ = _text_html(msg)
    result = classify(msg, text=text, subject=_subject(msg))
    assert result.kind == expect["kind"], (case, result)
    if "bounce_recipients" in expect:
        assert result.bounce is not None, case
        _check_recipients(result.bounce["recipients"], expect["bounce_recipients"])
    if expect.get("bounce", "absent") is None:
        assert result.bounce is None, case
    extras = expect.get("classify", {})
    for key in ("original_message_id", "loop_suspected"):
        if key in extras:
            assert getattr(result, key) == extras[key], (case, key, result)
    if "complaint" in extras:
        assert result.complaint is not None, case
        for key, value in extras["complaint"].items():
            assert result.complaint[key] == value, (case, key)
    if expect.get("errors_nonempty") and expect["kind"] == "bounce":
        assert result.errors, case


REPLY_CASES = [c for c in CASES if "reply_text_equals" in _load(c)[1]]


@pytest.mark.parametrize("case", REPLY_CASES)
def test_extract_reply_on_corpus(case: str) -> None:
    """extract_reply() finds the new part of each reply in the corpus."""
    raw, expect = _load(case)
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    text, html = _text_html(msg)
    if not text.strip() and html:
        text = ""  # html-only: let extract_reply use its own HTML fallback
    for part in _leaves(msg):
        if part.get_content_type() == "text/plain":
            break
    else:
        text = ""
    got = extract_reply(text, html, _subject(msg))  # the subject tells a forward from a reply
    assert _ws(got) == _ws(expect["reply_text_equals"]), case


def _check_recipients(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    assert len(got) == len(want), (got, want)
    for g, w in zip(got, want, strict=True):
        for key, value in w.items():
            if key == "address":
                assert g[key].lower() == value.lower(), (g, w)
            else:
                assert g[key] == value, (key, g, w)


def _matches(att: dict[str, Any], want: dict[str, Any]) -> bool:
    return all(att.get(k) == v for k, v in want.items())


@pytest.mark.parametrize("case", CASES)
def test_parse_contract_on_corpus(case: str) -> None:
    """parse_message() output has the contract keys and meets the expectation file."""
    raw, expect = _load(case)
    out = parse_message(raw).to_json()
    assert set(out) == CONTRACT_KEYS, case
    json.dumps(out)  # the contract is JSON
    for key in EQUAL_KEYS:
        if key in expect:
            assert out[key] == expect[key], (case, key, out[key], expect[key])
    if "reply_text_equals" in expect:
        assert _ws(out["reply_text"]) == _ws(expect["reply_text_equals"]), case
    for needle in expect.get("text_contains", []):
        assert needle in out["text"], (case, needle)
    for needle in expect.get("html_contains", []):
        assert out["html"] is not None and needle in out["html"], (case, needle)
    if "bounce_recipients" in expect:
        assert out["bounce"] is not None, case
        _check_recipients(out["bounce"]["recipients"], expect["bounce_recipients"])
    if "attachments" in expect:
        assert len(out["attachments"]) == len(expect["attachments"]), (case, out["attachments"])
        for got, want in zip(out["attachments"], expect["attachments"], strict=True):
            assert _matches(got, want), (case, got, want)
    for want in expect.get("attachments_include", []):
        assert any(_matches(a, want) for a in out["attachments"]), (case, want)
    if expect.get("errors_nonempty"):
        assert out["errors"], case
    # Defects may be noted, but no parse step may have raised and been skipped.
    assert not [e for e in out["errors"] if " failed:" in e], (case, out["errors"])


@pytest.mark.parametrize("case", CASES)
def test_full_parse_output_on_corpus(case: str) -> None:
    """`mailgate parse` prints exactly the reviewed snapshot (NNN-name.parse.json).

    The .expect.json files say what matters about each message, written from what
    the message is; the snapshots pin the whole JSON, so any change in the parser's
    output shows up here. After a deliberate change, review the diff of:
    MAILGATE_UPDATE_SNAPSHOTS=1 pytest tests/test_corpus.py -k full_parse
    """
    raw, _ = _load(case)
    got = json.loads(json.dumps(parse_message(raw).to_json(), ensure_ascii=False))
    snapshot = CORPUS / f"{case}.parse.json"
    if update_requested(os.environ):
        snapshot.write_text(json.dumps(got, ensure_ascii=False, indent=2, sort_keys=True) + "\n")
    assert snapshot.exists(), f"no snapshot {snapshot.name}: write it with {UPDATE_COMMAND}"
    assert got == json.loads(snapshot.read_text()), f"review, then update with {UPDATE_COMMAND}"


UPDATE_COMMAND = "MAILGATE_UPDATE_SNAPSHOTS=1 pytest tests/test_corpus.py -k full_parse"


def update_requested(env: Mapping[str, str]) -> bool:
    """Only the explicit update command writes snapshots: exactly ``=1``, nothing else."""
    return env.get("MAILGATE_UPDATE_SNAPSHOTS") == "1"


def test_a_normal_run_never_writes_snapshots() -> None:
    """Unset, empty, ``0`` or ``false`` never write; and this run itself is not an update."""
    for value in (None, "", "0", "false", "no", "yes"):
        env = {} if value is None else {"MAILGATE_UPDATE_SNAPSHOTS": value}
        assert not update_requested(env), value
    assert update_requested({"MAILGATE_UPDATE_SNAPSHOTS": "1"})
