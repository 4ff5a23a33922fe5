"""Tests for mailgate.core.compose: every message is read back with policy.default."""

from __future__ import annotations

import email
import email.policy
import email.utils
import re
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import EmailMessage

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailgate.core.addresses import address_tokens
from mailgate.core.compose import Composed, compose
from mailgate.core.message import Address, Attachment, Draft
from mailgate.errors import HeaderInjection, InvalidInput

WHEN = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def _draft(**kw: object) -> Draft:
    base: dict[str, object] = {
        "from_": Address("客服团队", "support@example.com"),
        "to": [Address("张伟", "zhang@example.cn")],
        "subject": "您的订单已发货",
        "text": "您好！\n您的订单已发货。\n",
    }
    base.update(kw)
    return Draft(**base)  # type: ignore[arg-type]


def _parse(c: Composed) -> EmailMessage:
    msg = email.message_from_bytes(c.raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    assert not msg.defects
    return msg


def _body(msg: EmailMessage, subtype: str) -> str:
    part = msg.get_body((subtype,))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


def _lines_ok(raw: bytes) -> None:
    assert re.search(rb"\r(?!\n)|(?<!\r)\n", raw) is None, "bare CR or LF"
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998


def _nl(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def test_headers_read_back() -> None:
    """Subject, names, addresses, ids and Date read back as given; Bcc is absent."""
    d = _draft(
        cc=[Address("Li, Na", "li@example.org")],
        bcc=[Address("Hidden", "hidden@example.org")],
        reply_to=[Address("", "reply+tok@example.com")],
        sender=Address("", "robot@example.com"),
        in_reply_to="orig@example.cn",
        references=["first@example.cn", "orig@example.cn"],
        headers={"X-Mailer": "crm"},
    )
    c = compose(d, domain="example.com", date=WHEN)
    msg = _parse(c)
    _lines_ok(c.raw)
    assert msg["Subject"] == "您的订单已发货"
    assert msg["From"].addresses[0].display_name == "客服团队"
    assert msg["To"].addresses[0].display_name == "张伟"
    assert msg["To"].addresses[0].addr_spec == "zhang@example.cn"
    assert msg["Cc"].addresses[0].display_name == "Li, Na"
    assert msg["Sender"].addresses[0].addr_spec == "robot@example.com"
    assert msg["Reply-To"].addresses[0].addr_spec == "reply+tok@example.com"
    assert "Bcc" not in msg and b"hidden" not in c.raw
    assert msg["Message-ID"] == f"<{c.message_id}>"
    assert c.message_id.endswith("@example.com")
    assert msg["In-Reply-To"] == "<orig@example.cn>"
    assert msg["References"] == "<first@example.cn> <orig@example.cn>"
    assert msg["Date"].datetime == WHEN
    assert msg["MIME-Version"] == "1.0"
    assert msg["X-Mailer"] == "crm"
    assert c.raw.startswith(c.headers.encode() + b"\r\n")


def test_internationalised_addresses() -> None:
    """An IDN domain is written in A-labels; a Unicode local part stays UTF-8 (RFC 6532)."""
    d = _draft(to=[Address("李四", "li@例子.中国"), Address("王五", "王五@例子.中国")])
    c = compose(d, domain="example.com")
    _lines_ok(c.raw)
    # policy.default reads UTF-8 headers only from text, as an SMTPUTF8 receiver would.
    msg = email.message_from_string(c.raw.decode("utf-8"), policy=email.policy.default)
    first, second = msg["To"].addresses
    assert (first.display_name, first.addr_spec) == ("李四", "li@xn--fsqu00a.xn--fiqs8s")
    assert (second.display_name, second.addr_spec) == ("王五", "王五@例子.中国")


def test_given_message_id_used() -> None:
    """draft.message_id (without brackets) becomes the Message-ID."""
    c = compose(_draft(message_id="abc.123@example.com"), domain="example.com")
    assert c.message_id == "abc.123@example.com"
    assert _parse(c)["Message-ID"] == "<abc.123@example.com>"


def test_generated_ids_unique() -> None:
    """Two compositions get different Message-IDs on the IDNA sending domain."""
    a = compose(_draft(), domain="例子.中国")
    b = compose(_draft(), domain="例子.中国")
    assert a.message_id != b.message_id
    assert a.message_id.endswith("@xn--fsqu00a.xn--fiqs8s")


def test_text_only_chinese_base64() -> None:
    """A Chinese text body is text/plain, utf-8, base64, and reads back."""
    msg = _parse(compose(_draft(), domain="example.com"))
    assert msg.get_content_type() == "text/plain"
    assert msg["Content-Transfer-Encoding"] == "base64"
    assert msg.get_content_charset() == "utf-8"
    assert _nl(msg.get_content()) == "您好！\n您的订单已发货。\n"


def test_ascii_text_is_7bit() -> None:
    """Plain ASCII with short lines is sent 7bit, CRLF line ends."""
    c = compose(_draft(text="Hello\nWorld"), domain="example.com")
    msg = _parse(c)
    assert msg["Content-Transfer-Encoding"] == "7bit"
    assert c.raw.endswith(b"\r\n\r\nHello\r\nWorld")


def test_mostly_ascii_is_quoted_printable_and_long_lines_wrap() -> None:
    """Mostly ASCII text is quoted-printable; a 5000-character line is soft-wrapped."""
    text = "Grüße aus Köln. " + "x" * 5000 + "\nend"
    c = compose(_draft(text=text), domain="example.com")
    msg = _parse(c)
    _lines_ok(c.raw)
    assert msg["Content-Transfer-Encoding"] == "quoted-printable"
    assert _nl(msg.get_content()) == text


def test_html_only() -> None:
    """An HTML-only draft is a single text/html part."""
    msg = _parse(compose(_draft(text=None, html="<p>你好</p>"), domain="example.com"))
    assert msg.get_content_type() == "text/html"
    assert msg.get_content() == "<p>你好</p>"


def test_alternative_related_mixed() -> None:
    """Text+HTML+inline image+file nest as mixed(alternative(text, related(html, img)), file)."""
    d = _draft(
        html='<p>你好</p><img src="cid:logo@x">',
        attachments=[
            Attachment("报价单（最终版）.pdf", "application/pdf", b"%PDF\x00\xff" * 50),
            Attachment("logo.png", "image/png", PNG, content_id="logo@x", inline=True),
        ],
    )
    c = compose(d, domain="example.com")
    msg = _parse(c)
    _lines_ok(c.raw)
    assert msg.get_content_type() == "multipart/mixed"
    main, pdf = msg.iter_parts()
    assert main.get_content_type() == "multipart/alternative"
    plain, related = main.iter_parts()
    assert plain.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    html, logo = related.iter_parts()
    assert html.get_content() == '<p>你好</p><img src="cid:logo@x">'
    assert logo["Content-ID"] == "<logo@x>"
    assert logo.get_content_disposition() == "inline"
    assert logo.get_content() == PNG
    assert pdf.get_filename() == "报价单（最终版）.pdf"
    assert pdf.get_content_disposition() == "attachment"
    assert pdf.get_content() == b"%PDF\x00\xff" * 50
    assert msg.get_body(("plain",)) is plain


def test_non_ascii_filename_has_both_forms() -> None:
    """A Chinese filename has RFC 2231 filename* and an RFC 2047 name= for old clients."""
    d = _draft(attachments=[Attachment("合同.docx", "application/msword", b"x")])
    raw = compose(d, domain="example.com").raw.decode()
    assert "filename*=utf-8''%E5%90%88%E5%90%8C.docx" in raw
    assert 'name="=?utf-8?b?5ZCI5ZCMLmRvY3g=?="' in raw


def test_long_filename_uses_continuations() -> None:
    """A very long Chinese filename is split into RFC 2231 continuations that read back."""
    name = "非常长的文件名" * 40 + ".txt"
    c = compose(_draft(attachments=[Attachment(name, "text/plain", b"a")]), domain="example.com")
    _lines_ok(c.raw)
    (att,) = _parse(c).iter_attachments()
    assert att.get_filename() == name


def test_bad_content_type_becomes_octet_stream() -> None:
    """A content type with injected parameters or junk falls back to octet-stream."""
    d = _draft(attachments=[Attachment("a.bin", 'x"; evil', b"1")])
    (att,) = _parse(compose(d, domain="example.com")).iter_attachments()
    assert att.get_content_type() == "application/octet-stream"


def test_message_rfc822_not_base64() -> None:
    """An attached message is 7bit, never base64 (RFC 2046 §5.2.1)."""
    inner = b"From: a@example.com\nSubject: hi\n\nbody\n"
    d = _draft(attachments=[Attachment("fwd.eml", "message/rfc822", inner)])
    c = compose(d, domain="example.com")
    (att,) = _parse(c).iter_attachments()
    assert att["Content-Transfer-Encoding"] == "7bit"
    assert att.get_content()["Subject"] == "hi"


def test_auto_submitted_headers() -> None:
    """Automatic mail is marked with Auto-Submitted and X-Auto-Response-Suppress."""
    msg = _parse(compose(_draft(auto_submitted=True), domain="example.com"))
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["X-Auto-Response-Suppress"] == "All"


def test_auto_submitted_caller_value_wins() -> None:
    """A caller's own Auto-Submitted is kept and not doubled."""
    d = _draft(auto_submitted=True, headers={"Auto-Submitted": "auto-replied"})
    msg = _parse(compose(d, domain="example.com"))
    assert msg.get_all("Auto-Submitted") == ["auto-replied"]


def test_subject_injection_refused() -> None:
    """A subject with CRLF raises HeaderInjection for field subject."""
    with pytest.raises(HeaderInjection) as info:
        compose(_draft(subject="hi\r\nBcc: x@example.com"), domain="example.com")
    assert info.value.field == "subject"


def test_owned_caller_header_refused() -> None:
    """A caller header mailgate owns is refused at compose time too."""
    with pytest.raises(InvalidInput):
        compose(_draft(headers={"Subject": "x"}), domain="example.com")


def test_bad_reference_refused() -> None:
    """A reference with spaces names its index."""
    with pytest.raises(InvalidInput) as info:
        compose(_draft(references=["ok@x", "not an id"]), domain="example.com")
    assert info.value.field == "references[1]"


def test_boundary_absent_from_content() -> None:
    """A 7bit body full of boundary-like text never contains the chosen boundary."""
    text = "--=_mg_0123456789abcdef01234567\n" * 50
    c = compose(_draft(text=text, html="<p>x</p>"), domain="example.com")
    msg = _parse(c)
    boundary = msg.get_boundary()
    assert boundary is not None and boundary.encode() not in text.encode()
    assert _nl(_body(msg, "plain")) == text


_texts = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\r\n\0"),
    max_size=300,
)
# Display names as parse_address leaves them: whitespace runs collapsed, none at the ends.
_names = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cc"]), max_size=80).map(
    lambda s: " ".join(s.split())
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    subject=_texts,
    name=st.one_of(_names, st.sampled_from(["=?utf-8?q?x?=", 'a "b" \\ c', "Lee, Ann"])),
    text=st.text(alphabet=st.characters(codec="utf-8"), max_size=2000),
    html=st.one_of(st.none(), st.text(max_size=500)),
    filename=_texts.filter(lambda s: s.strip() != ""),
    data=st.binary(max_size=300),
)
def test_round_trip_property(
    subject: str, name: str, text: str, html: str | None, filename: str, data: bytes
) -> None:
    """Arbitrary Unicode subject, name, bodies and filename survive a policy.default read."""
    d = Draft(
        from_=Address(name, "from@example.com"),
        to=[Address(name, "to@example.org")],
        subject=subject,
        text=text,
        html=html,
        attachments=[Attachment(filename, "application/octet-stream", data)],
    )
    c = compose(d, domain="example.com", date=WHEN)
    _lines_ok(c.raw)
    words = re.findall(rb"=\?utf-8\?[bq]\?[^?]*\?=", c.raw)
    assert all(len(w) <= 75 for w in words)  # RFC 2047 §2
    msg = _parse(c)
    assert msg["Subject"] == subject
    if sum(t.startswith("=?") for t in address_tokens(Address(name, "x@y.z"))) <= 1:
        assert msg["From"].addresses[0].display_name == name
    else:
        # A name longer than one encoded word: policy.default's address parser puts a
        # space between adjacent encoded words, against RFC 2047 §6.2; the stdlib's
        # RFC 2047 decoder (what mail clients do) must give the name back exactly.
        raw_from = email.message_from_bytes(c.raw, policy=email.policy.compat32)["From"]
        assert str(make_header(decode_header(raw_from))) == f"{name} <from@example.com>"
    assert msg["To"].addresses[0].addr_spec == "to@example.org"
    assert _nl(_body(msg, "plain")) == _nl(text)
    if html is not None:
        assert _nl(_body(msg, "html")) == _nl(html)
    (att,) = msg.iter_attachments()
    # get_filename() strips whitespace and a pair of surrounding quotes or angle brackets.
    assert att.get_filename() == email.utils.unquote(filename).strip()
    assert att.get_content() == data
