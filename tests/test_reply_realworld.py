"""extract_reply() on reply shapes of the world's clients (issue 11, classes 17–21).

Every message here is written for this file, shaped after what Gmail, Outlook and
Exchange, Apple Mail, Thunderbird, Foxmail, QQ and 163 webmail and mobile clients
put in their plain-text parts.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailgate.core.quotes import extract_reply

ADDR = "support@help.example.com"

# --- 17: attribution lines ---------------------------------------------------------

ATTRIBUTIONS = {
    "gmail-en": f"On Mon, Mar 4, 2024 at 10:00 AM Acme Support <{ADDR}> wrote:",
    "gmail-de": f"Am Mo., 4. März 2024 um 10:00 Uhr schrieb Acme Support <{ADDR}>:",
    "apple-de": f"Acme Support <{ADDR}> schrieb am 04.03.2024 um 10:00:",
    "gmail-fr": f"Le lun. 4 mars 2024 à 10:00, Acme Support <{ADDR}> a écrit :",
    "gmail-es": f"El lun, 4 mar 2024 a las 10:00, Acme Support (<{ADDR}>) escribió:",
    "gmail-pt": f"Em seg., 4 de mar. de 2024 às 10:00, Acme Support <{ADDR}> escreveu:",
    "gmail-it": f"Il giorno lun 4 mar 2024 alle ore 10:00 Acme Support <{ADDR}> ha scritto:",
    "gmail-nl": f"Op ma 4 mrt 2024 om 10:00 schreef Acme Support <{ADDR}>:",
    "thunderbird-pl": "W dniu 4.03.2024 o 10:00, Acme Support pisze:",
    "gmail-pl": f"pon., 4 mar 2024 o 10:00 Acme Support <{ADDR}> napisał(a):",
    "thunderbird-ru": "04.03.2024 10:00, Acme Support пишет:",
    "outlook-ru": f"4 марта 2024 г., в 10:00, Acme Support <{ADDR}> написал:",
    "gmail-sv": f"mån 4 mars 2024 kl 10:00 skrev Acme Support <{ADDR}>:",
    "gmail-da": f"man. 4. mar. 2024 kl. 10.00 skrev Acme Support <{ADDR}>:",
    "gmail-fi": f"ma 4. maalisk. 2024 klo 10.00 Acme Support ({ADDR}) kirjoitti:",
    "gmail-zh": f"Acme Support <{ADDR}> 于2024年3月4日周一 10:00写道：",
    "netease-zh": f'在 2024-03-04 10:00:00，"Acme Support" <{ADDR}> 写道：',
    "thunderbird-ja": "2024/03/04 10:00, Acme Support のメッセージ:",
    "gmail-ja-verbless": f"2024年3月4日(月) 10:00 Acme Support <{ADDR}>:",
    "gmail-old-date-first": f"2016-10-24 15:36 GMT+02:00 Acme Support <{ADDR}>:",
    "mailru-verbless": f"Понедельник, 4 марта 2024, 10:00 +03:00 от Acme Support <{ADDR}>:",
    "zoho-dashes": f"---- On Mon, 04 Mar 2024 10:00:00 +0000 Acme Support <{ADDR}> wrote ----",
    "no-on": f"Mon, Mar 4, 2024 at 10:00 AM, Acme Support <{ADDR}> wrote:",
    "apple-nl": f"Op 4 mrt. 2024, om 10:00 heeft Acme Support <{ADDR}> het volgende geschreven:",
    "gmail-id": f"Pada Sen, 4 Mar 2024 10.00, Acme Support <{ADDR}> menulis:",
    "gmail-el": f"Στις Δευ 4 Μαρ 2024 στις 10:00, ο/η Acme Support <{ADDR}> έγραψε:",
    "gmail-ko": f"2024년 3월 4일 (월) 오전 10:00, Acme Support <{ADDR}>님이 작성:",
    "thunderbird-cs": f"Dne 4. 3. 2024 v 10:00 Acme Support <{ADDR}> napsal(a):",
}
QUOTE_ONLY_ATTRIBUTIONS = {
    "mutt": f"* Acme Support <{ADDR}> [2024-03-04 10:00:00 +0000]:",
    "gmail-old-ja-no-colon": f"2013/7/20 Acme Support <{ADDR}>",
}


@pytest.mark.parametrize("client", sorted(ATTRIBUTIONS))
def test_attribution_then_quote(client: str) -> None:
    """Each client's attribution, followed by ">" quotes, is cut with the quote."""
    text = f"Thanks, it works.\n\n{ATTRIBUTIONS[client]}\n\n> old text\n> more\n"
    assert extract_reply(text, None) == "Thanks, it works."


@pytest.mark.parametrize("line", sorted(QUOTE_ONLY_ATTRIBUTIONS.values()))
def test_attribution_shapes_that_need_a_quote(line: str) -> None:
    """Mutt's verbless header counts over a quote, and stays text without one."""
    assert extract_reply(f"Thanks, it works.\n\n{line}\n> old\n", None) == "Thanks, it works."
    prose = f"Thanks, it works.\n\n{line}\nnew text\n"
    assert extract_reply(prose, None) == prose.strip()


@pytest.mark.parametrize("client", sorted(ATTRIBUTIONS))
def test_attribution_then_unmarked_history(client: str) -> None:
    """Without ">" marks (HTML rendered as text) the history after it is cut too."""
    text = f"Thanks, it works.\n\n{ATTRIBUTIONS[client]}\n\nold text\nmore\n"
    assert extract_reply(text, None) == "Thanks, it works."


@pytest.mark.parametrize(
    "wrapped",
    [
        # Gmail wraps at 78 columns, also inside the address.
        f"On Mon, Mar 4, 2024 at 10:00 AM Acme Support Team With A Long Name <{ADDR[:12]}\n"
        f"{ADDR[12:]}> wrote:",
        # Outlook's text rendering of an HTML reply: "<", then the mailto: fragment.
        f"On Mon, Mar 4, 2024 at 10:00 AM Acme Support <\n{ADDR}<mailto:{ADDR}>>\nwrote:",
        # Four lines.
        f"Am Mo., 4. März 2024 um 10:00 Uhr\nschrieb Acme Support\n<{ADDR[:13]}\n{ADDR[13:]}>:",
        f"El lun, 4 mar 2024 a las 10:00, Acme Support\n(<{ADDR}>)\nescribió:",
        # Gmail wrapped right before the ">" that closes the address.
        f"On Mon, Jan 21, 2013 at 5:48 PM, Acme Support <{ADDR}\n> wrote:",
    ],
)
def test_wrapped_attributions(wrapped: str) -> None:
    """Attributions wrapped over two to four lines are found whole."""
    assert extract_reply(f"Done.\n\n{wrapped}\n\n> old\n", None) == "Done."


def test_dateless_attribution_over_a_quote() -> None:
    """Thunderbird's "Author wrote:" (no date) is cut when a quote follows it."""
    text = "Works now.\n\nAcme Support wrote:\n> Try again.\n\nThanks!\n"
    assert extract_reply(text, None) == "Works now.\n\nThanks!"
    unquoted = "Works now.\n\nAcme Support wrote:\nTry again.\n"
    assert extract_reply(unquoted, None) == unquoted.strip()  # no quote: prose


def test_glued_attribution_keeps_the_reply_line() -> None:
    """An attribution glued onto the end of the reply's last line cuts only itself."""
    text = f"Yes, that is right. On Mon, Mar 4, 2024 at 10:00 AM Acme <{ADDR}> wrote:\n> q\n"
    assert extract_reply(text, None) == "Yes, that is right."


def test_attribution_without_colon_needs_a_quote() -> None:
    """'… wrote' without a colon counts only when a quoted line follows."""
    quoted = f"Fine.\n\nMon, Mar 4, 2024 at 10:00 AM, Acme <{ADDR}> wrote\n> old\n"
    assert extract_reply(quoted, None) == "Fine."
    prose = "Fine.\n\nOn Monday at 10:00 my colleague wrote\nthe report for you.\n"
    assert extract_reply(prose, None) == prose.strip()


@pytest.mark.parametrize(
    "prose",
    [
        "I wrote to you on 4 March 2024 and nobody answered.",
        "My colleague wrote the serial number on the box: AB-1234.",
        "On Monday I wrote:",  # an attribution shape with no date, time or address
        "As I wrote yesterday, the printer is broken.",
        "He wrote: 'call me at 10:00'.",
        "Le technicien a écrit le numéro sur la facture.",
        "Am Montag schrieb ich Ihnen schon einmal.",
    ],
)
def test_reply_lines_that_mention_writing_are_kept(prose: str) -> None:
    """A line of the reply that merely contains 'wrote' never cuts the reply."""
    text = f"Hello,\n\n{prose}\nPlease check again.\n\nRegards\n"
    assert extract_reply(text, None) == text.strip()


# --- 18: quoted header blocks and separators ---------------------------------------

HEADER_BLOCKS = {
    "outlook-fr": "De : Acme <{a}>\nEnvoyé : lundi 4 mars 2024 10:00\nÀ : Jean\nObjet : Ticket",
    "outlook-fr-nbsp": "De\u00a0: Acme <{a}>\nEnvoyé\u00a0: lundi 4 mars 2024\nÀ\u00a0: Jean\n"
    "Objet\u00a0: Ticket",
    "outlook-de": "Von: Acme <{a}>\nGesendet: Montag, 4. März 2024 10:00\nAn: Max\nBetreff: Ticket",
    "outlook-it": "Da: Acme <{a}>\nInviato: lunedì 4 marzo 2024 10:00\nA: Luca\nOggetto: Ticket",
    "outlook-nl": "Van: Acme <{a}>\nVerzonden: maandag 4 maart 2024\nAan: Daan\nOnderwerp: Ticket",
    "outlook-sv": "Från: Acme <{a}>\nSkickat: den 4 mars 2024 10:00\nTill: Maja\nÄmne: Ticket",
    "outlook-ru": "От: Acme <{a}>\nОтправлено: 4 марта 2024 г. 10:00\nКому: Ольга\nТема: Заявка",
    "outlook-es": "De: Acme <{a}>\nEnviado el: lunes, 4 de marzo de 2024\nPara: Ana\nAsunto: X",
    "outlook-pt": "De: Acme <{a}>\nEnviado: segunda-feira, 4 de março\nPara: Ana\nAssunto: X",
    "outlook-cs": "Od: Acme <{a}>\nOdesláno: pondělí 4. března 2024\nKomu: Jan\nPředmět: X",
    "outlook-ro": "De la: Acme <{a}>\nTrimis: luni, 4 martie 2024\nCătre: Ion\nSubiect: X",
    "outlook-tr": "Kimden: Acme <{a}>\nGönderildi: 4 Mart 2024 Pazartesi\nKime: Ali\nKonu: X",
    "outlook-ja": "差出人: Acme <{a}>\n送信日時: 2024年3月4日 10:00\n宛先: 佐藤\n件名: X",
    "outlook-ko": "보낸 사람: Acme <{a}>\n보낸 날짜: 2024년 3월 4일\n받는 사람: 김\n제목: X",
    "outlook-zh-tw": "寄件者: Acme <{a}>\n寄件日期: 2024年3月4日\n收件者: 陳\n主旨: X",
    "outlook-zh": "发件人: Acme <{a}>\n发送时间: 2024年3月4日 10:00\n收件人: 张伟\n主题: 工单",
    "163-zh": "发件人：Acme <{a}>\n发送时间：2024年3月4日 10:00\n收件人：刘洋\n主题：报价",
    "outlook-bold": "*From:* Acme <{a}>\n*Sent:* Monday, March 4, 2024\n*To:* John\n*Subject:* X",
    "date-first": "Date: Mon, 4 Mar 2024 10:00:00 +0000\nFrom: Acme <{a}>\nTo: x@example.com\n"
    "Subject: Ticket",
}


@pytest.mark.parametrize("client", sorted(HEADER_BLOCKS))
def test_quoted_header_blocks(client: str) -> None:
    """A copied header block in any of these languages starts the history."""
    block = HEADER_BLOCKS[client].format(a=ADDR)
    assert extract_reply(f"Agreed.\n\n{block}\n\nold body\n", None) == "Agreed."


@pytest.mark.parametrize(
    "separator",
    [
        "-----Original Message-----",
        "-----Mensaje original-----",
        "-------- Message d'origine --------",
        "-----Ursprüngliche Nachricht-----",
        "-----Messaggio originale-----",
        "-----Oorspronkelijk bericht-----",
        "-----Ursprungligt meddelande-----",
        "-----Исходное сообщение-----",
        "-----Mensagem original-----",
        "------------------ 原始邮件 ------------------",
        "------------------ Original ------------------",
        "________________________________",
    ],
)
def test_separators(separator: str) -> None:
    """A separator line starts the history even without a header block after it."""
    assert extract_reply(f"Agreed.\n\n{separator}\nold body\n", None) == "Agreed."


def test_faq_style_lines_are_not_a_header_block() -> None:
    """'A:' / 'To:' lines without a From line are the reply's content."""
    text = "Q: Does it print duplex?\nA: Yes.\nTo: all staff\nSubject: noted\n"
    assert extract_reply(text, None) == text.strip()


# --- 19: signatures ----------------------------------------------------------------


@pytest.mark.parametrize(
    "footer",
    [
        "Envoyé de mon iPhone",
        "Envoyé depuis mon iPad",
        "Von meinem Mobilgerät gesendet",
        "Von meinem iPhone gesendet",
        "Gesendet von Outlook für Android",
        "Gesendet von meinem Samsung Galaxy Smartphone.",
        "Enviado desde mi iPhone",
        "Enviado do meu iPhone",
        "Inviato da iPhone",
        "Verzonden vanaf mijn iPhone",
        "Skickat från min iPhone",
        "Sendt fra min iPhone",
        "Wysłane z mojego iPhone'a",
        "Отправлено с iPhone",
        "從我的 iPhone 傳送",
        "发自我的iPhone",
        "iPhoneから送信",
        "Sent with Airmail",
        "Sent from TypeApp",
        "Sent from my Samsung Galaxy smartphone.",
        "Sent from Outlook for Android<https://aka.ms/AAb9ysg>",
        "Get Outlook for Android [https://aka.ms/ghei36]",
        "Sent from Mail<https://go.microsoft.com/fwlink/?LinkId=550986> for Windows 10",
        "Sent from my Verizon Wireless BlackBerry",
        "Sent from Yahoo Mail for iPhone",
        "Sent from ProtonMail mobile",
    ],
)
def test_mobile_footers(footer: str) -> None:
    """Mobile and app footers in many languages are dropped."""
    assert extract_reply(f"OK, thanks.\n\n{footer}\n", None) == "OK, thanks."


def test_footer_near_the_end_with_lines_after_it() -> None:
    """A footer followed by a short disclaimer is still found."""
    text = (
        "See you then.\n\nSent from my iPhone\n\nThis e-mail is confidential.\n"
        "If you received it in error, delete it.\n"
    )
    assert extract_reply(text, None) == "See you then."


def test_a_sentence_that_starts_like_a_footer_is_kept() -> None:
    """'Sent from my desk, …' is a sentence, not a device name."""
    text = "Here is another email\n\nSent from my desk, is much easier then my mobile phone."
    assert extract_reply(text, None) == text


def test_footer_words_inside_content_are_kept() -> None:
    """A sentence that begins like a footer, far from the end, is content."""
    text = (
        "Sent from my iPhone the photo was blurry\nso I took another.\nIt is attached.\n"
        "The error code is 49.\nIt appears at start.\nThanks"
    )
    assert extract_reply(text, None) == text


@pytest.mark.parametrize(
    ("body", "reply"),
    [
        (
            "We accept.\n\nBest regards,\nZhang Wei\nSales Manager | Star Tech Co., Ltd.\n"
            "Tel: +86 21 5555 0100\nwww.star-tech.example.cn",
            "We accept.\n\nBest regards,",
        ),
        (
            "Einverstanden.\n\nMit freundlichen Grüßen\nMax Schulz\nEinkauf\n"
            "Musterfirma GmbH\nTel. +49 30 5555 0100",
            "Einverstanden.\n\nMit freundlichen Grüßen",
        ),
        ("好的。\n\n此致\n张伟\n采购部经理\n手机：138 0000 0000", "好的。\n\n此致"),
        (
            "D'accord.\n\nCordialement,\nJean Dupont\nhttps://www.example.fr",
            "D'accord.\n\nCordialement,",
        ),
    ],
)
def test_valediction_then_contact_block(body: str, reply: str) -> None:
    """The Foxmail/Outlook habit: a contact block after a valediction, without '-- '."""
    assert extract_reply(body, None) == reply


@pytest.mark.parametrize(
    "short",
    [
        "Thanks,\nFrank",
        "Yes.\n\nBest regards,\nAnna Schmidt",
        "Thanks!\nJohn",
        "Regards,\nLi Na\nSee you on Friday?",
        "Cheers,\nTom\nPS: the invoice number is 4471, can you check it?",
    ],
)
def test_short_replies_are_not_eaten(short: str) -> None:
    """A name alone, or lines that are not a contact block, stay."""
    assert extract_reply(short, None) == short


# --- 20: interleaved answers ---------------------------------------------------------


def test_interleaved_answers_between_quotes() -> None:
    """Text between and below quotes is the answer; the quotes go."""
    text = (
        "On Mon, Mar 4, 2024 at 10:00 AM Acme <support@help.example.com> wrote:\n"
        "> Which model?\n\nM404dn.\n\n> Which error?\n> (on the display)\n\n49.4C02.\n\n"
        "> Since when?\n\nSince Friday.\n"
    )
    assert extract_reply(text, None) == "M404dn.\n\n49.4C02.\n\nSince Friday."


def test_top_and_bottom_text_around_a_quote() -> None:
    """Text above and below a quoted block is kept, in order."""
    text = "See below.\n\n> Which model?\n\nM404dn, bought in 2023.\n"
    assert extract_reply(text, None) == "See below.\n\nM404dn, bought in 2023."


@pytest.mark.parametrize(
    "text",
    [
        "> only\n> quoted\n",
        "\n\n>> nested\n> quote\n\n",
        f"On Mon, Mar 4, 2024 at 10:00 AM Acme <{ADDR}> wrote:\n> old\n",
        f"On Mon, Mar 4, 2024 at 10:00 AM Acme <{ADDR}> wrote:\n\nold unmarked history\n",
        "-----Original Message-----\nFrom: Acme\nSent: Monday\nTo: x\n\nold\n",
    ],
)
def test_only_quotes_is_empty(text: str) -> None:
    """A message that is only quoted history has an empty reply text."""
    assert extract_reply(text, None) == ""


# --- 21: forwards -----------------------------------------------------------------


@pytest.mark.parametrize(
    "marker",
    [
        "---------- Forwarded message ---------",
        "Begin forwarded message:",
        "-------- Message transféré --------",
        "-------- Weitergeleitete Nachricht --------",
        "Anfang der weitergeleiteten Nachricht:",
        "---------- Mensaje reenviado ---------",
        "------------------ 转发邮件 ------------------",
    ],
)
def test_forward_keeps_the_forwarded_content(marker: str) -> None:
    """A forward marker is not a quote: the forwarded message is the content."""
    fwd = f"{marker}\nFrom: Ruth <ruth@example.org>\nDate: Sun, 3 Mar 2024\nSubject: Kettle\n"
    fwd += "To: Ella <ella@example.com>\n\nMy kettle broke."
    assert extract_reply(f"Can you help?\n\n{fwd}\n", None) == f"Can you help?\n\n{fwd}"
    assert extract_reply(f"{fwd}\n", None) == fwd


def test_forward_drops_the_forwarders_footer() -> None:
    """The forwarder's own mobile footer above the marker still goes."""
    text = "FYI\n\nSent from my iPhone\n\nBegin forwarded message:\n\nFrom: R\n\nBody\n"
    assert extract_reply(text, None) == "FYI\n\nBegin forwarded message:\n\nFrom: R\n\nBody"


def test_reply_quoting_a_forward_cuts_at_the_reply_quote() -> None:
    """A forward marker inside the quoted history is history."""
    text = (
        f"Thanks.\n\nOn Mon, Mar 4, 2024 at 10:00 AM Acme <{ADDR}> wrote:\n"
        "> ---------- Forwarded message ---------\n> From: x\n"
    )
    assert extract_reply(text, None) == "Thanks."


def test_html_forward_is_not_cut() -> None:
    """Gmail wraps a forward in its quote markup; with no text part it is kept."""
    html = (
        '<div dir="ltr">FYI</div><div class="gmail_quote"><div>---------- Forwarded message'
        " ---------<br>From: R &lt;r@example.org&gt;</div><div>Body</div></div>"
    )
    out = extract_reply("", html)
    assert out.startswith("FYI") and "Body" in out


# --- properties ---------------------------------------------------------------------

_LINES = st.sampled_from(
    [
        "Thanks!",
        "",
        "> quoted",
        ">> deeper",
        "-- ",
        "Best regards,",
        "John Smith",
        "Tel: +1 555 0100",
        "Sent from my iPhone",
        "发自我的iPhone",
        f"On Mon, Mar 4, 2024 at 10:00 AM Acme <{ADDR}> wrote:",
        "Am 04.03.2024 um 10:00 schrieb Acme:",
        "-----Original Message-----",
        "From: Acme <a@b.example>",
        "Sent: Monday",
        "To: x",
        "Subject: y",
        "---------- Forwarded message ---------",
        "I wrote this on 2024-03-04:",
        "The answer is 42.",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_LINES | st.text(max_size=40), max_size=30))
def test_output_lines_come_from_the_input(lines: list[str]) -> None:
    """extract_reply never invents text: each output line is part of an input line."""
    text = "\n".join(lines)
    for line in extract_reply(text, None).split("\n"):
        assert line.strip() in text


@settings(max_examples=300, deadline=None)
@given(st.lists(_LINES, max_size=30))
def test_idempotent_on_client_shaped_text(lines: list[str]) -> None:
    """Applied to its own output, extract_reply changes nothing more.

    Holds for the client shapes above; not in general: cutting a signature can
    make a valediction the last line, which a second pass would then judge anew.
    """
    once = extract_reply("\n".join(lines), None)
    assert extract_reply(once, None) == once


def test_long_lines_stay_linear() -> None:
    """Pathological lines (colons, dashes, addresses without end) finish promptly."""
    for text in (
        "On " + "x@y " * 5000 + "wrote",
        ("a:" * 20000) + "\n" + "-" * 50000,
        "\n".join(["Von: a", "An: b"] * 5000),
        "On 2024 " + "<" * 20000 + ":",
        "Thanks\n" + "Sent from my iPhone\n" * 5000,
        "Thanks\n" + "Best regards,\nTel: +1 555 0100\n" * 3000,
        "x\n" + "--\n" * 5000,
    ):
        extract_reply(text, None)  # no timing assertion: a regression would hang here
