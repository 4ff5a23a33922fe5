"""parse_message on the messy mail of the real world: each case builds its own bytes."""

from __future__ import annotations

import base64
import binascii
import json
import struct
from email.header import Header
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from typing import Any

import pytest

from mailgate.core import charsets, dsn, mime
from mailgate.core.htmltext import html_to_text
from mailgate.core.parse import JSON_KEYS, parse_message


def eml(headers: str, body: bytes | str, *, nl: str = "\r\n") -> bytes:
    """A message from header lines (joined with ``nl``) and a body."""
    head = "".join(line + nl for line in headers.strip("\n").split("\n"))
    data = body.encode() if isinstance(body, str) else body
    return head.encode() + nl.encode() + data


def b64word(text: bytes, charset: str = "utf-8") -> str:
    return f"=?{charset}?B?{base64.b64encode(text).decode()}?="


BASIC = """From: "Zhang, Wei" <zhang@example.cn>
Sender: relay@example.net
Reply-To: reply+abc@example.com
To: Support <support@example.com>, bob@example.org
Cc: =?utf-8?Q?Ren=C3=A9e?= <renee@example.fr>
Subject: Re: order 42
Date: Tue, 01 Aug 2023 10:00:00 +0800
Message-ID: <m1@example.cn>
In-Reply-To: <t0k@example.com>
References: <a@example.com>
 <t0k@example.com>
Received: from a by b; Tue, 01 Aug 2023 10:00:01 +0800
Received: from c by a; Tue, 01 Aug 2023 10:00:00 +0800
Auto-Submitted: no
List-Id: Orders <orders.example.com>
Content-Type: text/plain; charset=utf-8"""


def test_contract_keys_and_header_fields() -> None:
    """A plain message gives exactly the contract keys with ids unbracketed and an ISO date."""
    parsed = parse_message(eml(BASIC, "Thanks!\r\n"))
    out = parsed.to_json()
    assert tuple(out) == JSON_KEYS
    assert out["message_id"] == "m1@example.cn"
    assert out["in_reply_to"] == "t0k@example.com"
    assert out["references"] == ["a@example.com", "t0k@example.com"]
    assert out["date"] == "2023-08-01T10:00:00+08:00"
    assert out["from"] == [{"name": "Zhang, Wei", "address": "zhang@example.cn"}]
    assert out["sender"] == [{"name": "", "address": "relay@example.net"}]
    assert out["reply_to"] == [{"name": "", "address": "reply+abc@example.com"}]
    assert out["to"] == [
        {"name": "Support", "address": "support@example.com"},
        {"name": "", "address": "bob@example.org"},
    ]
    assert out["cc"] == [{"name": "Renée", "address": "renee@example.fr"}]
    assert out["subject"] == "Re: order 42"
    assert out["text"] == "Thanks!\n"
    assert out["html"] is None
    assert out["attachments"] == []
    assert out["kind"] == "normal"
    assert out["bounce"] is None
    assert out["errors"] == []
    json.dumps(out)


def test_pipeline_extras() -> None:
    """Received count, Auto-Submitted, list headers and decoded header lookup are kept."""
    parsed = parse_message(eml(BASIC, "x"))
    assert parsed.received_count == 2
    assert parsed.auto_submitted == "no"
    assert parsed.list_headers == {"list-id": "Orders <orders.example.com>"}
    assert parsed.header("cc") == "Renée <renee@example.fr>"
    assert parsed.header("X-Missing") is None
    assert parsed.raw["Message-ID"] == "<m1@example.cn>"


def test_naive_date_is_utc_and_bad_date_is_an_error() -> None:
    """A -0000 date is UTC (RFC 5322 §3.3); an unreadable one is null plus an error."""
    good = parse_message(eml("Date: 1 Aug 2023 10:00:00 -0000\nSubject: x", "x"))
    assert good.to_json()["date"] == "2023-08-01T10:00:00+00:00"
    bad = parse_message(eml("Date: yesterday at noon\nSubject: x", "x")).to_json()
    assert bad["date"] is None
    assert any("Date" in e for e in bad["errors"])


@pytest.mark.parametrize(
    ("label", "codec", "text"),
    [
        ("gb2312", "gb18030", "镕基与𠀀字"),  # not in GB2312: the sender really used GB18030
        ("GBK", "gb18030", "关于下周的会议安排"),
        ("big5", "cp950", "會議通知：明天上午十點"),
        ("koi8-r", "koi8_r", "Привет, как дела?"),
        ("windows-1251", "cp1251", "Здравствуйте"),
        ("windows-1252", "cp1252", "Prix : 20 € – déjà payé"),
        ("iso-8859-1", "cp1252", "Smart “quotes” € in Latin-1 mail"),
        ("shift_jis", "cp932", "お問い合わせありがとうございます"),
        ("iso-2022-jp", "iso2022_jp", "お問い合わせありがとうございます"),
        ("ks_c_5601-1987", "cp949", "안녕하세요"),
    ],
)
def test_labelled_charsets(label: str, codec: str, text: str) -> None:
    """Each label decodes with the codec senders really mean by it."""
    raw = eml(f"Subject: x\nContent-Type: text/plain; charset={label}", text.encode(codec))
    out = parse_message(raw).to_json()
    assert out["text"] == text
    assert out["errors"] == []


def test_iso_2022_jp_subject() -> None:
    """An ISO-2022-JP encoded word decodes with its escape sequences."""
    subject = b64word("会議の件".encode("iso2022_jp"), "ISO-2022-JP")
    assert parse_message(eml(f"Subject: {subject}", "x")).subject == "会議の件"


@pytest.mark.parametrize("label", ["unknown-8bit", "x-user-defined", "x-unknown"])
def test_meaningless_label_falls_back_to_utf8(label: str) -> None:
    """A label that says nothing is treated as no label: valid UTF-8 is read as UTF-8."""
    raw = eml(f"Subject: x\nContent-Type: text/plain; charset={label}", "Grüße".encode())
    assert parse_message(raw).text == "Grüße"


def test_unknown_label_is_reported() -> None:
    """A label no codec knows is noted (a warning: every byte decoded), the body decoded."""
    raw = eml("Subject: x\nContent-Type: text/plain; charset=x-klingon", "naïve".encode())
    out = parse_message(raw).to_json()
    assert out["text"] == "naïve"
    assert out["errors"] == []
    assert out["warnings"] == ["text/plain: unknown charset 'x-klingon'; decoded as utf_8"]


def test_unlabelled_8bit_is_detected() -> None:
    """8-bit text with no charset at all is detected (here Windows-1251 Russian)."""
    text = "Здравствуйте! Спасибо за ваше письмо, мы ответим вам в течение дня. " * 4
    raw = eml("Subject: x\nContent-Type: text/plain", text.encode("cp1251"))
    out = parse_message(raw).to_json()
    assert out["text"] == text
    assert out["errors"] == []
    assert out["warnings"] == ["text/plain: 8-bit bytes without a charset; detected cp1251"]


def test_latin1_is_the_last_resort(monkeypatch: pytest.MonkeyPatch) -> None:
    """When detection finds nothing either, Latin-1 decodes every byte (a defect)."""
    monkeypatch.setattr(charsets, "detect", lambda data: None)
    # 0x81 is in neither Windows-1252 nor, before a space, GB18030.
    text, problem = charsets.decode_bytes(b"caf\xe9 \x81 ", None)
    assert (text, problem) == ("café \x81 ", "8-bit bytes without a charset; decoded as latin-1")
    assert not charsets.is_warning(problem)


def test_encoded_words_split_mid_character() -> None:
    """A UTF-8 character split across two encoded words is joined before decoding."""
    data = "测试邮件标题".encode()
    words = f"{b64word(data[:4])}\n {b64word(data[4:11])}{b64word(data[11:])}"
    q_words = "=?utf-8?Q?caf=C3?= =?utf-8?Q?=A9_ok?="
    assert parse_message(eml(f"Subject: {words}", "x")).subject == "测试邮件标题"
    assert parse_message(eml(f"Subject: Re: {q_words}!", "x")).subject == "Re: café ok!"


def test_encoded_words_mixed_charsets_and_text() -> None:
    """Words of different charsets decode separately; plain text between them is kept."""
    subject = (
        f"{b64word('你好'.encode('gbk'), 'gb2312')} and {b64word('мир'.encode('koi8-r'), 'koi8-r')}"
    )
    assert parse_message(eml(f"Subject: {subject}", "x")).subject == "你好 and мир"


def test_encoded_word_in_quoted_display_name() -> None:
    """Encoded words inside a quoted display name are decoded (what mailers do)."""
    raw = eml(f'From: "{b64word("王小明".encode())}" <wang@example.cn>', "x")
    assert parse_message(raw).to_json()["from"] == [
        {"name": "王小明", "address": "wang@example.cn"}
    ]


def test_raw_utf8_and_gbk_headers() -> None:
    """Raw 8-bit headers: UTF-8 as RFC 6532 allows, GBK guessed from the body's charset."""
    utf8 = eml("Subject: 你好\nFrom: 张三 <z@example.cn>", b"x")
    out = parse_message(utf8).to_json()
    assert out["subject"] == "你好"
    assert out["from"] == [{"name": "张三", "address": "z@example.cn"}]
    assert out["errors"] == []
    head = "Subject: 关于订单\r\nFrom: 张三 <z@example.cn>\r\nContent-Type: text/plain; charset=gbk"
    gbk = (head + "\r\n\r\n正文").encode("gbk")
    out = parse_message(gbk).to_json()
    assert (out["subject"], out["from"][0]["name"], out["text"]) == ("关于订单", "张三", "正文")


def test_rfc2231_filename_with_continuations() -> None:
    """An RFC 2231 filename split in continuations with a charset is reassembled."""
    body = (
        "--b\r\nContent-Type: text/plain\r\n\r\nsee file\r\n--b\r\n"
        "Content-Type: application/pdf\r\n"
        "Content-Disposition: attachment;\r\n"
        " filename*0*=utf-8''%E5%B9%B4%E5%BA%A6;\r\n filename*1*=%E6%8A%A5%E5%91%8A;\r\n"
        " filename*2=.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQ=\r\n--b--\r\n"
    )
    out = parse_message(eml('Content-Type: multipart/mixed; boundary="b"', body)).to_json()
    assert out["text"] == "see file"
    assert out["attachments"] == [
        {
            "filename": "年度报告.pdf",
            "content_type": "application/pdf",
            "size": 8,
            "content_id": None,
            "inline": False,
        }
    ]


def test_encoded_word_filename_and_path_stripped() -> None:
    """An RFC 2047 filename is decoded and a sender's directory path is dropped (RFC 2183)."""
    name = b64word("報價單.xlsx".encode())
    body = (
        f'--b\r\nContent-Type: application/octet-stream; name="{name}"\r\n\r\nAB\r\n'
        '--b\r\nContent-Disposition: attachment; filename="C:\\\\Users\\\\me\\\\a.txt"\r\n\r\n'
        "CD\r\n--b--\r\n"
    )
    out = parse_message(eml('Content-Type: multipart/mixed; boundary="b"', body)).to_json()
    assert [a["filename"] for a in out["attachments"]] == ["報價單.xlsx", "a.txt"]


def test_wrong_boundary_is_recovered() -> None:
    """A multipart whose declared boundary never appears is split on the one that does."""
    body = (
        "--real\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
        "--real\r\nContent-Type: image/gif\r\nContent-Disposition: attachment; filename=a.gif"
        "\r\n\r\nGIF89a\r\n--real--\r\n"
    )
    out = parse_message(eml('Content-Type: multipart/mixed; boundary="other"', body)).to_json()
    assert out["text"] == "hello"
    assert [a["filename"] for a in out["attachments"]] == ["a.gif"]
    assert "multipart/mixed: boundary 'other' not found; split on 'real'" in out["errors"]


def test_missing_boundary_parameter_is_recovered() -> None:
    """A multipart without a boundary parameter is split on its first "--" line."""
    body = "--XyZ\r\nContent-Type: text/plain\r\n\r\nhi there\r\n--XyZ--\r\n"
    out = parse_message(eml("Content-Type: multipart/mixed", body)).to_json()
    assert out["text"] == "hi there"
    assert any("NoBoundaryInMultipartDefect" in e for e in out["errors"])


def test_multipart_without_any_boundary_keeps_text() -> None:
    """A multipart with no boundary lines at all keeps its payload as the text."""
    out = parse_message(eml("Content-Type: multipart/mixed", "just words\r\n")).to_json()
    assert out["text"] == "just words\n"
    assert any("body kept as text" in e for e in out["errors"])


def test_missing_close_boundary() -> None:
    """A multipart cut before its closing boundary keeps its parts and notes the defect."""
    body = (
        "--b\r\nContent-Type: text/plain\r\n\r\nfirst\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>x"
    )
    out = parse_message(eml('Content-Type: multipart/alternative; boundary="b"', body)).to_json()
    assert (out["text"], out["html"]) == ("first", "<p>x")
    assert any("CloseBoundaryNotFoundDefect" in e for e in out["errors"])


def test_bare_lf_line_ends() -> None:
    """A message with bare LF line ends parses like a CRLF one."""
    body = "--b\nContent-Type: text/plain; charset=utf-8\n\nline one\nline two\n--b--\n"
    raw = eml(
        'Subject: =?utf-8?Q?L=C3=A4uft?=\nContent-Type: multipart/mixed; boundary="b"',
        body,
        nl="\n",
    )
    out = parse_message(raw).to_json()
    assert (out["subject"], out["text"]) == ("Läuft", "line one\nline two")


def test_mixed_cr_lf_in_text_is_normalised() -> None:
    """CRLF, bare CR and LF inside a decoded body all become LF."""
    qp = "a=0D=0Ab=0Dc=0Ad"
    raw = eml("Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable", qp)
    assert parse_message(raw).text == "a\nb\nc\nd"


def test_uuencoded_attachment_in_text() -> None:
    """A uuencoded block in a text body becomes an attachment and leaves the text."""
    payload = b"The quick brown fox jumps over the lazy dog.\n" * 3
    lines = [binascii.b2a_uu(payload[i : i + 45]).decode() for i in range(0, len(payload), 45)]
    body = "Here is the file:\n\nbegin 644 fox.txt\n" + "".join(lines) + "`\nend\n\nBye\n"
    parsed = parse_message(eml("Subject: uu\nContent-Type: text/plain", body))
    assert parsed.text == "Here is the file:\n\n\nBye\n"
    assert [(a.filename, a.content_type, a.data) for a in parsed.attachments] == [
        ("fox.txt", "text/plain", payload)
    ]


def _tnef_attr(level: int, name: int, kind: int, data: bytes) -> bytes:
    # MS-OXTNEF §2.1.3.3: level, attribute id (name | type << 16), length, data, checksum.
    return (
        struct.pack("<BHHI", level, name, kind, len(data))
        + data
        + struct.pack("<H", sum(data) & 0xFFFF)
    )


def tnef(files: list[tuple[str, bytes]]) -> bytes:
    """A minimal winmail.dat holding ``files``."""
    out = struct.pack("<IH", 0x223E9F78, 1)
    for name, data in files:
        out += _tnef_attr(2, 0x9002, 0x0006, b"\x01\x00" + b"\xff" * 12)  # attRendData
        out += _tnef_attr(2, 0x8010, 0x0001, name.encode() + b"\x00")  # attAttachTitle
        out += _tnef_attr(2, 0x800F, 0x0006, data)  # attAttachData
    return out


def test_winmail_dat_lists_its_files() -> None:
    """The files inside a winmail.dat are listed with names and sizes instead of it."""
    blob = tnef([("report.pdf", b"%PDF-" + b"x" * 95), ("notes.txt", b"hello")])
    body = (
        "--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\n"
        'Content-Type: application/ms-tnef; name="winmail.dat"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.b64encode(blob).decode()
        + "\r\n--b--\r\n"
    )
    parsed = parse_message(eml('Content-Type: multipart/mixed; boundary="b"', body))
    assert [
        (a["filename"], a["content_type"], a["size"]) for a in parsed.to_json()["attachments"]
    ] == [
        ("report.pdf", "application/pdf", 100),
        ("notes.txt", "text/plain", 5),
    ]
    assert parsed.attachment_data[1] == b"hello"


def test_corrupt_winmail_dat_is_kept_whole() -> None:
    """A winmail.dat that does not decode stays one attachment, with an error."""
    body = "--b\r\nContent-Type: application/ms-tnef; name=winmail.dat\r\n\r\ngarbage\r\n--b--\r\n"
    out = parse_message(eml('Content-Type: multipart/mixed; boundary="b"', body)).to_json()
    assert [a["filename"] for a in out["attachments"]] == ["winmail.dat"]
    assert "winmail.dat: not a TNEF stream (bad signature)" in out["errors"]


def test_inline_image_by_content_id() -> None:
    """An image in multipart/related is inline with its Content-ID unbracketed."""
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 24).decode()
    body = (
        "--r\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        '<p>Logo: <img src="cid:logo@x"></p>\r\n'
        "--r\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n"
        f"Content-ID: < logo@x >\r\n\r\n{png}\r\n--r--\r\n"
    )
    out = parse_message(eml('Content-Type: multipart/related; boundary="r"', body)).to_json()
    assert out["attachments"] == [
        {
            "filename": "attachment-1.png",
            "content_type": "image/png",
            "size": 32,
            "content_id": "logo@x",
            "inline": True,
        }
    ]
    assert out["text"] == "Logo:"


def test_html_only_mail_is_rendered_to_text() -> None:
    """HTML-only mail gets a readable text: paragraphs, breaks, lists, links, no script."""
    html = (
        "<html><head><title>T</title><style>p {color: red}</style></head><body>"
        "<p>Hello&nbsp;<b>Anna</b> &amp; team,</p><p>Line one<br>Line two</p>"
        "<ul><li>Apples</li><li>Pears</li></ul><ol><li>first<li>second</ol>"
        '<p>See <a href="https://example.com/o/42">your order</a> or '
        '<a href="https://example.com">https://example.com</a>.</p>'
        "<script>alert('x')</script><div>Thanks,<br>Bob</div>"
        "<blockquote><p>old message</p></blockquote></body></html>"
    )
    out = parse_message(eml("Content-Type: text/html; charset=utf-8", html)).to_json()
    assert out["html"] == html
    assert out["text"] == (
        "Hello Anna & team,\n\nLine one\nLine two\n\n- Apples\n- Pears\n\n1. first\n2. second\n\n"
        "See your order (https://example.com/o/42) or https://example.com.\n\n"
        "Thanks,\nBob\n\n> old message"
    )


def test_html_text_edge_cases() -> None:
    """Pre keeps its spacing, mailto links show no duplicate, a broken tag does not raise."""
    assert html_to_text("<pre>a  b\n  c</pre>") == "a  b\n  c"
    assert html_to_text('<a href="mailto:x@y.z">x@y.z</a>') == "x@y.z"
    assert html_to_text("<p>unclosed <b>bold</i></div></li></a>") == "unclosed bold"
    assert (
        html_to_text("<head><title>x</title><body>Body without head end") == "Body without head end"
    )


def test_alternative_prefers_text_part() -> None:
    """With text and HTML alternatives, text is the plain part and html the HTML part."""
    body = (
        "--a\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain version\r\n"
        "--a\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>html version</p>\r\n--a--\r\n"
    )
    out = parse_message(eml('Content-Type: multipart/alternative; boundary="a"', body)).to_json()
    assert (out["text"], out["html"], out["attachments"]) == (
        "plain version",
        "<p>html version</p>",
        [],
    )


def test_forwarded_message_is_an_attachment() -> None:
    """A message/rfc822 part is an attachment named from its subject; its text stays out."""
    inner = eml(
        f"From: a@example.org\nSubject: {b64word('季度 报告'.encode())}\nContent-Type: text/plain",
        "INNER SECRET TEXT\r\n",
    ).decode()
    body = (
        "--f\r\nContent-Type: text/plain\r\n\r\nFYI, see below.\r\n"
        f"--f\r\nContent-Type: message/rfc822\r\n\r\n{inner}\r\n--f--\r\n"
    )
    parsed = parse_message(eml('Content-Type: multipart/mixed; boundary="f"', body))
    out = parsed.to_json()
    assert out["text"] == "FYI, see below."
    assert "INNER" not in out["text"]
    [att] = out["attachments"]
    assert (att["filename"], att["content_type"], att["inline"]) == (
        "季度 报告.eml",
        "message/rfc822",
        False,
    )
    assert att["size"] == len(parsed.attachment_data[0])
    assert parse_message(parsed.attachment_data[0]).text == "INNER SECRET TEXT\n"


def test_format_flowed_is_unwrapped() -> None:
    """format=flowed soft breaks are joined; quoted and signature lines stay (RFC 3676)."""
    body = "This is a long \r\nline.\r\n> quoted \r\n> text\r\n-- \r\nBob\r\n"
    raw = eml("Content-Type: text/plain; charset=utf-8; format=flowed", body)
    assert parse_message(raw).text == "This is a long line.\n> quoted text\n-- \nBob\n"


def test_inline_text_parts_are_joined() -> None:
    """Text parts around an inline image (Apple Mail) are joined in order."""
    body = (
        "--m\r\nContent-Type: text/plain\r\n\r\nbefore\r\n--m\r\nContent-Type: image/jpeg\r\n"
        "Content-Disposition: inline; filename=p.jpg\r\n\r\nJPEG\r\n"
        "--m\r\nContent-Type: text/plain\r\n\r\nafter\r\n--m--\r\n"
    )
    out = parse_message(eml('Content-Type: multipart/mixed; boundary="m"', body)).to_json()
    assert out["text"] == "before\nafter"
    assert [(a["filename"], a["inline"]) for a in out["attachments"]] == [("p.jpg", True)]


@pytest.mark.parametrize(
    "raw",
    [b"", b"\x00\xff\xfe garbage \x80", b"no headers here", b"Subject: x\r\n\r\n" + b"\xff" * 100],
)
def test_never_raises_on_junk(raw: bytes) -> None:
    """Junk input gives a contract object, not an exception."""
    out = parse_message(raw).to_json()
    assert tuple(out) == JSON_KEYS
    json.dumps(out)


def test_not_an_email_is_reported() -> None:
    """Bytes without any header field say so in errors."""
    assert "no header fields" in " ".join(parse_message(b"\x00\x01binary\x02").to_json()["errors"])


def test_deep_nesting_is_cut() -> None:
    """Absurdly deep MIME nesting stops with an error instead of recursing forever."""
    body = ""
    for i in range(60):
        body += f'--b{i}\r\nContent-Type: multipart/mixed; boundary="b{i + 1}"\r\n\r\n'
    raw = eml('Content-Type: multipart/mixed; boundary="b0"', body + "--b60\r\n\r\nx\r\n")
    out = parse_message(raw).to_json()
    assert any("nested deeper" in e for e in out["errors"])


# --- the MIME splitter (core/mime.py) against the stdlib feed parser -----------


def tree(msg: Message) -> tuple[Any, ...]:
    """Everything the feed parser decides about a message, recursively."""
    payload = msg._payload  # type: ignore[attr-defined]
    return (
        msg.get_unixfrom(),
        list(msg.raw_items()),
        msg.get_default_type(),
        msg.preamble,
        msg.epilogue,
        [(type(d).__name__, str(d)) for d in msg.defects],
        [tree(p) for p in payload] if isinstance(payload, list) else payload,
    )


def same_tree(raw: bytes) -> mime.Part:
    """mime.parse_bytes gives exactly the stdlib's compat32 tree; return it."""
    ours = mime.parse_bytes(raw)
    assert tree(ours) == tree(BytesParser(policy=compat32).parsebytes(raw))
    return ours


def mp(boundary: str, *parts: str, close: bool = True, pre: str = "", post: str = "") -> str:
    """A multipart body: preamble, parts on their boundary, the close line, epilogue."""
    body = pre + "".join(f"--{boundary}\r\n{p}\r\n" for p in parts)
    return body + (f"--{boundary}--\r\n{post}" if close else "")


TEXT = "Content-Type: text/plain\r\n\r\nhello\r\nworld"
B64 = base64.encodebytes(b"--OUTER\r\n--INNER--\r\n" * 40).decode().replace("\n", "\r\n")
SPLITTER_CASES = {
    "plain": (eml("Subject: x", "just text\r\n"), True),
    "no body": (b"Subject: x\r\nTo: a@b\r\n", True),
    "no headers": (b"\r\nbody only\r\n", True),
    "empty": (b"", True),
    "folded headers": (
        b"Subject: a\r\n b\r\n\tc\r\nX-Empty:\r\nX-Blank:   \r\n  tail\r\n\r\nx",
        True,
    ),
    "header without space": (b"Subject:x\r\nX-Y:  y  \r\n\r\nx", True),
    "preamble and epilogue": (
        eml(
            'Content-Type: multipart/mixed; boundary="OUTER"',
            mp("OUTER", TEXT, pre="pre\r\n", post="epi\r\n"),
        ),
        True,
    ),
    "boundary first line": (
        eml("Content-Type: multipart/mixed; boundary=OUTER", mp("OUTER", TEXT, TEXT)),
        True,
    ),
    "boundary mid-line and as prefix": (
        eml(
            "Content-Type: multipart/mixed; boundary=OUTER",
            mp("OUTER", TEXT + "\r\nsee --OUTER here\r\n--OUTERX\r\n--OUTER-x\r\n --OUTER", TEXT),
        ),
        True,
    ),
    "boundary with trailing blanks": (
        b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B \t\r\n"
        + TEXT.encode()
        + b"\r\n--B--  \r\n",
        True,
    ),
    "close boundary without line end": (
        b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n" + TEXT.encode() + b"\r\n--B--",
        True,
    ),
    "missing close boundary": (
        eml("Content-Type: multipart/mixed; boundary=B", mp("B", TEXT, TEXT, close=False)),
        True,
    ),
    "nested, inner close missing": (
        eml(
            "Content-Type: multipart/mixed; boundary=OUTER",
            mp(
                "OUTER",
                "Content-Type: multipart/alternative; boundary=INNER\r\n\r\n"
                + mp("INNER", TEXT, close=False),
                TEXT,
            ),
        ),
        True,
    ),
    "nested, outer boundary inside inner": (
        eml(
            "Content-Type: multipart/mixed; boundary=OUTER",
            mp(
                "OUTER",
                "Content-Type: multipart/alternative; boundary=INNER\r\n\r\n--INNER\r\n"
                + TEXT
                + "\r\n--OUTER\r\n"
                + TEXT
                + "\r\n--INNER--\r\n",
                TEXT,
            ),
        ),
        True,
    ),
    "nested multipart last": (
        eml(
            "Content-Type: multipart/mixed; boundary=OUTER",
            mp(
                "OUTER",
                TEXT,
                "Content-Type: multipart/related; boundary=I\r\n\r\n"
                + mp("I", TEXT, post="inner epilogue\r\n"),
            ),
        ),
        True,
    ),
    "nested multipart without epilogue": (
        eml(
            "Content-Type: multipart/mixed; boundary=OUTER",
            mp("OUTER", "Content-Type: multipart/related; boundary=I\r\n\r\n" + mp("I", TEXT)),
        ),
        True,
    ),
    "bare LF": (
        eml(
            "Content-Type: multipart/mixed; boundary=B",
            mp("B", TEXT, TEXT).replace("\r\n", "\n"),
            nl="\n",
        ),
        True,
    ),
    "mixed LF and CRLF": (
        b"Subject: x\nContent-Type: multipart/mixed; boundary=B\r\n\n--B\nContent-Type: text/plain"
        b"\r\n\r\nx\n--B\r\n\nno headers\r\n--B--\n",
        True,
    ),
    "boundary text inside base64 and quoted-printable": (
        eml(
            "Content-Type: multipart/mixed; boundary=OUTER",
            mp(
                "OUTER",
                "Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" + B64,
                "Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
                "=2D-OUTER\r\n--OUTER=\r\n=\r\n--OUTER-- soft",
            ),
        ),
        True,
    ),
    "message/rfc822 last": (
        eml(
            "Content-Type: multipart/mixed; boundary=B",
            mp(
                "B",
                TEXT,
                "Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n",
            ),
        ),
        True,
    ),
    "forwarded multipart": (
        eml(
            "Content-Type: message/rfc822",
            "Subject: inner\r\nContent-Type: multipart/mixed; boundary=I\r\n\r\n" + mp("I", TEXT),
        ),
        True,
    ),
    "digest defaults": (
        eml(
            "Content-Type: multipart/digest; boundary=D",
            mp("D", "\r\nSubject: one\r\n\r\n1", "Subject: no separator\r\nbody", TEXT),
        ),
        True,
    ),
    "encoded multipart": (
        eml(
            "Content-Type: multipart/mixed; boundary=B\nContent-Transfer-Encoding: base64",
            mp("B", TEXT),
        ),
        True,
    ),
    "header line without colon": (b"Subject: x\r\nnot a header\r\n\r\nbody", True),
    "header name with a space": (b"Subject: x\r\nNot A: header\r\nX: y\r\n", True),
    "8-bit headers and body": (
        "Subject: café\r\nX: 中文\r\n\r\nnaïve\xff".encode("utf-8", "surrogateescape"),
        True,
    ),
    "delivery-status": (
        eml(
            "Content-Type: multipart/report; report-type=delivery-status; boundary=R",
            mp(
                "R",
                TEXT,
                "Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\n"
                "Final-Recipient: rfc822; a@b\r\nAction: failed\r\n",
            ),
        ),
        True,
    ),
    # What the fast path hands to the stdlib parser, whole:
    "bare CR": (b"Subject: x\rTo: y\r\r\nbody\rmore", False),
    "no boundary parameter": (eml("Content-Type: multipart/mixed", mp("B", TEXT)), False),
    "start boundary missing": (
        eml("Content-Type: multipart/mixed; boundary=X", mp("B", TEXT)),
        False,
    ),
    "only the close boundary": (
        eml("Content-Type: multipart/mixed; boundary=B", "pre\r\n--B--\r\n"),
        False,
    ),
    "two boundaries in a row": (
        eml("Content-Type: multipart/mixed; boundary=B", "--B\r\n--B\r\n" + TEXT + "\r\n--B--\r\n"),
        False,
    ),
    "boundary at the very end": (
        eml("Content-Type: multipart/mixed; boundary=B", "--B\r\nx\r\n--B"),
        False,
    ),
    "mbox From line": (b"From someone Tue Aug  1 10:00:00 2023\r\nSubject: x\r\n\r\nbody", False),
    "leading continuation": (b" folded\r\nSubject: x\r\n\r\nbody", False),
    "empty header name": (b"Subject: x\r\n: y\r\n\r\nbody", False),
}


@pytest.mark.parametrize("case", list(SPLITTER_CASES))
def test_splitter_matches_feedparser(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The byte splitter builds the stdlib's tree; clean mail never needs the stdlib parser."""
    raw, fast = SPLITTER_CASES[case]
    used = []
    stdlib = mime._stdlib
    monkeypatch.setattr(mime, "_stdlib", lambda text: used.append(text) or stdlib(text))
    same_tree(raw)
    whole = raw.decode("ascii", "surrogateescape")
    assert (whole in used) is not fast, case


def test_splitter_keeps_base64_with_boundary_text_whole() -> None:
    """A boundary string inside base64 data does not cut the attachment."""
    raw = SPLITTER_CASES["boundary text inside base64 and quoted-printable"][0]
    out = parse_message(raw)
    assert out.attachments[0].data == b"--OUTER\r\n--INNER--\r\n" * 40
    assert "--OUTER" in out.text


def test_part_index_follows_changes() -> None:
    """Header lookups see changes made through any Message method."""
    part = same_tree(eml('Content-Type: text/plain; charset="ascii"\nX-A: 1', "x"))
    assert part.get_content_type() == "text/plain" and part.get_content_charset() == "ascii"
    part.set_param("charset", "utf-8")
    part.replace_header("X-A", "2")
    part.add_header("X-B", "3", name="n")
    assert part.get_content_charset() == "utf-8" and part["x-a"] == "2"
    assert part.get_all("X-B") == ['3; name="n"'] and "x-b" in part and len(part) == 3
    part.set_type("text/html")
    assert part.get_content_type() == "text/html"
    del part["content-type"]
    part.set_default_type("message/rfc822")
    assert part.get_content_type() == "message/rfc822" and part.get_param("charset") is None
    assert part.keys() == list(part) == ["X-A", "X-B", "MIME-Version"]


def test_part_returns_header_objects_for_8bit_values() -> None:
    """Like compat32, a field with raw 8-bit bytes comes back as a Header object."""
    raw = "Subject: café\r\n\r\nx".encode()
    ours, theirs = mime.parse_bytes(raw), BytesParser(policy=compat32).parsebytes(raw)
    assert type(ours["subject"]) is type(theirs["subject"]) is Header
    assert str(ours["subject"]) == str(theirs["subject"])


def test_truncated_base64_is_decoded_as_far_as_it_goes() -> None:
    """A base64 body cut to 4n+1 characters still gives its text, with the defect reported."""
    body = base64.b64encode(b"This base64 body is cut short").decode()[:37]
    out = parse_message(eml("Content-Type: text/plain\nContent-Transfer-Encoding: base64", body))
    assert out.text.startswith("This base64 body is cut sho")
    assert any("InvalidBase64LengthDefect" in e for e in out.errors)


def test_vendor_bounce_prefilter_keeps_case_insensitive_matches() -> None:
    """Vendor wording is still found in any case, also with characters re.I takes for ASCII."""
    daemon = Message()
    daemon["From"] = "MAILER-DAEMON@mx.example.com"
    for text in (
        "Thİs is the qmaıl-ſend program",
        "DELIVERY TO THE FOLLOWING RECIPIENT FAILED",
        "x MAİL DELİVERY FAİLED y",
    ):
        assert dsn.text_bounce(daemon, text, "x") is not None, text
    assert dsn.text_bounce(daemon, "nothing to see", "x") is None
