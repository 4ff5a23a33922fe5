"""parse_message never raises and always answers with the contract, whatever the bytes."""

from __future__ import annotations

import base64
import html
import json
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailgate.core import mime
from mailgate.core.parse import JSON_KEYS, parse_message
from tests.test_parse import same_tree

SEED = (
    b"From: =?utf-8?B?5byg5LiJ?= <zhang@example.cn>\r\n"
    b'To: a@example.com, "Doe, J" <j@example.org>\r\n'
    b"Subject: =?gb2312?B?suLK1A==?= re: hi\r\n"
    b"Date: Tue, 01 Aug 2023 10:00:00 +0800\r\n"
    b"Message-ID: <m1@example.cn>\r\nReferences: <a@x> <b@x>\r\n"
    b'Content-Type: multipart/mixed; boundary="BB"\r\n\r\n'
    b'--BB\r\nContent-Type: multipart/alternative; boundary="AA"\r\n\r\n'
    b"--AA\r\nContent-Type: text/plain; charset=gbk\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    + base64.b64encode("你好，世界".encode("gbk"))
    + b"\r\n--AA\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>hi <a href='http://x'>x</a>"
    b"\r\n--AA--\r\n--BB\r\nContent-Type: application/pdf\r\n"
    b"Content-Disposition: attachment; filename*=utf-8''%E6%96%87.pdf\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n"
    b"--BB\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nbody\r\n"
    b"--BB\r\nContent-Type: text/plain\r\n\r\nbegin 644 a.bin\r\n#86)C\r\n`\r\nend\r\n"
    b'--BB\r\nContent-Type: application/ms-tnef\r\n\r\nx\x9f>"\x01\x00\r\n--BB--\r\n'
)
CHARSETS = [
    "utf-8", "gb2312", "gbk", "big5", "iso-2022-jp", "koi8-r", "windows-1251", "unknown-8bit",
    "x-user-defined", "utf-16", "utf-7", "rot13", "base64", "idna", "", '"', "utf-8*en", "\xff",
]  # fmt: skip
PIECES = [
    b"\r\n", b"\n", b"\r", b"\r\r\n", b"--BB", b"--AA--", b"=?", b"?=", b"=?utf-8?B?", b"=?x?Q?=",
    b"\xff\xfe", b"\x00", b":", b";", b'"', b"boundary=", b"begin 644 ", b"end", b"<", b">",
    b"Content-Type: multipart/mixed\r\n", b"Content-Transfer-Encoding: base64\r\n",
    b"charset*=", b"filename*0*=", b"%", b"\xe4\xbd", b"\t", b" ",
]  # fmt: skip


def assert_contract(out: dict[str, Any]) -> None:
    """The object has exactly the contract keys with the contract's types."""
    json.dumps(out)
    assert tuple(out) == JSON_KEYS
    for key in ("message_id", "in_reply_to", "date", "html"):
        assert out[key] is None or isinstance(out[key], str)
    for key in ("subject", "text", "reply_text", "kind"):
        assert isinstance(out[key], str)
    assert out["kind"] in {"normal", "auto_reply", "bounce", "complaint"}
    assert isinstance(out["references"], list)
    assert all(isinstance(r, str) for r in out["references"])
    for key in ("from", "sender", "reply_to", "to", "cc"):
        for addr in out[key]:
            assert set(addr) == {"name", "address"}
            assert isinstance(addr["name"], str) and isinstance(addr["address"], str)
    for att in out["attachments"]:
        assert set(att) == {"filename", "content_type", "size", "content_id", "inline"}
        assert isinstance(att["filename"], str) and isinstance(att["content_type"], str)
        assert isinstance(att["size"], int) and isinstance(att["inline"], bool)
        assert att["content_id"] is None or isinstance(att["content_id"], str)
    assert out["bounce"] is None or isinstance(out["bounce"], dict)
    assert all(isinstance(e, str) for e in out["errors"])


@st.composite
def mangled(draw: st.DrawFn) -> bytes:
    """The seed message cut, spliced with junk and tricky pieces, its charsets relabelled."""
    raw = SEED
    for label in ("gbk", "utf-8", "gb2312"):
        raw = raw.replace(label.encode(), draw(st.sampled_from(CHARSETS)).encode("latin-1"), 1)
    for _ in range(draw(st.integers(0, 6))):
        at = draw(st.integers(0, len(raw)))
        op = draw(st.sampled_from(["insert", "delete", "junk"]))
        if op == "insert":
            raw = raw[:at] + draw(st.sampled_from(PIECES)) + raw[at:]
        elif op == "delete":
            raw = raw[:at] + raw[at + draw(st.integers(1, 40)) :]
        else:
            raw = raw[:at] + draw(st.binary(max_size=20)) + raw[at:]
    if draw(st.booleans()):
        raw = raw[: draw(st.integers(0, len(raw)))]
    if draw(st.booleans()):
        raw = raw.replace(b"\r\n", draw(st.sampled_from([b"\n", b"\r", b"\n\r"])))
    return raw


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mangled())
def test_mangled_messages_never_raise(raw: bytes) -> None:
    """Cut, spliced and relabelled messages still give a contract object."""
    assert_contract(parse_message(raw).to_json())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mangled())
def test_mangled_messages_split_like_the_stdlib(raw: bytes) -> None:
    """The byte splitter builds the feed parser's tree for cut and spliced messages too."""
    same_tree(raw)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from([
            "--BB", "--BB--", "--BB  ", "--BBx", "--AA", "--AA--", "", " x", "X-A: 1", "x",
            "From x",
            "Content-Type: multipart/mixed; boundary=AA", "Content-Type: message/rfc822",
            "Content-Type: multipart/digest; boundary=AA", "Content-Transfer-Encoding: base64",
            "Content-Type: message/delivery-status",
        ]),
        max_size=30,
    ),
    st.sampled_from(["\r\n", "\n"]),
    st.booleans(),
)  # fmt: skip
def test_boundary_soup_splits_like_the_stdlib(lines: list[str], nl: str, end: bool) -> None:
    """Boundary lines, headers and nested types in any order: the same tree as the stdlib."""
    head = 'Content-Type: multipart/mixed; boundary="BB"' + nl + nl
    same_tree((head + nl.join(lines) + (nl if end else "")).encode())


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=500))
def test_random_bytes_split_like_the_stdlib(raw: bytes) -> None:
    """Any bytes at all: the splitter (or its fallback) gives the stdlib's tree."""
    assert isinstance(same_tree(raw), mime.Part)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise(raw: bytes) -> None:
    """Any bytes at all give a contract object."""
    assert_contract(parse_message(raw).to_json())


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["Subject", "From", "To", "Cc", "Date", "Message-ID", "References",
                             "Content-Type", "Content-Disposition", "Content-Transfer-Encoding"]),
            st.text(max_size=60),
        ),
        max_size=8,
    ),
    st.binary(max_size=300),
)  # fmt: skip
def test_random_header_values_never_raise(headers: list[tuple[str, str]], body: bytes) -> None:
    """Arbitrary text (any Unicode, encoded as UTF-8 or surrogates) in key headers is survived."""
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    raw = head.encode("utf-8", "surrogatepass") + b"\r\n" + body
    assert_contract(parse_message(raw).to_json())


def assert_no_step_failed(out: dict[str, Any]) -> None:
    """Valid input: defects may be noted, but no parse step may have raised and been skipped."""
    failed = [e for e in out["errors"] if " failed:" in e]
    assert failed == [], failed


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=200)
_WORD = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)


@st.composite
def valid_messages(draw: st.DrawFn) -> dict[str, Any]:
    """What a well-formed message holds: any Unicode text, any attachment bytes."""
    return {
        "from": (draw(_TEXT.map(_one_line)), draw(_WORD)),
        "to": (draw(_TEXT.map(_one_line)), draw(_WORD)),
        "subject": _one_line(draw(_TEXT)),
        "id": draw(_WORD),
        "in_reply_to": draw(st.none() | _WORD),
        "text": draw(_TEXT),
        "html": draw(st.none() | _TEXT),
        "attachments": draw(
            st.lists(st.tuples(_TEXT.map(_one_line), st.binary(max_size=300)), max_size=2)
        ),
        "utf8": draw(st.booleans()),
    }


def build(spec: dict[str, Any]) -> bytes:
    """The message as the stdlib writes it (boundaries from ``random``: not in a strategy)."""
    msg = EmailMessage()
    msg["From"] = Address(spec["from"][0], spec["from"][1], "example.com")
    msg["To"] = [Address(spec["to"][0], spec["to"][1], "example.org")]
    msg["Subject"] = spec["subject"]
    msg["Message-ID"] = f"<{spec['id']}@example.com>"
    if spec["in_reply_to"]:
        msg["In-Reply-To"] = f"<{spec['in_reply_to']}@example.org>"
    msg["Date"] = "Tue, 01 Aug 2023 10:00:00 +0000"
    msg.set_content(spec["text"] + "\n")
    if spec["html"] is not None:
        msg.add_alternative(f"<p>{html.escape(spec['html'])}</p>", subtype="html")
    for name, data in spec["attachments"]:
        msg.add_attachment(
            data, maintype="application", subtype="octet-stream", filename=(name or "x") + ".bin"
        )
    return msg.as_bytes(policy=policy.SMTPUTF8 if spec["utf8"] else policy.SMTP)


def _one_line(text: str) -> str:
    return " ".join(text.split())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_messages())
def test_valid_messages_parse_without_a_failed_step(spec: dict[str, Any]) -> None:
    """Well-formed messages give the contract and no "… failed:" entry in errors."""
    out = parse_message(build(spec)).to_json()
    assert_contract(out)
    assert_no_step_failed(out)


def test_seed_parses_cleanly() -> None:
    """The unmangled seed is a sane message, so the mangling starts from real structure."""
    out = parse_message(SEED).to_json()
    assert_no_step_failed(out)
    assert out["subject"] == "测试 re: hi"
    assert out["text"].startswith("你好，世界")
    assert [a["filename"] for a in out["attachments"]] == [
        "文.pdf",
        "inner.eml",
        "a.bin",
        "attachment-4.dat",
    ]
