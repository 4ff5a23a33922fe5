"""Headers and MIME as real clients get them wrong (issue 11, classes 1–6), numbered from 200.

Written byte by byte for this corpus from RFC 2045/2046/2047/2231/5322 and what
Outlook/Exchange, Gmail, Apple Mail, Thunderbird, Foxmail, QQ/163 webmail and
Python's own ``email.mime`` are known to send. Classes: 1 raw 8-bit bytes inside
an encoded word, 2 a whole mailbox in one encoded word, 3 a malformed header
line, 4 raw 8-bit headers without a charset, 5 raw 8-bit filename parameters,
6 comments in display names, message/partial and external-body, an unlabelled
part beside a labelled one, a charset label no codec knows (a warning).
"""

from __future__ import annotations

import base64

Case = tuple[str, bytes, dict[str, object]]
SUPPORT = b"Support <support@help.example.com>"


def _head(n: int, *lines: bytes, mime: bool = True) -> bytes:
    """Received, Date and Message-ID like a receiving Postfix, then ``lines`` as given."""
    out = [
        b"Received: from mail.sender.example (mail.sender.example [198.51.100.%d])\r\n"
        b"\tby mx.help.example.com (Postfix) with ESMTPS id 4Xh%04d;\r\n"
        b"\tTue, 05 Mar 2024 09:%02d:00 +0000" % (n % 250, n, n % 60),
        b"Date: Tue, 05 Mar 2024 10:%02d:00 +0100" % (n % 60),
        b"Message-ID: <hdr-%04d@mail.sender.example>" % n,
        *lines,
    ]
    if mime:
        out.append(b"MIME-Version: 1.0")
    return b"\r\n".join(out) + b"\r\n"


def _expect(desc: str, subject: str, name: str, address: str, **more: object) -> dict[str, object]:
    e: dict[str, object] = {
        "description": desc,
        "kind": "normal",
        "subject": subject,
        "from": [{"name": name, "address": address}],
        "message_id": None,
    }
    e.update(more)
    return e


def _b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def _with_id(n: int, e: dict[str, object]) -> dict[str, object]:
    e["message_id"] = f"hdr-{n:04d}@mail.sender.example"
    return e


def outlook_latin1_raw_in_word() -> Case:
    n = 200
    subject = "AW: Café crème für das Büro"
    raw = _head(
        n,
        b"From: =?iso-8859-1?Q?J\xfcrgen_M\xfcller?= <j.mueller@kunde.example.de>",
        b"To: " + SUPPORT,
        b"Subject: =?iso-8859-1?Q?AW:_Caf\xe9_cr\xe8me_f\xfcr_das_B\xfcro?=",
        b"Thread-Topic: =?iso-8859-1?Q?Caf\xe9_cr\xe8me_f\xfcr_das_B\xfcro?=",
        b"X-MS-Exchange-Organization-SCL: -1",
        b"Content-Language: de-DE",
        b'Content-Type: text/plain; charset="iso-8859-1"',
        b"Content-Transfer-Encoding: 8bit",
    ) + (
        "\r\nHallo,\r\n\r\nbitte liefern Sie zwei Kartons Café crème an das Büro.\r\n\r\n"
        "Mit freundlichen Grüßen\r\nJürgen Müller\r\n"
    ).encode("cp1252")
    e = _expect(
        "Exchange relaying a German Outlook mail: raw Latin-1 bytes inside Q encoded words "
        "(class 1); the word's own charset decodes them.",
        subject,
        "Jürgen Müller",
        "j.mueller@kunde.example.de",
        text_contains=["Café crème an das Büro"],
    )
    return "outlook-raw-latin1-in-encoded-word", raw, _with_id(n, e)


def python_mime_whole_mailbox() -> Case:
    n = 201
    word = base64.b64encode("张三 <customer@example.net>".encode()).decode()
    subject = "订单 1024 的发票"
    body = "你好，\n\n请把订单 1024 的发票发给我。\n\n张三\n"
    raw = (
        b'Content-Type: text/plain; charset="utf-8"\r\nMIME-Version: 1.0\r\n'
        b"Content-Transfer-Encoding: base64\r\n"
        + f"From: =?utf-8?b?{word}?=\r\n".encode()
        + b"To: support@help.example.com\r\n"
        + f"Subject: =?utf-8?b?{base64.b64encode(subject.encode()).decode()}?=\r\n".encode()
        + b"Date: Tue, 05 Mar 2024 10:01:00 +0800\r\n"
        + b"Message-ID: <hdr-0201@mail.sender.example>\r\n\r\n"
        + _b64(body.encode())
    )
    e = _expect(
        "A script using Python's email.mime with From set to '张三 <addr>': the whole "
        "mailbox is one encoded word (class 2); decoded, then parsed again.",
        subject,
        "张三",
        "customer@example.net",
        text_contains=["请把订单 1024 的发票发给我"],
    )
    return "python-mime-mailbox-in-one-word", raw, _with_id(n, e)


def foxmail_gbk_whole_mailbox() -> Case:
    n = 202
    mailbox = '"李四" <lisi@qq-user.example.cn>'.encode("gbk")
    subject = "关于合同的问题"
    raw = (
        _head(
            n,
            b"From: =?gb2312?B?" + base64.b64encode(mailbox) + b"?=",
            b"To: =?gb2312?B?" + base64.b64encode("客服".encode("gbk")) + b"?= "
            b"<support@help.example.com>",
            b"Subject: =?gb2312?B?" + base64.b64encode(subject.encode("gbk")) + b"?=",
            b"X-Mailer: Foxmail 7.2.25.375[cn]",
            b'Content-Type: text/plain; charset="gb2312"',
            b"Content-Transfer-Encoding: base64",
        )
        + b"\r\n"
        + _b64("您好！合同第三条的付款日期需要修改。\r\n".encode("gbk"))
    )
    e = _expect(
        "A Foxmail-style GB2312 From where the quoted name and the address sit inside one "
        "B word (class 2).",
        subject,
        "李四",
        "lisi@qq-user.example.cn",
        text_contains=["合同第三条的付款日期需要修改"],
    )
    return "foxmail-gbk-mailbox-in-one-word", raw, _with_id(n, e)


def filter_malformed_line() -> Case:
    n = 203
    raw = (
        _head(
            n,
            b"X Spam: yes",
            b"X-Spam-Score: 6.1",
            b'From: "Anna Berg" <anna.berg@customer.example.se>',
            b"To: " + SUPPORT,
            b"Subject: Invoice 2024-117 is wrong",
            b"User-Agent: Mozilla Thunderbird",
            b"Content-Type: text/plain; charset=UTF-8; format=flowed",
            b"Content-Transfer-Encoding: 7bit",
        )
        + b"\r\nHello,\r\n\r\nthe invoice lists 12 licences; we ordered 10.\r\n\r\nAnna\r\n"
    )
    e = _expect(
        "A broken spam filter inserted 'X Spam: yes' (a space in the name) above From and "
        "Subject (class 3): the line is a defect and skipped, the rest is read.",
        "Invoice 2024-117 is wrong",
        "Anna Berg",
        "anna.berg@customer.example.se",
        text_contains=["we ordered 10."],
        errors_nonempty=True,
    )
    return "thunderbird-malformed-header-line", raw, _with_id(n, e)


def folded_malformed_line() -> Case:
    n = 204
    raw = (
        _head(
            n,
            b"X-Virus Scanned: clean by gateway",
            b"\tversion 4.2 (engine 2024-03-05)",
            b"From: Pedro Alves <pedro@cliente.example.pt>",
            b"To: " + SUPPORT,
            b"Subject: Pedido 5531",
            b"Content-Type: text/plain; charset=us-ascii",
        )
        + b"\r\nBom dia, o pedido 5531 ainda nao chegou.\r\n"
    )
    e = _expect(
        "A gateway's folded malformed field (space in the name, continuation line) before "
        "From (class 3).",
        "Pedido 5531",
        "Pedro Alves",
        "pedro@cliente.example.pt",
        text_contains=["o pedido 5531 ainda nao chegou"],
        errors_nonempty=True,
    )
    return "gateway-folded-malformed-header", raw, _with_id(n, e)


def webform_raw_latin1_headers() -> Case:
    n = 205
    raw = (
        _head(
            n,
            b"From: M\xfcller Haustechnik <info@haustechnik.example.de>",
            b"To: " + SUPPORT,
            b"Subject: Lieferadresse Stra\xdfe 5",
            b"X-Mailer: PHP/7.4",
            mime=False,
        )
        + b"\r\nBitte an die neue Adresse liefern.\r\n"
    )
    e = _expect(
        "An old PHP form mailer: raw Latin-1 bytes in From and Subject, no charset anywhere "
        "(class 4); a few bytes read as Windows-1252, not an exotic code page.",
        "Lieferadresse Straße 5",
        "Müller Haustechnik",
        "info@haustechnik.example.de",
    )
    return "php-form-raw-latin1-headers", raw, _with_id(n, e)


def webmail_raw_gbk_subject() -> Case:
    n = 206
    raw = (
        _head(
            n,
            b"From: " + "王五".encode("gbk") + b" <wangwu@163-user.example.cn>",
            b"To: " + SUPPORT,
            b"Subject: " + "发票已收到".encode("gbk"),
            b"Content-Type: text/plain",
            mime=True,
        )
        + b"\r\nOK, thanks.\r\n"
    )
    e = _expect(
        "A 163-style relay that left GBK bytes raw in From and Subject with no charset "
        "label (class 4): pairs of 8-bit bytes read as GB18030.",
        "发票已收到",
        "王五",
        "wangwu@163-user.example.cn",
    )
    return "163-raw-gbk-headers-no-charset", raw, _with_id(n, e)


def raw_header_uses_body_charset() -> Case:
    n = 207
    raw = (
        _head(
            n,
            b"From: " + "Paweł Nowak".encode("iso8859_2") + b" <pawel@klient.example.pl>",
            b"To: " + SUPPORT,
            b"Subject: " + "Zamówienie: Łódź".encode("iso8859_2"),
            b"Content-Type: text/plain; charset=iso-8859-2",
            b"Content-Transfer-Encoding: 8bit",
        )
        + b"\r\n"
        + "Proszę o fakturę.\r\n".encode("iso8859_2")
    )
    e = _expect(
        "Raw ISO-8859-2 header bytes in a message whose body declares iso-8859-2 "
        "(class 4): the message's own declared charset comes first.",
        "Zamówienie: Łódź",
        "Paweł Nowak",
        "pawel@klient.example.pl",
        text_contains=["Proszę o fakturę."],
    )
    return "raw-latin2-headers-body-charset", raw, _with_id(n, e)


def foxmail_raw_utf8_filename() -> Case:
    n = 208
    name = "报价单(2024).pdf".encode()
    raw = _head(
        n,
        b'From: "=?utf-8?B?' + base64.b64encode("赵六".encode()) + b'?=" <zhaoliu@example.cn>',
        b"To: " + SUPPORT,
        b"Subject: =?utf-8?B?" + base64.b64encode("报价单".encode()) + b"?=",
        b"X-Mailer: Foxmail 7.2.25.375[cn]",
        b'Content-Type: multipart/mixed; boundary="----=_NextPart_65E6F1A0_0A1B2C3D"',
    ) + (
        b"\r\nThis is a multi-part message in MIME format.\r\n\r\n"
        b"------=_NextPart_65E6F1A0_0A1B2C3D\r\n"
        b'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + _b64("附件是报价单。\r\n".encode())
        + b"\r\n------=_NextPart_65E6F1A0_0A1B2C3D\r\n"
        b'Content-Type: application/pdf; name="' + name + b'"\r\n'
        b'Content-Disposition: attachment; filename="' + name + b'"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + _b64(b"%PDF-1.4\n%quote\n")
        + b"\r\n------=_NextPart_65E6F1A0_0A1B2C3D--\r\n"
    )  # fmt: skip
    e = _expect(
        'Foxmail writes attachment names as raw UTF-8 inside filename="..." (class 5).',
        "报价单",
        "赵六",
        "zhaoliu@example.cn",
        attachments=[{"filename": "报价单(2024).pdf", "content_type": "application/pdf"}],
    )
    return "foxmail-raw-utf8-filename", raw, _with_id(n, e)


def qq_raw_gbk_filename() -> Case:
    n = 209
    name = "合同;第2版.doc".encode("gbk")
    raw = _head(
        n,
        b"From: =?gbk?B?" + base64.b64encode("孙七".encode("gbk")) + b"?= "
        b"<sunqi@qq-user.example.cn>",
        b"To: " + SUPPORT,
        b"Subject: =?gbk?B?" + base64.b64encode("合同".encode("gbk")) + b"?=",
        b'Content-Type: multipart/mixed; boundary="----=_Part_QQ_2024"',
    ) + (
        b"\r\n------=_Part_QQ_2024\r\n"
        b"Content-Type: text/plain; charset=gbk\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + _b64("请看附件。\r\n".encode("gbk"))
        + b"\r\n------=_Part_QQ_2024\r\n"
        b'Content-Type: application/msword; name="' + name + b'"\r\n'
        b'Content-Disposition: attachment; filename="' + name + b'"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + _b64(b"\xd0\xcf\x11\xe0 doc")
        + b"\r\n------=_Part_QQ_2024--\r\n"
    )  # fmt: skip
    e = _expect(
        "QQ-style webmail: a raw GBK attachment name holding a quoted ';' (class 5); read "
        "from the raw value with the message's charset.",
        "合同",
        "孙七",
        "sunqi@qq-user.example.cn",
        attachments=[{"filename": "合同;第2版.doc", "content_type": "application/msword"}],
    )
    return "qq-raw-gbk-filename", raw, _with_id(n, e)


def exchange_comment_in_name() -> Case:
    n = 210
    raw = (
        _head(
            n,
            b"From: Helpdesk (Ticket System) <helpdesk@vendor.example.com>",
            b"To: " + SUPPORT,
            b"Cc: (Accounts) Maria Rossi <maria.rossi@vendor.example.com>, "
            b"ops@vendor.example.com (Operations)",
            b"Subject: [Ticket#88213] Password reset",
            b"Content-Type: text/plain; charset=us-ascii",
        )
        + b"\r\nYour ticket 88213 was updated.\r\n"
    )
    e = _expect(
        "A ticket system whose From carries an RFC 5322 comment in the display name "
        "(class 6): the comment is no part of the name; 'addr (Name)' keeps its legacy name.",
        "[Ticket#88213] Password reset",
        "Helpdesk",
        "helpdesk@vendor.example.com",
        cc=[
            {"name": "Maria Rossi", "address": "maria.rossi@vendor.example.com"},
            {"name": "Operations", "address": "ops@vendor.example.com"},
        ],
    )
    return "ticket-system-comment-in-name", raw, _with_id(n, e)


def partial_fragment() -> Case:
    n = 211
    fragment = (
        b"Message-ID: <whole-0211@mail.sender.example>\n"
        b"Subject: Large log file\n"
        b"Content-Type: application/octet-stream\n\n"
        b"first half of the log, line ends left as the sender wrote them\n"
    )
    raw = _head(
        n,
        b"From: Ops Robot <robot@ops.example.org>",
        b"To: " + SUPPORT,
        b"Subject: Large log file (part 1/2)",
        b'Content-Type: multipart/mixed; boundary="frag"',
    ) + (
        b"\r\n--frag\r\nContent-Type: text/plain\r\n\r\nPart 1 of the log follows.\r\n"
        b'--frag\r\nContent-Type: message/partial; id="whole-0211@mail.sender.example";'
        b" number=1; total=2\r\n\r\n" + fragment + b"\r\n--frag--\r\n"
    )
    e = _expect(
        "A message/partial fragment (RFC 2046 §5.2.2) with LF line ends inside (class 6): "
        "kept byte for byte so fragments can be joined.",
        "Large log file (part 1/2)",
        "Ops Robot",
        "robot@ops.example.org",
        attachments=[{"content_type": "message/partial", "size": len(fragment)}],
    )
    return "message-partial-fragment", raw, _with_id(n, e)


def external_body() -> Case:
    n = 212
    inner = b"Content-Type: application/zip\r\nContent-ID: <dump-0212@ops.example.org>\r\n\r\n"
    raw = _head(
        n,
        b"From: Ops Robot <robot@ops.example.org>",
        b"To: " + SUPPORT,
        b"Subject: Database dump available",
        b'Content-Type: multipart/mixed; boundary="ext"',
    ) + (
        b"\r\n--ext\r\nContent-Type: text/plain\r\n\r\nThe dump is on the file server.\r\n"
        b"--ext\r\nContent-Type: message/external-body; access-type=URL;\r\n"
        b'\tURL="https://files.ops.example.org/dump-0212.zip"\r\n\r\n' + inner + b"\r\n--ext--\r\n"
    )
    e = _expect(
        "A message/external-body part (RFC 2046 §5.2.3): its header block is its content "
        "and is kept exactly (class 6).",
        "Database dump available",
        "Ops Robot",
        "robot@ops.example.org",
        attachments=[{"content_type": "message/external-body", "size": len(inner)}],
    )
    return "message-external-body", raw, _with_id(n, e)


def thunderbird_unlabelled_sibling() -> Case:
    n = 213
    text = "Dzień dobry,\r\n\r\nproszę o zwrot za zamówienie nr 4471.\r\n\r\nZofia Wójcik\r\n"
    html = "<p>Dzień dobry,</p><p>proszę o zwrot za zamówienie nr 4471.</p><p>Zofia Wójcik</p>"
    raw = _head(
        n,
        b"From: =?iso-8859-2?Q?Zofia_W=F3jcik?= <zofia@klient.example.pl>",
        b"To: " + SUPPORT,
        b"Subject: Zwrot 4471",
        b"User-Agent: Mozilla Thunderbird",
        b'Content-Type: multipart/alternative; boundary="alt-213"',
    ) + (
        b"\r\n--alt-213\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + text.encode("iso8859_2")
        + b"\r\n--alt-213\r\nContent-Type: text/html; charset=ISO-8859-2\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n" + html.encode("iso8859_2")
        + b"\r\n--alt-213--\r\n"
    )  # fmt: skip
    e = _expect(
        "A text/plain part without a charset beside an HTML part labelled ISO-8859-2 "
        "(class 6): the sibling's charset reads it; a warning, not a defect.",
        "Zwrot 4471",
        "Zofia Wójcik",
        "zofia@klient.example.pl",
        text_contains=["proszę o zwrot za zamówienie nr 4471."],
    )
    return "thunderbird-unlabelled-part-sibling-charset", raw, _with_id(n, e)


def webform_utf8mb4_label() -> Case:
    n = 214
    raw = (
        _head(
            n,
            b"From: Shop Contact Form <forms@shop.example.com>",
            b"Reply-To: =?utf-8?Q?Ren=C3=A9e_Dubois?= <renee@client.example.fr>",
            b"To: " + SUPPORT,
            b"Subject: Contact form: retour produit",
            b"Content-Type: text/plain; charset=utf8mb4",
            b"Content-Transfer-Encoding: 8bit",
        )
        + "\r\nNom : Renée Dubois\r\nMessage : le colis est arrivé abîmé.\r\n".encode()
    )
    e = _expect(
        "A web form that copied its database's charset name (utf8mb4) into the label: "
        "unknown to every codec, the bytes are UTF-8; a warning, not an error (class 6).",
        "Contact form: retour produit",
        "Shop Contact Form",
        "forms@shop.example.com",
        reply_to=[{"name": "Renée Dubois", "address": "renee@client.example.fr"}],
        text_contains=["le colis est arrivé abîmé."],
    )
    return "webform-utf8mb4-label", raw, _with_id(n, e)


def apple_mail_raw_in_q_word_name() -> Case:
    n = 215
    raw = (
        _head(
            n,
            b"From: =?windows-1252?Q?Fran\xe7ois_L\xe9ger?= <francois@client.example.fr>",
            b"To: " + SUPPORT,
            b"Subject: =?utf-8?Q?Re:_Probl\xc3\xa8me_de_connexion?=",
            b"X-Mailer: Apple Mail (2.3774.500.171.1.1)",
            b"Content-Type: text/plain; charset=utf-8",
            b"Content-Transfer-Encoding: 8bit",
        )
        + "\r\nToujours le même problème.\r\n".encode()
    )
    e = _expect(
        "A relay that decoded Q words' escapes to raw bytes but kept the wrappers: "
        "windows-1252 bytes in the name, UTF-8 bytes in the subject (class 1).",
        "Re: Problème de connexion",
        "François Léger",
        "francois@client.example.fr",
    )
    return "relay-raw-bytes-in-q-words", raw, _with_id(n, e)


def cases() -> list[Case]:
    return [
        outlook_latin1_raw_in_word(),
        python_mime_whole_mailbox(),
        foxmail_gbk_whole_mailbox(),
        filter_malformed_line(),
        folded_malformed_line(),
        webform_raw_latin1_headers(),
        webmail_raw_gbk_subject(),
        raw_header_uses_body_charset(),
        foxmail_raw_utf8_filename(),
        qq_raw_gbk_filename(),
        exchange_comment_in_name(),
        partial_fragment(),
        external_body(),
        thunderbird_unlabelled_sibling(),
        webform_utf8mb4_label(),
        apple_mail_raw_in_q_word_name(),
    ]
