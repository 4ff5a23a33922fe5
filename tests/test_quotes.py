"""extract_reply(): the new part of a reply from each common client, English and Chinese."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailgate.core.quotes import extract_reply

CLIENTS = {
    "gmail": "Thanks!\n\nOn Fri, Mar 1, 2024 at 10:00 AM Acme <s@help.example.com> wrote:\n> old\n",
    "gmail-wrapped": (
        "Thanks!\n\nOn Fri, Mar 1, 2024 at 10:00 AM Acme Support Team Long Name <s@help.example"
        ".com>\nwrote:\n\n> old\n"
    ),
    "gmail-zh": (
        "Thanks!\n\n在 2024年3月1日 周五 10:00，Acme 客服 <s@help.example.com> 写道：\n> 旧\n"
    ),
    "outlook-original": (
        "Thanks!\n\n-----Original Message-----\nFrom: Acme <s@help.example.com>\n"
        "Sent: Friday, March 1, 2024 10:00 AM\nTo: John\nSubject: Ticket\n\nold\n"
    ),
    "outlook-underscores": (
        "Thanks!\n\n________________________________\nFrom: Acme <s@help.example.com>\n"
        "Sent: Friday, March 1, 2024 10:00\nTo: John\nSubject: Ticket\n\nold\n"
    ),
    "outlook-header-block": (
        "Thanks!\n\nFrom: Acme <s@help.example.com>\nSent: Friday, March 1, 2024 10:00\n"
        "To: John\nSubject: Ticket\n\nold\n"
    ),
    "outlook-bold-header-block": (
        "Thanks!\n\n*From:* Acme <s@help.example.com>\n*Sent:* Friday, March 1, 2024 10:00\n"
        "*To:* John\n*Subject:* Ticket\n\nold\n"
    ),
    "outlook-zh": (
        "Thanks!\n\n发件人: Acme 客服 <s@help.example.com>\n发送时间: 2024年3月1日 10:00\n"
        "收件人: 张伟\n主题: 工单\n\n旧\n"
    ),
    "outlook-zh-fullwidth-colon": (
        "Thanks!\n\n发件人：Acme 客服 <s@help.example.com>\n发送时间：2024年3月1日 10:00\n"
        "收件人：张伟\n主题：工单\n\n旧\n"
    ),
    "apple": "Thanks!\n\n> On 1 Mar 2024, at 10:00, Acme <s@help.example.com> wrote:\n> \n> old\n",
    "thunderbird": "Thanks!\n\nOn 3/1/24 10:00 AM, Acme Support wrote:\n> old\n",
    "foxmail-en": (
        'Thanks!\n\n\n------------------ Original ------------------\nFrom:  "Acme"<s@help.example'
        '.com>;\nDate:  Fri, Mar 1, 2024 10:00 AM\nTo:  "John"<j@example.com>;\n\n'
        "Subject:  T\n\nold\n"
    ),
    "foxmail-zh": (
        'Thanks!\n\n------------------ 原始邮件 ------------------\n发件人: "Acme"<s@help.example'
        '.com>;\n发送时间: 2024年3月1日(星期五) 上午10:00\n收件人: "张伟"<z@example.cn>;\n\n'
        "主题: 工单\n"
    ),
    "qq-nbsp": (
        "Thanks!\n\n------------------&nbsp;原始邮件&nbsp;------------------\n"
        '发件人:&nbsp;"Acme"<s@help.example.com&gt;;\n发送时间:&nbsp;2024年3月1日\n'
    ),
    "qq-nbsp-char": "Thanks!\n\n------------------\u00a0原始邮件\u00a0------------------\n旧\n",
    "netease": 'Thanks!\n\n在 2024-03-01 10:00:00，"Acme 客服" <s@help.example.com> 写道：\n>旧\n',
    "quoted-only": "Thanks!\n\n> old line one\n> old line two\n",
}


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_clients(client: str) -> None:
    """Each client's quote header is found and only the new text is kept."""
    assert extract_reply(CLIENTS[client], None) == "Thanks!"


@pytest.mark.parametrize(
    "signature",
    [
        "-- \nJohn Smith\nContoso",
        "--\nJohn",
        "Sent from my iPhone",
        "Sent from my Galaxy",
        "Sent from Mail for Windows",
        "Get Outlook for iOS<https://aka.ms/o0ukef>",
        "Get Outlook for Android",
        "发自我的iPhone",
        "发自我的 iPad",
        "发自网易邮箱大师",
        "发自我的华为手机",
    ],
)
def test_signatures(signature: str) -> None:
    """The RFC 3676 '-- ' separator and mobile signatures are dropped."""
    assert extract_reply(f"Yes, please.\n\n{signature}\n", None) == "Yes, please."


def test_sent_from_in_the_middle_is_kept() -> None:
    """'Sent from my iPhone' far from the end is content, not a signature."""
    text = "Line 1\nSent from my iPhone the photo was blurry\nLine 3\nLine 4\nLine 5\nLine 6\nEnd"
    assert extract_reply(text, None) == text


def test_interleaved_answers_are_kept() -> None:
    """Inline answers between quoted lines stay; the quoted lines go."""
    text = "> Which model?\nM404dn.\n> Which error?\n49.4C02.\n"
    assert extract_reply(text, None) == "M404dn.\n49.4C02."


def test_bottom_posting() -> None:
    """An answer below the quote (bottom-posting) is found."""
    text = "On Fri, Mar 1, 2024, Acme wrote:\n> Which model?\n\nIt is the M404dn.\n-- \nJohn\n"
    assert extract_reply(text, None) == "It is the M404dn."


def test_everything_quoted_is_empty() -> None:
    """A message that is only quotes has no reply text (issue 11, class 20)."""
    assert extract_reply("\n> only quoted\n> lines\n", None) == ""
    assert extract_reply("On Fri, Mar 1, 2024, Acme wrote:\n> only quoted\n", None) == ""


def test_empty_stays_empty() -> None:
    """An empty message has an empty reply."""
    assert extract_reply("", None) == ""
    assert extract_reply("  \n", "") == ""


def test_no_quote_keeps_whole_text() -> None:
    """A message with no quote is all new."""
    assert extract_reply("Hi,\n\nNew question here.\n\nThanks\n", None) == (
        "Hi,\n\nNew question here.\n\nThanks"
    )


def test_crlf_input() -> None:
    """CRLF line ends are handled like LF."""
    text = "Thanks!\r\n\r\nOn Fri, Mar 1, 2024 Acme wrote:\r\n> old\r\n"
    assert extract_reply(text, None) == "Thanks!"


def test_from_line_without_header_block_is_content() -> None:
    """A lone 'From:' line in prose does not start a quote."""
    text = "From: the warehouse team\nwe need 20 more units.\n"
    assert extract_reply(text, None) == text.strip()


@pytest.mark.parametrize(
    "html",
    [
        '<div dir="ltr">New text</div><div class="gmail_quote">On x wrote:<blockquote>old'
        "</blockquote></div>",
        '<p>New text</p><hr><div id="divRplyFwdMsg" dir="ltr"><b>From:</b> x</div><div>old</div>',
        "<p>New text</p><div id=OLK_SRC_BODY_SECTION><b>From:</b> x</div>",
        '<div>New text</div><blockquote type="cite">old</blockquote>',
        "<div>New text</div><div>------------------&nbsp;原始邮件&nbsp;------------------</div>",
        "<html><head><style>p{}</style></head><body><p>New&nbsp;text</p></body></html>",
    ],
)
def test_html_fallback(html: str) -> None:
    """With no text, the HTML is cut at the client's quote markup and stripped."""
    assert extract_reply("", html) == "New text"


def test_text_preferred_over_html() -> None:
    """The HTML is used only when the text is empty."""
    assert extract_reply("From text.", "<p>From html.</p>") == "From text."


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=500))
def test_fuzz_never_raises(text: str) -> None:
    """Never raises, returns stripped text, and blank input gives ''."""
    out = extract_reply(text, None)
    assert out == out.strip()
    if not text.strip():
        assert out == ""
