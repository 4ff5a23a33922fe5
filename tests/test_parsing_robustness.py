"""Robustness on shapes the issue-11 corpus did not have (classes 7–22), written here.

Every message is written for this file from what the named client or server is
documented to write (Outlook/Exchange forwards and replies in their languages,
BlackBerry and AOL footers, Lotus Domino and Yahoo bounces, Exchange's
"Automatic reply" in Outlook's other languages); none is copied from another
project's test mail.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailgate.core.parse import parse_message
from mailgate.core.quotes import extract_reply, is_forward_subject

# --- 21: an Outlook forward uses the reply's separator; the subject tells them apart ----

_OUTLOOK_HISTORY = (
    "Thanks,\nJohn\n\n-----Original Message-----\nFrom: Bob Roe [mailto:bob@example.com]\n"
    "Sent: Monday, January 1, 2024 10:00 AM\nTo: John Smith\nSubject: Printer\n\n"
    "The printer on floor 3 is broken.\n"
)
_OWA_HISTORY = (
    "Thanks,\nJohn\n\n________________________________\nFrom: Bob Roe <bob@example.com>\n"
    "Sent: Monday, January 1, 2024 10:00:00 AM\nTo: John Smith <john@example.com>\n"
    "Subject: Printer\n\nThe printer on floor 3 is broken.\n"
)


@pytest.mark.parametrize(
    "subject",
    ["FW: Printer", "Fw: Printer", "Fwd: Printer", "WG: Drucker", "TR: Imprimante",
     "RV: Impresora", "ENC: Impressora", "I: Stampante", "VB: Skrivare", "转发: 打印机",
     "轉寄: 印表機", "FW: RE: Printer", "[Ticket #4471] FW: Printer"],
)  # fmt: skip
@pytest.mark.parametrize("history", [_OUTLOOK_HISTORY, _OWA_HISTORY])
def test_outlook_forward_keeps_the_forwarded_content(subject: str, history: str) -> None:
    """A forward's "-----Original Message-----" (or header block) opens content, not a quote."""
    got = extract_reply(f"FYI, see below.\n\n{history}", None, subject)
    assert got.startswith("FYI, see below.\n\nThanks,\nJohn\n\n")
    assert "From: Bob Roe" in got and got.endswith("The printer on floor 3 is broken.")


@pytest.mark.parametrize(
    "subject", ["RE: Printer", "AW: Drucker", "答复: 打印机", "回复: 打印机", "SV: Skrivare",
                "RE: FW: Printer", "Printer", "", None],
)  # fmt: skip
@pytest.mark.parametrize("history", [_OUTLOOK_HISTORY, _OWA_HISTORY])
def test_reply_with_the_same_separator_is_cut(subject: str | None, history: str) -> None:
    """A reply ("RE:", "AW:", "答复:", or no prefix at all) still drops the history."""
    assert extract_reply(f"FYI, see below.\n\n{history}", None, subject) == (
        "FYI, see below.\n\nThanks,\nJohn"
    )


def test_forward_subject_prefixes() -> None:
    """The first prefix decides; a word that merely starts like one is no prefix."""
    assert is_forward_subject("Fwd: x") and is_forward_subject(" FW : x")
    assert not is_forward_subject("RE: FW: x")
    assert not is_forward_subject("Fwding rules") and not is_forward_subject("Travel: x")


def test_outlook_html_forward_through_parse() -> None:
    """An HTML-only Outlook forward ("FW:", divRplyFwdMsg) keeps the forwarded mail."""
    html = (
        '<html><body><p>FYI, see below.</p><hr><div id="divRplyFwdMsg"><b>From:</b> Bob Roe'
        " &lt;bob@example.com&gt;<br><b>Sent:</b> Monday, January 1, 2024 10:00 AM<br>"
        "<b>To:</b> John<br><b>Subject:</b> Printer</div><div>The printer is broken.</div>"
        "</body></html>"
    )
    head = "From: John <john@example.com>\r\nTo: support@help.example.com\r\n"
    body = f"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n"
    forward = parse_message(f"{head}Subject: FW: Printer\r\n{body}".encode()).to_json()
    assert forward["reply_text"].startswith("FYI, see below.")
    assert "The printer is broken." in forward["reply_text"]
    reply = parse_message(f"{head}Subject: RE: Printer\r\n{body}".encode()).to_json()
    assert reply["reply_text"] == "FYI, see below."


def test_forward_keeps_idempotence() -> None:
    """Fed back its own output with the same subject, a forward's reply text is unchanged."""
    once = extract_reply(f"FYI\n\n{_OUTLOOK_HISTORY}", None, "FW: Printer")
    assert extract_reply(once, None, "FW: Printer") == once


# --- 19: footers and signatures -----------------------------------------------------


@pytest.mark.parametrize(
    "footer",
    [
        "Sent from my BlackBerry® wireless device",
        "Sent from my BlackBerry 10 smartphone on the Verizon Wireless 4G LTE network.",
        "Sent from my Verizon Wireless BlackBerry",
        "Sent from the all new AOL app for iOS",
        "Sent via the Samsung Galaxy S23, an AT&T 5G smartphone",
        "Sent from my iPhone, please excuse any typos.",
        "Sent from my mobile device, please excuse typos and brevity",
        "Sent from my Sprint Samsung Galaxy S® 5",
        "Sent from AOL Mobile Mail",
        "Sent from my Huawei phone",
        "Sent from my Samsung Galaxy smartphone.",
        "Sent from Yahoo Mail on Android",
        "Get Outlook for iOS<https://aka.ms/o0ukef>",
        "发自我的华为手机",
        "来自网易邮箱大师",
        "Gesendet von meinem Android-Gerät",
        "Отправлено с iPhone",
    ],
)
def test_mobile_footers_of_more_clients(footer: str) -> None:
    assert extract_reply(f"Ok, see you then.\n\n{footer}\n", None) == "Ok, see you then."


@pytest.mark.parametrize(
    "sentence",
    [
        "Sent from my desk, which is much easier than my mobile phone.",
        "Sent from my Samsung, but the screen is broken so please call me back tomorrow.",
        "Sent from my BlackBerry, so please call me tomorrow about the invoice.",
        "Sent from my iPhone, please call me tomorrow.",
    ],
)
def test_a_sentence_about_sending_from_somewhere_is_kept(sentence: str) -> None:
    text = f"Here it is.\n\n{sentence}\n"
    assert extract_reply(text, None) == text.strip()


@pytest.mark.parametrize(
    ("body", "reply"),
    [
        (
            "请尽快发货。\n\n此致\n敬礼\n张三\n销售经理\n电话：138 0000 0000\n",
            "请尽快发货。\n\n此致\n敬礼",
        ),
        (
            "Please send the invoice.\n\nThanks and\nregards,\nJohn Smith\nPurchasing\n"
            "Tel: +1 555 0100\n",
            "Please send the invoice.\n\nThanks and\nregards,",
        ),
    ],
)
def test_a_valediction_on_two_lines_stays_whole(body: str, reply: str) -> None:
    """ "此致" / "敬礼" is one valediction: the contact block below it goes, it stays."""
    assert extract_reply(body, None) == reply
    assert extract_reply(reply, None) == reply


# --- 17/18: attribution and header shapes of more clients (guards) --------------------

ADDR = "support@help.example.com"


@pytest.mark.parametrize(
    "history",
    [
        f"On Mon, Jan 1, 2024 at 10:00 AM Acme Support Team <\n{ADDR}> wrote:\n\n> old\n",
        f"On Mon, Jan 1, 2024 at 10:00 AM Acme Support\n<{ADDR}>\nwrote:\n\n> old\n",
        "On Tue, 2024-01-02 at 18:02 +0530, Bob Roe wrote:\nold, not quoted\n",
        f"On 11-Jan-2024, at 6:54 PM, Bob Roe <{ADDR}> wrote:\n\n> old\n",
        f"    On Monday, January 1, 2024, 10:00:00 AM GMT+1, Acme <{ADDR}> wrote:  \n \n old\n",
        f"W dniu 28 marca 2024 10:30 użytkownik Acme <{ADDR}> napisał:\nold line\n",
        f"Den 14 mars 2024 kl. 10:00 skrev Acme <{ADDR}>:\n\n> old\n",
        f"Op 17-feb.-2024, om 13:18 heeft Acme <{ADDR}> het volgende geschreven:\n\n> old\n",
        '----- Original Message -----\nFrom: "Acme" <a@example.com>\nTo: <me@example.com>\n'
        "Sent: Monday, January 01, 2024 10:00 AM\nSubject: x\n\n> old\n",
        "Fra: Acme <a@example.no>\nSendt: 1. januar 2024 10:00\nTil: Meg\nEmne: SV: x\n\nold\n",
        "差出人: Acme <a@example.jp>\n送信日時: 2024年1月1日 10:00\n宛先: 山田\n"
        "件名: RE: 注文\n\n古い\n",
        "보낸 사람: Acme <a@example.kr>\n보낸 날짜: 2024년 1월 1일 월요일 10:00\n받는 사람: me\n"
        "제목: x\n\nold\n",
        '------------------&nbsp;原始邮件&nbsp;------------------\n发件人: "Acme"<a@qq.com>;\n'
        '发送时间: 2024年1月1日(星期一) 上午10:00\n收件人: "张三"<z@qq.com>;\n主题: 订单\n\n旧\n',
        "Date: Fri, 24 Feb 2024 10:19:41 +0530\nFrom: a@example.com\nTo: me@example.com\n"
        "Subject: x\n\nold\n",
    ],
)
def test_history_shapes_of_more_clients(history: str) -> None:
    assert extract_reply(f"Fine by me.\n\n{history}", None) == "Fine by me."


# --- 7/8: prose bounces of more servers -------------------------------------------------


def _mail(headers: list[tuple[str, str]], body: str) -> bytes:
    head = "".join(f"{k}: {v}\r\n" for k, v in headers)
    mime = "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
    return (head + mime + "\r\n" + body.replace("\n", "\r\n")).encode()


def _to_us(sender: str, subject: str, *extra: tuple[str, str]) -> list[tuple[str, str]]:
    return [("From", sender), ("To", ADDR), ("Subject", subject), *extra]


def test_domino_bounce_from_an_administrator_address() -> None:
    """Domino's "Your message / Subject: … / was not delivered to:" needs no daemon sender."""
    raw = _mail(
        _to_us(
            "Domino Administrator <admin@example.net>",
            "DELIVERY FAILURE: User alice (alice@example.net) not listed in Domino Directory",
        ),
        "Your message\n\n  Subject: Your ticket\n\nwas not delivered to:\n\n  alice@example.net\n\n"
        "because:\n\n  User alice (alice@example.net) not listed in Domino Directory\n",
    )
    out = parse_message(raw).to_json()
    assert out["kind"] == "bounce"
    assert [r["address"] for r in out["bounce"]["recipients"]] == ["alice@example.net"]


def test_yahoo_bounce_from_a_no_reply_address() -> None:
    raw = _mail(
        _to_us("Yahoo Mail <no-reply@yahoo.example>", "Failure Notice"),
        "Sorry, we were unable to deliver your message to the following address.\n\n"
        "<alice@example.net>:\n554: delivery error: dd This user doesn't have an account\n\n"
        "--- Below this line is a copy of the message.\n\nFrom: Acme <support@help.example.com>\n"
        "To: alice@example.net\nSubject: Your ticket\n\nHello\n",
    )
    out = parse_message(raw).to_json()
    assert out["kind"] == "bounce"
    assert [r["address"] for r in out["bounce"]["recipients"]] == ["alice@example.net"]


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        (
            "RE: Undeliverable: Your ticket",
            "I know, the address changed; use carol@example.org.\n\n"
            "> Delivery has failed to these recipients or groups:\n> alice@example.net\n",
        ),
        (
            "Re: failure notice",
            "What does this mean?\n\nOn Mon, Jan 1, 2024 at 10:00 AM MAILER-DAEMON wrote:\n"
            "> Hi. This is the qmail-send program at mail.example.net.\n"
            "> I'm afraid I wasn't able to deliver your message to the following addresses.\n",
        ),
        ("答复: 系统退信", "地址写错了，请改用 carol@example.org。\n\n> 您的邮件未能成功投递。\n"),
    ],
)
def test_a_person_answering_a_bounce_is_not_one(subject: str, body: str) -> None:
    """A reply quoting a bounce's vendor sentence, from a person, stays ordinary mail."""
    out = parse_message(_mail(_to_us("Carol <carol@example.org>", subject), body)).to_json()
    assert out["kind"] == "normal" and out["bounce"] is None


# --- 22: automatic replies in Outlook's languages -------------------------------------


@pytest.mark.parametrize(
    "subject",
    ["Automatisch antwoord: Uw ticket", "Resposta automática: Seu ticket",
     "Automatiskt svar: Ditt ärende", "Automatisk svar: Din sag",
     "Odpowiedź automatyczna: Zgłoszenie", "Automatická odpověď: Tiket",
     "Automaattinen vastaus: Tiketti", "Automatikus válasz: Jegy", "Otomatik yanıt: Bilet",
     "Автоматический ответ: Ваш запрос", "自動応答: お問い合わせ", "자동 회신: 티켓",
     "Out of Office AutoReply: Your ticket", "Away from the office: Your ticket",
     "Vacation reply: Your ticket", "Absent du bureau : Votre ticket",
     "[Support] Automatic reply: Your ticket", "[Ticket #12] Out of Office: Your ticket"],
)  # fmt: skip
def test_automatic_reply_subjects_in_more_languages(subject: str) -> None:
    raw = _mail(_to_us("Bob <bob@example.com>", subject), "I am away until Monday.\n")
    assert parse_message(raw).to_json()["kind"] == "auto_reply"


@pytest.mark.parametrize(
    "subject",
    ["Re: Automatisch antwoord: Uw ticket", "AW: Automatische Antwort: Ihr Ticket",
     "回复: 自动回复: 您的工单", "Question about our vacation policy", "Auto insurance quote",
     "Re: [Support] Automatic reply: Your ticket", "[Support] Automation question"],
)  # fmt: skip
def test_people_writing_about_auto_replies_stay_human(subject: str) -> None:
    raw = _mail(_to_us("Bob <bob@example.com>", subject), "Thanks, I will wait.\n")
    assert parse_message(raw).to_json()["kind"] == "normal"


# --- 17: attributions of Horde, Lotus Notes, GroupWise and more languages -------------


@pytest.mark.parametrize(
    "attribution",
    [
        f"Quoting Acme Support <{ADDR}>:",
        f"Zitat von Acme Support <{ADDR}>:",
        f"Citando a Acme Support <{ADDR}>:",
        f"Acme Support <{ADDR}> wrote on 01/01/2024 10:00:00 AM:",
        "Acme Support/Sales/Acme@Acme wrote on 01/01/2024 10:00:00 AM:",
        f"Acme Support <{ADDR}> ezt írta (időpont: 2024. jan. 1., H, 10:00):",
        f"2024/01/01 10:00、Acme Support <{ADDR}>のメール：",
        f"Dana 1. sij 2024. u 10:00, Acme Support <{ADDR}> je napisao/la:",
        f"ב-1 בינו׳ 2024, בשעה 10:00, Acme Support <{ADDR}> כתב/ה:",
        f"در تاریخ دوشنبه ۱ ژانویه ۲۰۲۴، ۱۰:۰۰ Acme Support <{ADDR}> نوشت:",
        f"пн, 1 січ. 2024 о 10:00 Acme Support <{ADDR}> пише:",
        f"เมื่อ จ. 1 ม.ค. 2024 เวลา 10:00 Acme Support <{ADDR}> เขียนว่า:",
        f"po 1. 1. 2024 o 10:00 Acme Support <{ADDR}> napísal(a):",
        f">>> Acme Support <{ADDR}> 01/01/2024 10:00 >>>",
    ],
)
@pytest.mark.parametrize("history", ["> old text\n> more\n", "old text\nmore\n"])
def test_attributions_of_more_clients(attribution: str, history: str) -> None:
    """Each opens the history, quoted with ">" or not."""
    assert extract_reply(f"Fine by me.\n\n{attribution}\n\n{history}", None) == "Fine by me."


@pytest.mark.parametrize(
    "text",
    [
        "Quoting our policy, email billing@example.com for refunds:\nRefunds take 5 days.",
        "Quoting the manual:\nPress the red button twice.",
        "See below.\n>>> this is important >>>\nPress the red button twice.",
    ],
)
def test_lines_shaped_almost_like_those_are_content(text: str) -> None:
    """No address at the end, or no date in the arrows: the text below is the reply."""
    assert extract_reply(text, None).endswith("Press the red button twice.") or (
        extract_reply(text, None).endswith("Refunds take 5 days.")
    )


# --- 19: signature blocks without "-- " ------------------------------------------------

_ASK = "Can you send me the updated quote by Friday?"


@pytest.mark.parametrize(
    ("signature", "kept"),
    [
        (
            "Mit freundlichen Grüßen / Kind regards\nMax Mustermann\nVertrieb\nBeispiel GmbH\n"
            "Tel. +49 30 1234567\n",
            "Mit freundlichen Grüßen / Kind regards",
        ),
        (
            "Kind regards,\n\nJohn Smith\nSenior Account Manager\nExample Corp\n123 Main Street\n"
            "Suite 400\nSpringfield, IL 62701\nUSA\nPhone: +1 555 555 0100\n"
            "Mobile: +1 555 555 0101\nwww.example.com\n",
            "Kind regards,",
        ),
        (
            "Regards,\nJohn Smith\nExample Corp\nTel: +1 555 0100\n\nCONFIDENTIALITY NOTICE: This"
            " e-mail and any attachments are confidential and intended solely for the addressee.\n",
            "Regards,",
        ),
    ],
)
def test_longer_signature_blocks(signature: str, kept: str) -> None:
    """Two-language valedictions, eleven-line blocks, a disclaimer below the block."""
    assert extract_reply(f"{_ASK}\n\n{signature}", None) == f"{_ASK}\n\n{kept}"


def test_a_long_answer_after_a_thanks_is_not_a_signature() -> None:
    """Nine lines after "Thanks," with only one contact-like line: content, kept."""
    text = (
        "Thanks,\nhere is what I found:\nthe printer stops at page 3\nthe tray is full\n"
        "the cable is fine\nthe driver is new\nthe queue is empty\nthe light is red\n"
        "support told me to call 555 0100 1234\nit still fails"
    )
    assert extract_reply(text, None) == text


def _html_only(html: str, subject: str = "Re: Order 123") -> bytes:
    head = f"From: John <john@example.com>\r\nTo: {ADDR}\r\nSubject: {subject}\r\n"
    mime = "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n"
    return f"{head}{mime}\r\n{html}\r\n".encode()


@pytest.mark.parametrize(
    "html",
    [
        # Proton Mail: its footer's link is rendered after the words.
        '<div>Ok, thanks.</div><div class="protonmail_signature_block"><div>Sent with <a href='
        '"https://proton.me/">Proton Mail</a> secure email.</div></div><br><div class="protonm'
        'ail_quote">On Monday, January 1st, 2024 at 10:00 AM, Acme Support &lt;support@help.ex'
        'ample.com&gt; wrote:<br><blockquote class="protonmail_quote" type="cite">old</blockquo'
        "te></div>",
        # QQ Mail: an 18-dash rule over the signature, then its "原始邮件" block.
        '<div>Ok, thanks.</div><div><br></div><div><div style="color:#909090">-----------------'
        '-</div><div>张三</div><div>示例科技有限公司</div></div><div>&nbsp;</div><div style="fo'
        'nt-size: 12px;">------------------&nbsp;原始邮件&nbsp;------------------</div><div><b>'
        "发件人:</b> Acme Support &lt;support@help.example.com&gt;;</div><div><b>发送时间:</b> 20"
        "24年1月1日(星期一) 上午10:00</div><div><b>收件人:</b> 张三</div><div><b>主题:</b> 订单</d"
        "iv><div>旧</div>",
        # Zimbra: an <hr id="zwchr"> over a bold From/To/Sent/Subject block.
        '<div>Ok, thanks.</div><hr id="zwchr"><div><b>From: </b>"Acme Support" &lt;support@hel'
        'p.example.com&gt;<br><b>To: </b>"John" &lt;john@example.com&gt;<br><b>Sent: </b>Monda'
        "y, January 1, 2024 10:00:00 AM<br><b>Subject: </b>x<br></div><div>old</div>",
    ],
)
def test_html_only_replies_of_more_clients(html: str) -> None:
    assert parse_message(_html_only(html)).to_json()["reply_text"] == "Ok, thanks."


# --- 7/8: Exchange NDRs in Outlook's other languages; statuses printed further down ----

_NDR_TAIL = (
    "\n\n{address}\nRemote Server returned '550 5.1.1 RESOLVER.ADR.RecipNotFound; not found'\n"
)


@pytest.mark.parametrize(
    ("subject", "intro"),
    [
        ("Non recapitabile: Il tuo ticket", "Recapito non riuscito per i destinatari o i gruppi"),
        ("Onbestelbaar: Uw ticket", "Bezorging is mislukt voor deze ontvangers of groepen"),
        ("Недоставленное: запрос", "Не удалось выполнить доставку следующим получателям"),
        ("Niedostarczalne: Zgłoszenie", "Dostarczenie do tych adresatów nie powiodło się"),
        ("Kan inte levereras: Ärende", "Leveransen misslyckades till följande mottagare"),
        ("Nedoručitelné: Tiket", "Doručení následujícím příjemcům se nezdařilo"),
    ],
)
def test_exchange_ndr_in_more_languages(subject: str, intro: str) -> None:
    body = f"{intro}:\n\nalice@example.net\n" + _NDR_TAIL.format(address="alice@example.net")
    out = parse_message(_mail(_to_us("postmaster@example.net", subject), body)).to_json()
    assert out["kind"] == "bounce"
    assert [(r["address"], r["status"]) for r in out["bounce"]["recipients"]] == [
        ("alice@example.net", "5.1.1")
    ]


def test_each_recipient_gets_the_status_printed_below_the_list() -> None:
    """Exchange lists the recipients, then each one's code under "Diagnostic information"."""
    body = (
        "Delivery has failed to these recipients or groups:\n\nalice@example.net\n"
        "The e-mail address you entered couldn't be found.\n\nbob@example.net\n"
        "The recipient's mailbox is full.\n\nDiagnostic information for administrators:\n\n"
        "alice@example.net\n#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##\n\n"
        "bob@example.net\n#554 5.2.2 mailbox full ##\n"
    )
    raw = _mail(_to_us("Microsoft Outlook <postmaster@example.net>", "Undeliverable: x"), body)
    recipients = parse_message(raw).to_json()["bounce"]["recipients"]
    assert [(r["address"], r["status"]) for r in recipients] == [
        ("alice@example.net", "5.1.1"),
        ("bob@example.net", "5.2.2"),
    ]
    assert "5.2.2" in recipients[1]["diagnostic"]


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        (
            "回复: 自动回复: 您的工单",
            "好的，我等你回来。\n\n------------------ 原始邮件 ------------------\n"
            '发件人: "张三"<z@qq.example>;\n发送时间: 2024年1月1日\n主题: 自动回复: 您的工单\n\n'
            "这是来自QQ邮箱的假期自动回复邮件。\n",
        ),
        ("您的工单", "好的。\n\n> 这是来自QQ邮箱的假期自动回复邮件。\n"),
    ],
)
def test_a_person_quoting_a_qq_auto_reply_stays_human(subject: str, body: str) -> None:
    """QQ's fixed auto-reply sentence counts only in the sender's own, unquoted text."""
    raw = _mail(_to_us("Bob <bob@qq.example>", subject), body)
    assert parse_message(raw).to_json()["kind"] == "normal"


def test_the_qq_sentence_in_the_senders_own_text_is_an_auto_reply() -> None:
    raw = _mail(_to_us("Bob <bob@qq.example>", "您的工单"), "这是来自QQ邮箱的假期自动回复邮件。\n")
    assert parse_message(raw).to_json()["kind"] == "auto_reply"


# --- 1/4: ISO-2022-JP with Windows' extensions ------------------------------------------


def _sjis_to_jis(pair: bytes) -> bytes:
    """The JIS X 0208 row/cell of a Shift_JIS pair (the inverse of what Windows does)."""
    s1, s2 = pair
    s1 -= 0x40 if s1 >= 0xE0 else 0
    j1 = (s1 - 0x81) * 2 + 0x21
    if s2 >= 0x9F:
        return bytes((j1 + 1, s2 - 0x7E))
    return bytes((j1, s2 - 0x1F if s2 < 0x7F else s2 - 0x20))


def test_iso_2022_jp_with_nec_characters_is_read() -> None:
    """Outlook writes "①" (NEC row 13) in ISO-2022-JP mail: no escape bytes left in text."""
    jis_text = b"\x1b$B%F%9%H" + _sjis_to_jis("①".encode("cp932")) + b"\x1b(B"
    raw = (
        b"From: a@example.jp\r\nSubject: =?ISO-2022-JP?B?GyRCJUYlOSVILSEbKEI=?=\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-2022-jp\r\n\r\n"
        + jis_text
        + b"\r\n"
    )
    out = parse_message(raw).to_json()
    assert out["subject"] == "テスト①"
    assert out["text"].strip() == "テスト①"


def test_the_windows_codec_reads_every_cp932_double_byte_character() -> None:
    from mailgate.core import jis

    for text in ("①㈱Ⅳ", "髙﨑", "日本語のテキスト", "－￠"):
        data = b"\x1b$B" + b"".join(_sjis_to_jis(c.encode("cp932")) for c in text) + b"\x1b(B"
        assert jis.decode(data)[0] == text
    assert jis.decode(b"ok \x1b(I6\x1b(B")[0] == "ok ｶ"  # JIS X 0201 katakana
    with pytest.raises(UnicodeDecodeError):
        jis.decode(b"\x1b$B\x21")  # half a pair
    with pytest.raises(UnicodeDecodeError):
        jis.decode(b"caf\xe9")  # 8-bit is no ISO-2022-JP


# --- 8: a prose bounce that names nobody: the returned original's one recipient --------

_RETURNED = (
    "From: Acme Support <support@help.example.com>\nTo: alice@example.net\n"
    "Subject: Your ticket\nMessage-ID: <t1@help.example.com>\n\nHello\n"
)


def _with_part(subject: str, human: str, ctype: str, part: str) -> bytes:
    head = f"From: MAILER-DAEMON@mx.example.net\r\nTo: {ADDR}\r\nSubject: {subject}\r\n"
    body = (
        f"--B\r\nContent-Type: text/plain\r\n\r\n{human}\r\n--B\r\nContent-Type: {ctype}\r\n\r\n"
        f"{part}\r\n--B--\r\n"
    ).replace("\r\n", "\n")
    mime = 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="B"\r\n\r\n'
    return (head + mime + body.replace("\n", "\r\n")).encode()


@pytest.mark.parametrize(
    "raw",
    [
        _with_part(
            "Undeliverable mail",
            "Your message could not be delivered.\n550 5.1.1 mailbox unavailable",
            "message/rfc822",
            _RETURNED,
        ),
        _with_part(
            "Returned mail",
            "The message could not be delivered.",
            "text/rfc822-headers",
            _RETURNED.split("\n\n")[0],
        ),
        _mail(
            _to_us("MAILER-DAEMON@mx.example.net", "Undeliverable mail"),
            "Your message could not be delivered.\n\n------ Original message follows ------\n"
            + _RETURNED,
        ),
    ],
)
def test_a_bounce_naming_nobody_fails_the_originals_one_recipient(raw: bytes) -> None:
    out = parse_message(raw).to_json()
    assert out["kind"] == "bounce"
    assert [r["address"] for r in out["bounce"]["recipients"]] == ["alice@example.net"]
    assert out["bounce"]["recipients"][0]["action"] == "failed"


def test_an_original_with_several_recipients_names_nobody() -> None:
    """Which of two recipients failed is unknown: no guess, an error says so."""
    returned = _RETURNED.replace("To: alice@example.net", "To: alice@example.net, bob@example.net")
    raw = _with_part("Undeliverable mail", "Delivery failed.", "message/rfc822", returned)
    out = parse_message(raw).to_json()
    assert out["kind"] == "bounce" and out["bounce"]["recipients"] == []
    assert any("no recipient" in e for e in out["errors"])


# --- 15/22: an auto-reply with a null Return-Path (RFC 3834 §3.3) is no bounce ---------


@pytest.mark.parametrize(
    "body",
    [
        "I am out of the office and cannot be reached until Monday.",
        "I'm away. Your message was not delivered to my phone; I will read it when back.",
        "This mailbox is no longer monitored: your message was not delivered to a person.",
    ],
)
@pytest.mark.parametrize("subject", ["Automatic reply: Your ticket", "Out of Office", "Re: x"])
def test_an_auto_reply_with_a_null_return_path_is_no_bounce(body: str, subject: str) -> None:
    headers = [("Return-Path", "<>"), *_to_us("Bob <bob@example.com>", subject)]
    raw = _mail([*headers, ("Auto-Submitted", "auto-replied")], body + "\n")
    out = parse_message(raw).to_json()
    assert out["kind"] == "auto_reply" and out["bounce"] is None


def test_a_null_return_path_bounce_from_a_plain_address_still_counts() -> None:
    """A bounce subject or a status code backs the weak hint: a relay's bounce is read."""
    headers = [("Return-Path", "<>"), *_to_us("Mail Relay <relay@gw.example>", "Delivery Failure")]
    body = "Delivery to the following recipient failed:\n\nalice@example.net\n550 5.1.1 unknown\n"
    out = parse_message(_mail(headers, body)).to_json()
    assert out["kind"] == "bounce"
    assert [(r["address"], r["status"]) for r in out["bounce"]["recipients"]] == [
        ("alice@example.net", "5.1.1")
    ]


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        (
            "Read: Your ticket #1042",
            "Your message\n\n  To: Bob\n  Subject: Your ticket #1042\n  Sent: Monday, March 4,"
            " 2024 10:00 AM\n\nwas read on Monday, March 4, 2024 10:05 AM.\n",
        ),
        (
            "Not read: Your ticket #1042",
            "Your message\n\n  To: Bob\n  Subject: Your ticket #1042\n\nwas deleted without"
            " being read on Monday, March 4, 2024 10:05 AM.\n",
        ),
        (
            "Gelesen: Ihr Ticket",
            "Ihre Nachricht\n\n  An: Bob\n  Betreff: Ihr Ticket\n\nwurde am Montag, 4. März 2024"
            " 10:05 gelesen.\n",
        ),
    ],
)
def test_outlooks_plain_read_receipts_are_automatic(subject: str, body: str) -> None:
    raw = _mail(_to_us("Bob <bob@example.com>", subject), body)
    assert parse_message(raw).to_json()["kind"] == "auto_reply"


def test_a_subject_starting_with_read_is_not_a_receipt_on_its_own() -> None:
    raw = _mail(_to_us("Bob <bob@example.com>", "Read: chapter 3 notes"), "Here are my notes.\n")
    assert parse_message(raw).to_json()["kind"] == "normal"


# --- header fields: dates as scripts and webmail write them -----------------------------


@pytest.mark.parametrize(
    ("value", "iso"),
    [
        ("2024-03-04T10:00:00Z", "2024-03-04T10:00:00+00:00"),
        ("2024-03-04 10:00:00 +0800", "2024-03-04T10:00:00+08:00"),
        ("Mon, 4 Mar 2024 10:00:00 GMT+0800", "2024-03-04T10:00:00+08:00"),
        ("Mon, 4 Mar 2024 10:00:00 GMT+8", "2024-03-04T10:00:00+08:00"),
        ("Mon, 4 Mar 2024 10:00:00 UTC-5", "2024-03-04T10:00:00-05:00"),
        ("Mon, 4 Mar 2024 10:00:00 +0100 (GMT+1)", "2024-03-04T10:00:00+01:00"),
        ("Mon, 4 Mar 2024 10:00:00 GMT", "2024-03-04T10:00:00+00:00"),
    ],
)
def test_dates_with_an_offset_after_gmt_or_in_iso_form(value: str, iso: str) -> None:
    out = parse_message(f"From: a@example.com\r\nDate: {value}\r\n\r\nx".encode()).to_json()
    assert out["date"] == iso and not out["errors"]


@pytest.mark.parametrize(
    ("value", "mailboxes"),
    [
        ("a@example.com <a@example.com>", [("a@example.com", "a@example.com")]),
        (
            "a@example.com <a@example.com>, b@example.com",
            [("a@example.com", "a@example.com"), ("", "b@example.com")],
        ),
        ("John Doe <mailto:j@example.com>", [("John Doe", "j@example.com")]),
        ("John Doe <<j@example.com>>", [("John Doe", "j@example.com")]),
        ('"Doe, a@b.example" <j@example.com>', [("Doe, a@b.example", "j@example.com")]),
        ("a@example.com, b@example.com", [("", "a@example.com"), ("", "b@example.com")]),
    ],
)
def test_sloppy_mailboxes_give_one_entry_each(value: str, mailboxes: list[tuple[str, str]]) -> None:
    """An address written as the display name, "<mailto:…>", "<<…>>": one mailbox, not two."""
    out = parse_message(f"From: {value}\r\nTo: {value}\r\n\r\nx".encode()).to_json()
    assert [(m["name"], m["address"]) for m in out["to"]] == mailboxes


# --- properties with the new shapes and a forward's subject -----------------------------

_NEW_LINES = st.sampled_from(
    [
        "Thanks!",
        "",
        "> quoted",
        "-----Original Message-----",
        "________________________________",
        "From: Acme <a@b.example>",
        "Sent: Monday",
        "To: x",
        "Subject: y",
        "Quoting Acme <a@b.example>:",
        ">>> Acme <a@b.example> 3/4/2024 10:05 AM >>>",
        "Acme <a@b.example> wrote on 03/04/2024 10:05:33 AM:",
        "Mit freundlichen Grüßen / Kind regards",
        "此致",
        "敬礼",
        "------------------",
        "张三",
        "Tel: +1 555 0100",
        "Sent from my BlackBerry® wireless device",
        "CONFIDENTIALITY NOTICE: this e-mail is confidential and intended solely for you.",
        "The answer is 42.",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_NEW_LINES | st.text(max_size=40), max_size=30),
    st.sampled_from(["FW: x", "RE: x", None]),
)
def test_output_lines_come_from_the_input_on_new_shapes(lines: list[str], subject: str) -> None:
    text = "\n".join(lines)
    for line in extract_reply(text, None, subject).split("\n"):
        assert line.strip() in text


@settings(max_examples=300, deadline=None)
@given(st.lists(_NEW_LINES, max_size=30), st.sampled_from(["FW: x", "RE: x", None]))
def test_idempotent_on_new_shapes(lines: list[str], subject: str) -> None:
    once = extract_reply("\n".join(lines), None, subject)
    assert extract_reply(once, None, subject) == once


@pytest.mark.parametrize(
    ("value", "message_id"),
    [("<>", None), ("<a1@b.example", "a1@b.example"), ("a1@b.example>", "a1@b.example")],
)
def test_message_ids_with_a_bracket_missing_or_nothing_inside(
    value: str, message_id: str | None
) -> None:
    """The contract's ids carry no angle brackets: "<>" is none, a lone bracket is dropped."""
    out = parse_message(f"From: a@example.com\r\nMessage-ID: {value}\r\n\r\nx".encode()).to_json()
    assert out["message_id"] == message_id


@pytest.mark.parametrize(
    "valediction",
    ["Thanks in advance,", "All the best,", "Vielen Dank", "Herzliche Grüße", "Merci beaucoup !",
     "Gracias,", "Obrigado,", "Dziękuję,", "Tack!", "S pozdravem", "感谢！", "謝謝"],
)  # fmt: skip
def test_more_valedictions_over_a_contact_block(valediction: str) -> None:
    block = "John Smith\nSales Manager\nTel: +1 555 0100\n"
    text = f"Can you check the order?\n\n{valediction}\n{block}"
    assert extract_reply(text, None) == f"Can you check the order?\n\n{valediction}"


@pytest.mark.parametrize(
    "lines",
    [
        # Found by the property tests: a second pass saw lines side by side that a
        # quote (or an attribution over it) had kept apart, and cut them.
        [
            "To: x",
            "",
            f"On Mon, Mar 4, 2024 at 10:00 AM Acme <{ADDR}> wrote:",
            "> quoted",
            "From: Acme <a@b.example>",
            "Sent: Monday",
        ],
        [
            "From: Acme <a@b.example>",
            "> quoted",
            "Thanks!",
            "Acme <a@b.example> wrote on 03/04/2024 10:05:33 AM:",
        ],
    ],
)
@pytest.mark.parametrize("subject", ["FW: x", None])
def test_second_pass_changes_nothing(lines: list[str], subject: str | None) -> None:
    once = extract_reply("\n".join(lines), None, subject)
    assert extract_reply(once, None, subject) == once


def test_a_header_block_whose_long_values_wrap_before_the_address() -> None:
    """Plain text made from HTML wraps "From: <long name>" before "<address>": still a block."""
    text = (
        "Ok, thanks.\n\nFrom: Acme Support Team for the Big Customer Accounts Department\n"
        "<support@help.example.com>\nSent: Monday, March 4, 2024 10:00 AM\nTo: John Smith"
        " <john@example.com>; Jane Roe\n<jane@example.com>; Bob <bob@example.com>\n"
        "Subject: RE: Order\n\nold text\n"
    )
    assert extract_reply(text, None) == "Ok, thanks."
    prose = "From: my side all good\nJane <jane@example.com> will call you.\nSee you soon."
    assert extract_reply(prose, None) == prose
