"""Header and MIME shapes real mail has and RFCs forbid (issue 11, classes 1–6).

Each test builds its message here, from the format's description and what the
named clients are known to write; see docs/parsing.md for the conventions.
"""

from __future__ import annotations

import base64
from email.mime.text import MIMEText

import pytest

from mailgate.core import charsets
from mailgate.core.htmltext import html_to_text
from mailgate.core.parse import parse_message


def eml(*lines: str | bytes, body: bytes = b"Hello.\r\n") -> bytes:
    head = b"".join((x.encode() if isinstance(x, str) else x) + b"\r\n" for x in lines)
    return head + b"\r\n" + body


# --- 1. raw 8-bit bytes inside an encoded word ------------------------------------


def test_raw_latin1_bytes_inside_a_q_word_use_the_words_charset() -> None:
    """``=?iso-8859-1?Q?Caf\\xe9?=`` is Latin-1 text, not "Caf?"."""
    out = parse_message(eml(b"Subject: =?iso-8859-1?Q?Caf\xe9_cr\xe8me?=")).to_json()
    assert out["subject"] == "Café crème"
    assert out["errors"] == [] and out["warnings"] == []


def test_raw_bytes_inside_a_word_in_a_display_name() -> None:
    """The same in a From display name; raw UTF-8 outside the word stays UTF-8."""
    raw = eml(
        b"From: =?windows-1252?Q?J\xfcrgen_M\xfcller?= <jm@example.de>",
        b"Subject: \xc3\xa9t\xc3\xa9",
    )
    out = parse_message(raw).to_json()
    assert out["from"] == [{"name": "Jürgen Müller", "address": "jm@example.de"}]
    assert out["subject"] == "été"


def test_raw_gbk_bytes_inside_a_b_labelled_word() -> None:
    """A GB2312 word whose text is raw GBK (no base64 alphabet) still decodes as GBK."""
    raw = eml(b"Subject: =?gb2312?Q?" + "发票".encode("gbk") + b"?=")
    assert parse_message(raw).subject == "发票"


# --- 2. a whole mailbox inside one encoded word ----------------------------------


def test_whole_mailbox_in_one_encoded_word() -> None:
    """``From: =?utf-8?b?<张三 <a@b>>?=`` gives the name and a usable address."""
    word = base64.b64encode("张三 <customer@example.net>".encode()).decode()
    out = parse_message(eml(f"From: =?utf-8?b?{word}?=", "Subject: x")).to_json()
    assert out["from"] == [{"name": "张三", "address": "customer@example.net"}]


def test_mailbox_written_by_email_mime() -> None:
    """Python's email.mime with a non-ASCII From string writes the whole field encoded."""
    msg = MIMEText("hello", "plain", "utf-8")
    msg["From"] = "张三 <customer@example.net>"
    msg["To"] = "support@example.com"
    msg["Subject"] = "问题"
    out = parse_message(msg.as_bytes()).to_json()
    assert "=?" in msg.as_string().split("From: ")[1].split("\n")[0]
    assert out["from"] == [{"name": "张三", "address": "customer@example.net"}]
    assert out["subject"] == "问题"


def test_encoded_word_that_holds_no_address_stays_a_name() -> None:
    """Decoding first is only a fallback: a normal encoded name is not re-split."""
    word = base64.b64encode(b"Li, Na").decode()
    out = parse_message(eml(f"From: =?utf-8?b?{word}?= <li@example.cn>")).to_json()
    assert out["from"] == [{"name": "Li, Na", "address": "li@example.cn"}]


def test_undecodable_mailbox_word_is_kept_without_a_fake_address() -> None:
    """An encoded word without any address inside stays what it was (no invented split)."""
    word = base64.b64encode(b"nobody here").decode()
    out = parse_message(eml(f"From: =?utf-8?b?{word}?=")).to_json()
    assert all("@" not in a["address"] for a in out["from"])


# --- 3. a malformed header line ------------------------------------------------


def test_malformed_header_line_is_skipped_and_reported() -> None:
    """``X Spam: yes`` before From/Subject: both are still read, the line is a defect."""
    raw = eml("Received: from a by b", "X Spam: yes", "From: Ann <ann@example.org>",
              "Subject: still here", body=b"Body text.\r\n")  # fmt: skip
    out = parse_message(raw).to_json()
    assert out["from"] == [{"name": "Ann", "address": "ann@example.org"}]
    assert out["subject"] == "still here"
    assert out["text"] == "Body text.\n"
    assert "malformed header line skipped: 'X Spam: yes'" in out["errors"]


def test_malformed_line_with_a_continuation() -> None:
    """A folded malformed field is skipped with its continuation lines."""
    raw = eml("X Mailer Info: one", "  two", "Subject: ok", "To: t@example.com")
    out = parse_message(raw).to_json()
    assert out["subject"] == "ok" and out["to"][0]["address"] == "t@example.com"
    assert out["text"] == "Hello.\n"


def test_body_without_blank_line_still_starts_the_body() -> None:
    """A line with no colon ends the header block as before (the body lost its blank line)."""
    raw = b"Subject: hi\r\nThanks for the quick answer\r\nFrom: quoted@example.org\r\n"
    out = parse_message(raw).to_json()
    assert out["subject"] == "hi" and out["from"] == []
    assert "Thanks for the quick answer" in out["text"]


# --- 4. charset guessing on short samples ---------------------------------------


def test_short_latin_sample_is_windows_1252() -> None:
    """``Stra\\xdfe 5`` is "Straße 5", not an Arabic presentation form from cp1006."""
    out = parse_message(eml(b"Subject: Stra\xdfe 5")).to_json()
    assert out["subject"] == "Straße 5"
    assert out["errors"] == []
    assert out["warnings"] == ["raw 8-bit header: 8-bit bytes without a charset; decoded as cp1252"]


def test_short_chinese_sample_is_gb18030() -> None:
    """Pairs of 8-bit bytes read as GB18030."""
    out = parse_message(eml(b"Subject: " + "报价单".encode("gbk"))).to_json()
    assert out["subject"] == "报价单"


def test_other_declared_charset_comes_first() -> None:
    """A raw KOI8-R subject in a message whose body says koi8-r is read as KOI8-R."""
    raw = eml(b"Subject: " + "Счёт".encode("koi8_r"), b"Content-Type: text/plain; charset=koi8-r",
              body="Добрый день".encode("koi8_r"))  # fmt: skip
    out = parse_message(raw).to_json()
    assert out["subject"] == "Счёт"


def test_encoded_word_charset_is_a_hint_for_raw_bytes() -> None:
    """The charset of an encoded word elsewhere guides raw bytes in another header."""
    word = "=?iso-8859-2?Q?" + "".join(f"={b:02X}" for b in "Łódź".encode("iso8859_2")) + "?="
    raw = eml(f"Subject: {word}".encode(), b"From: " + "Paweł".encode("iso8859_2") + b" <p@x.pl>")
    out = parse_message(raw).to_json()
    assert out["subject"] == "Łódź"
    assert out["from"] == [{"name": "Paweł", "address": "p@x.pl"}]


@pytest.mark.parametrize(
    ("data", "first"),
    [
        (b"Stra\xdfe", "cp1252"),
        ("发票号码".encode("gbk"), "gb18030"),
        (b"na\xefve caf\xe9", "cp1252"),
    ],
)
def test_script_order(data: bytes, first: str) -> None:
    assert charsets.script_codecs(data)[0] == first


# --- 5. raw UTF-8 in a filename parameter ---------------------------------------


def test_raw_utf8_filename_parameter() -> None:
    """``filename="报价单.pdf"`` in raw UTF-8 (Foxmail, many webmails) keeps its name."""
    body = (
        b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsee file\r\n--b\r\n"
        b'Content-Type: application/pdf; name="' + "报价单.pdf".encode() + b'"\r\n'
        b'Content-Disposition: attachment; filename="' + "报价单.pdf".encode() + b'"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n"
    )
    out = parse_message(eml('Content-Type: multipart/mixed; boundary="b"', body=body)).to_json()
    assert [a["filename"] for a in out["attachments"]] == ["报价单.pdf"]
    assert out["errors"] == []


def test_raw_gbk_filename_uses_the_body_charset() -> None:
    """A raw GBK name in a GBK message reads as GBK, with a quoted ';' kept in the name."""
    name = "合同;第2版.doc".encode("gbk")
    body = (
        b"--b\r\nContent-Type: text/plain; charset=gbk\r\n\r\n" + "见附件".encode("gbk") + b"\r\n"
        b'--b\r\nContent-Type: application/msword\r\nContent-Disposition: attachment; filename="'
        + name + b'"\r\n\r\nx\r\n--b--\r\n'
    )  # fmt: skip
    out = parse_message(eml('Content-Type: multipart/mixed; boundary="b"', body=body)).to_json()
    assert [a["filename"] for a in out["attachments"]] == ["合同;第2版.doc"]


# --- 6. smaller ones ------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("Helpdesk (Ticket System) <h@example.com>", "Helpdesk"),
        ("(Support) Ann Lee <a@example.com>", "Ann Lee"),
        ('"Helpdesk (Ticket System)" <h@example.com>', "Helpdesk (Ticket System)"),
        ("h@example.com (Helpdesk)", "Helpdesk"),
    ],
)
def test_comments_are_not_display_names(value: str, name: str) -> None:
    """A comment in the phrase is dropped; quoted text and the legacy ``addr (Name)`` stay."""
    out = parse_message(eml(f"From: {value}")).to_json()
    assert [a["name"] for a in out["from"]] == [name]


def test_message_partial_keeps_its_bytes() -> None:
    """A message/partial fragment is kept byte for byte (LF line ends stay LF)."""
    fragment = b"Subject: part 1\nMessage-ID: <whole@example.org>\n\nfirst half of the \n"
    body = (
        b'--b\r\nContent-Type: text/plain\r\n\r\nfragment attached\r\n--b\r\n'
        b'Content-Type: message/partial; id="whole@example.org"; number=1; total=2\r\n\r\n'
        + fragment + b"\r\n--b--\r\n"
    )  # fmt: skip
    out = parse_message(eml('Content-Type: multipart/mixed; boundary="b"', body=body))
    (att,) = [a for a in out.attachments if a.content_type == "message/partial"]
    assert att.data == fragment


def test_message_external_body_keeps_its_bytes() -> None:
    """An external-body part's headers are its content and are kept as they came."""
    inner = b"Content-Type: application/pdf\nContent-ID: <doc@example.org>\n\n"
    body = (
        b"--b\r\nContent-Type: text/plain\r\n\r\nsee the link\r\n--b\r\n"
        b'Content-Type: message/external-body; access-type=URL; URL="http://127.0.0.1/doc.pdf"\r\n'
        b"\r\n" + inner + b"\r\n--b--\r\n"
    )
    out = parse_message(eml('Content-Type: multipart/mixed; boundary="b"', body=body))
    (att,) = [a for a in out.attachments if a.content_type == "message/external-body"]
    assert att.data == inner


def test_unlabelled_part_uses_its_siblings_charset() -> None:
    """A text part with no charset next to one saying iso-8859-2 is read as ISO-8859-2."""
    polish = "Zażółć gęślą jaźń"
    body = (
        b"--b\r\nContent-Type: text/plain\r\n\r\n" + polish.encode("iso8859_2") + b"\r\n--b\r\n"
        b"Content-Type: text/html; charset=iso-8859-2\r\n\r\n<p>"
        + polish.encode("iso8859_2") + b"</p>\r\n--b--\r\n"
    )  # fmt: skip
    out = parse_message(
        eml('Content-Type: multipart/alternative; boundary="b"', body=body)
    ).to_json()
    assert out["text"].strip() == polish
    assert out["errors"] == []
    assert out["warnings"] == ["text/plain: 8-bit bytes without a charset; decoded as iso8859-2"]


def test_warnings_and_errors_are_apart() -> None:
    """A complete fallback reading is a warning; a lossy one stays an error."""
    assert charsets.is_warning("8-bit bytes without a charset; decoded as cp1252")
    assert charsets.is_warning("unknown charset 'x'; detected cp1251")
    assert not charsets.is_warning("bytes invalid in charset 'utf-8'; undecodable bytes replaced")
    assert not charsets.is_warning("8-bit bytes without a charset; decoded as latin-1")
    assert not charsets.is_warning("undecodable encoded word '=?x?'")
    out = parse_message(eml("Date: not a date", "Subject: x")).to_json()
    assert out["warnings"] == [] and any("Date" in e for e in out["errors"])


# --- html_to_text's tokenizer (speed work: the same text as html.parser gave) -------


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<span style='a>b'>x</span><P>y</P>", "x\n\ny"),  # ">" inside a quoted value
        ("<SCRIPT>if (a<b) x()</SCRIPT >after", "after"),  # raw content, any case
        ("<img alt=Bob's src=x.png> and <b>bold</b>", "Bob's and bold"),  # a stray quote
        ("<a href=https://x.example/a>link</a>", "link (https://x.example/a)"),
        ("<p>a &amp; b<!-- <p>hidden</p> --></p><br/>c", "a & b\n\nc"),
        ("<!--[if mso]><p>Outlook only</p><![endif]--><div>seen</div>", "seen"),
        ("<ul><li>one<li>two</ul><hr/>end", "- one\n- two\n\n" + "_" * 32 + "\nend"),
        ("<p>no end <b", "no end <b"),
    ],
)
def test_html_to_text_tokenizer(html: str, text: str) -> None:
    assert html_to_text(html) == text


def test_html_to_text_on_markup_that_never_closes_returns() -> None:
    """Thousands of unclosed tags or comments are text, read in one pass (no blow-up)."""
    for junk in ("<a" * 5000, "<!--" * 5000, "<p x='" * 2000):
        assert html_to_text(junk) == junk
