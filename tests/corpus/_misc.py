"""Ordinary mail of every shape, and broken mail a parser must survive."""

from __future__ import annotations

from urllib.parse import quote

from _mime import Part, b64, ew, file_part, message, multipart, raw_part, text_part, tnef

US = "support@help.example.com"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f"
    b"\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"

Case = tuple[str, bytes, dict[str, object]]


def _top(
    n: int, from_: str, subject: str, more: list[tuple[str, str | bytes]] | None = None
) -> list[tuple[str, str | bytes]]:
    return [
        (
            "Received",
            f"from mail.sender.example (mail.sender.example [198.51.100.{n % 250}])\r\n"
            f"\tby mx.help.example.com (Postfix) with ESMTPS id 4Tm{n:04d};"
            f" Fri, 01 Mar 2024 14:{n % 60:02d}:01 +0000",
        ),
        ("Date", f"Fri, 01 Mar 2024 14:{n % 60:02d}:00 +0000"),
        ("From", from_),
        ("To", f"Acme Support <{US}>"),
        ("Subject", subject),
        ("Message-ID", f"<misc-{n:04d}@sender.example>"),
        *(more or []),
    ]


def _e(desc: str, subject: str, name: str, addr: str, **more: object) -> dict[str, object]:
    e: dict[str, object] = {
        "description": desc,
        "kind": "normal",
        "subject": subject,
        "from": [{"name": name, "address": addr}],
        "bounce": None,
    }
    e.update(more)
    return e


def _att(
    filename: str, ctype: str, inline: bool = False, cid: str | None = None
) -> dict[str, object]:
    d: dict[str, object] = {"filename": filename, "content_type": ctype, "inline": inline}
    if cid:
        d["content_id"] = cid
    return d


def shapes() -> list[Case]:
    out: list[Case] = []
    n = 0

    def add(slug: str, raw: bytes, e: dict[str, object]) -> None:
        out.append((slug, raw, e))

    # HTML-only mail: the contract's text comes from the HTML.
    n += 1
    h = (
        "<html><head><style>p{color:#333}</style></head><body><p>Hello,</p><p>We would like a"
        " quote for <b>25 printers</b> &amp; toner.</p><p>Regards,<br>Nina</p></body></html>"
    )
    add(
        "html-only-en",
        message(
            _top(n, '"Nina Patel" <nina@example.com>', "Quote request"),
            text_part(h, "utf-8", "quoted-printable", "html"),
        ),
        _e(
            "HTML-only message: text rendered from the HTML",
            "Quote request",
            "Nina Patel",
            "nina@example.com",
            text_contains=["25 printers", "& toner"],
            html_contains=["<b>"],
        ),
    )
    n += 1
    h = (
        '<div style="line-height:1.7;color:#000000;font-size:14px;font-family:Arial">'
        "<div>您好，</div><div>请问贵公司的打印机有现货吗？需要 10 台。</div><div>谢谢</div></div>"
    )
    add(
        "html-only-163-gbk",
        message(
            _top(
                n,
                f"{ew('周芳', 'GBK')} <zhoufang@163.com>",
                ew("询价：打印机", "GBK"),
                [("X-Mailer", "Coremail Webmail Server Version XT5.0.13 build 20230419 163com")],
            ),
            text_part(h, "GBK", "base64", "html"),
        ),
        _e(
            "NetEase HTML-only message in GBK",
            "询价：打印机",
            "周芳",
            "zhoufang@163.com",
            text_contains=["需要 10 台"],
        ),
    )
    n += 1
    h = (
        "<html><body><table><tr><td>Order</td><td>#5521</td></tr></table><p>Caf&eacute; "
        "&euro;12&nbsp;&mdash; paid</p><script>alert(1)</script></body></html>"
    )
    add(
        "html-only-entities",
        message(
            _top(n, "orders@shop.example", "Order #5521 paid"),
            text_part(h, "windows-1252", "quoted-printable", "html"),
        ),
        _e(
            "HTML-only with entities and a script element",
            "Order #5521 paid",
            "",
            "orders@shop.example",
            text_contains=["Café", "€12"],
        ),
    )

    # Inline images (multipart/related, RFC 2387) referenced by Content-ID.
    n += 1
    alt = multipart(
        "alternative",
        "----=_alt_0004",
        [
            text_part("See our logo below.\n", "utf-8", "7bit"),
            text_part(
                '<p>See our logo below.</p><img src="cid:logo@acme.example">',
                "utf-8",
                "7bit",
                "html",
            ),
        ],
        preamble="",
    )
    img = file_part(
        PNG,
        'image/png; name="logo.png"',
        'inline; filename="logo.png"',
        extra=[("Content-ID", "<logo@acme.example>")],
    )
    add(
        "inline-image-related",
        message(
            _top(n, "Mark <mark@example.com>", "Our new logo"),
            multipart(
                "related", "----=_rel_0004", [alt, img], params='; type="multipart/alternative"'
            ),
        ),
        _e(
            "inline image in multipart/related",
            "Our new logo",
            "Mark",
            "mark@example.com",
            attachments=[_att("logo.png", "image/png", True, "logo@acme.example")],
            text_contains=["See our logo"],
        ),
    )
    n += 1
    img = file_part(
        PNG,
        'image/png; name="image001.png"',
        'inline; filename="image001.png"',
        extra=[("Content-ID", "<image001.png@01DA6B8C.5A0B1F20>")],
    )
    pdf = file_part(
        PDF, 'application/pdf; name="invoice.pdf"', 'attachment; filename="invoice.pdf"'
    )
    rel = multipart(
        "related",
        "----=_NextPart_001_0005",
        [
            text_part(
                '<p>Invoice attached.</p><img src="cid:image001.png@01DA6B8C.5A0B1F20">',
                "us-ascii",
                "quoted-printable",
                "html",
            ),
            img,
        ],
        params='; type="text/html"',
        preamble="",
    )
    alt = multipart(
        "alternative",
        "----=_NextPart_002_0005",
        [text_part("Invoice attached.\n", "us-ascii", "quoted-printable"), rel],
        preamble="",
    )
    add(
        "outlook-signature-image-and-pdf",
        message(
            _top(
                n,
                '"Tom King" <tom.king@contoso.com>',
                "Invoice 7781",
                [("X-Mailer", "Microsoft Outlook 16.0")],
            ),
            multipart("mixed", "----=_NextPart_000_0005", [alt, pdf]),
        ),
        _e(
            "Outlook: signature image inline in related, PDF attached",
            "Invoice 7781",
            "Tom King",
            "tom.king@contoso.com",
            attachments=[
                _att("image001.png", "image/png", True, "image001.png@01DA6B8C.5A0B1F20"),
                _att("invoice.pdf", "application/pdf"),
            ],
        ),
    )

    # Forwarded message attached as message/rfc822.
    n += 1
    inner = (
        b"From: Customer <customer@example.org>\r\nTo: sales@contoso.com\r\nSubject: Broken"
        b" printer\r\nDate: Thu, 29 Feb 2024 16:00:00 +0000\r\nMessage-ID: <inner-0006@"
        b"example.org>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n"
        b"\r\nMy printer is broken again.\r\n"
    )
    add(
        "forward-as-attachment",
        message(
            _top(n, '"Tom King" <tom.king@contoso.com>', "FW: Broken printer"),
            multipart(
                "mixed",
                "----=_fw_0006",
                [
                    text_part("Please handle this customer.\n", "us-ascii", "7bit"),
                    raw_part(
                        "message/rfc822",
                        inner,
                        [("Content-Disposition", 'attachment; filename="Broken printer.eml"')],
                    ),
                ],
            ),
        ),
        _e(
            "forward as attachment (message/rfc822)",
            "FW: Broken printer",
            "Tom King",
            "tom.king@contoso.com",
            text_contains=["Please handle this customer."],
            reply_text_equals="Please handle this customer.",
            attachments=[_att("Broken printer.eml", "message/rfc822")],
        ),
    )
    n += 1
    body = (
        "FYI, see below.\n\n---------- Forwarded message ---------\nFrom: Customer"
        " <customer@example.org>\nDate: Thu, Feb 29, 2024 at 4:00 PM\nSubject: Broken printer\n"
        "To: <sales@contoso.com>\n\n\nMy printer is broken again.\n"
    )
    add(
        "forward-inline-gmail",
        message(
            _top(n, "Kate <kate@gmail.com>", "Fwd: Broken printer"),
            text_part(body, "UTF-8", "quoted-printable"),
        ),
        _e(
            "Gmail inline forward: the note and the forwarded content (not a quote) are new",
            "Fwd: Broken printer",
            "Kate",
            "kate@gmail.com",
            reply_text_equals=body,
            text_contains=["My printer is broken again."],
        ),
    )

    # Attachment filenames: RFC 2231 and RFC 2047 forms.
    def with_file(
        slug: str,
        desc: str,
        fname: str,
        ctype: str,
        disp: str,
        data: bytes = PDF,
        ctype_expect: str | None = None,
        charset: str = "utf-8",
    ) -> None:
        nonlocal n
        n += 1
        body = multipart(
            "mixed",
            f"----=_file_{n:04d}",
            [
                text_part(
                    "附件請查收。\n" if charset == "big5" else "附件请查收。\n", charset, "base64"
                ),
                file_part(data, ctype, disp),
            ],
        )
        add(
            slug,
            message(_top(n, '"Li Lei" <lilei@example.cn>', ew("文件", charset)), body),
            _e(
                desc,
                "文件",
                "Li Lei",
                "lilei@example.cn",
                attachments=[_att(fname, ctype_expect or ctype.split(";")[0])],
            ),
        )

    fname = "报价单-2024年3月.xlsx"
    xl = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    with_file(
        "attachment-rfc2231-utf8",
        "RFC 2231 UTF-8 filename",
        fname,
        xl,
        f"attachment; filename*=UTF-8''{quote(fname)}",
    )
    enc = quote(fname)
    with_file(
        "attachment-rfc2231-continuation",
        "RFC 2231 §3 continuations of a UTF-8 filename",
        fname,
        xl,
        f"attachment;\r\n filename*0*=UTF-8''{enc[:30]};\r\n"
        f" filename*1*={enc[30:60]};\r\n filename*2*={enc[60:]}",
    )
    with_file(
        "attachment-rfc2231-gb2312-lang",
        "RFC 2231 filename in gb2312 with a language tag",
        "报价.doc",
        "application/msword",
        f"attachment; filename*=gb2312'zh-cn'{quote('报价.doc'.encode('gb2312'))}",
        charset="gb2312",
    )
    with_file(
        "attachment-rfc2047-gbk-foxmail",
        "RFC 2047 encoded filename (Foxmail, GBK)",
        "合同草案.pdf",
        f'application/pdf; name="{ew("合同草案.pdf", "GBK")}"',
        f'attachment; filename="{ew("合同草案.pdf", "GBK")}"',
        charset="gbk",
    )
    with_file(
        "attachment-rfc2047-big5",
        "RFC 2047 encoded filename in Big5",
        "報價單.pdf",
        f'application/pdf; name="{ew("報價單.pdf", "big5")}"',
        f'attachment; filename="{ew("報價單.pdf", "big5")}"',
        charset="big5",
    )
    with_file(
        "attachment-name-only",
        "filename only in Content-Type name= (old clients)",
        "scan0001.pdf",
        'application/pdf; name="scan0001.pdf"',
        "attachment",
    )
    with_file(
        "attachment-octet-stream",
        "generic type; filename from the disposition",
        "data.bin",
        "application/octet-stream",
        'attachment; filename="data.bin"',
        data=bytes(range(256)),
    )
    with_file(
        "attachment-rfc2047-utf8-long",
        "long RFC 2047 filename split over encoded words",
        "关于2024年第一季度华东地区打印机采购项目的技术方案与报价说明.docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document;"
        f' name="{ew("关于2024年第一季度华东地区打印机采购项目的技术方案与报价说明.docx")}"',
        'attachment; filename="'
        + ew("关于2024年第一季度华东地区打印机采购项目的技术方案与报价说明.docx")
        + '"',
    )

    # Outlook winmail.dat (MS-OXTNEF) carrying report.pdf.
    n += 1
    blob = tnef([("report.pdf", PDF)])
    body = multipart(
        "mixed",
        "_004_PH0PR11MB5000winmail_",
        [
            text_part("Report attached.\n", "us-ascii", "quoted-printable"),
            file_part(
                blob,
                'application/ms-tnef; name="winmail.dat"',
                'attachment; filename="winmail.dat"',
            ),
        ],
    )
    add(
        "outlook-winmail-dat",
        message(
            _top(
                n,
                '"Tom King" <tom.king@contoso.com>',
                "Monthly report",
                [
                    ("X-MS-Has-Attach", "yes"),
                    (
                        "X-MS-TNEF-Correlator",
                        "<PH0PR11MB5000@PH0PR11MB5000.namprd11.prod.outlook.com>",
                    ),
                ],
            ),
            body,
        ),
        _e(
            "Outlook rich text: the attachment is inside winmail.dat (TNEF); the app needs"
            " report.pdf, so the parser lists the file inside",
            "Monthly report",
            "Tom King",
            "tom.king@contoso.com",
            attachments_include=[{"filename": "report.pdf"}],
        ),
    )

    # Charsets.
    def charset_mail(
        slug: str,
        desc: str,
        name: str,
        addr: str,
        subject: str,
        text: str,
        charset: str,
        cte: str,
        sub_enc: str = "B",
        **more: object,
    ) -> None:
        nonlocal n
        n += 1
        add(
            slug,
            message(
                _top(n, f"{ew(name, charset, sub_enc)} <{addr}>", ew(subject, charset, sub_enc)),
                text_part(text, charset, cte),
            ),
            _e(desc, subject, name, addr, text_contains=[text.split("\n")[0]], **more),
        )

    charset_mail(
        "charset-iso-2022-jp",
        "Japanese in ISO-2022-JP (RFC 1468), 7bit",
        "山田太郎",
        "yamada@example.jp",
        "お見積もりのお願い",
        "お世話になっております。\n見積もりをお願いします。\n",
        "iso-2022-jp",
        "7bit",
    )
    charset_mail(
        "charset-koi8-r",
        "Russian in KOI8-R",
        "Иван Петров",
        "ivan@example.ru",
        "Запрос цены",
        "Здравствуйте!\nПришлите, пожалуйста, цены.\n",
        "koi8-r",
        "quoted-printable",
    )
    charset_mail(
        "charset-windows-1252",
        "windows-1252 smart quotes and euro sign",
        "Zoë Faure",
        "zoe@example.fr",
        "Price “all-in” – €120",
        "The “all-in” price is €120 – ok?\n",
        "windows-1252",
        "quoted-printable",
        "Q",
    )
    charset_mail(
        "charset-big5",
        "Traditional Chinese in Big5",
        "林志明",
        "lin@example.com.tw",
        "詢問價格",
        "您好，請問印表機的價格是多少？\n",
        "big5",
        "base64",
    )
    charset_mail(
        "charset-gb18030-four-byte",
        "GB18030 four-byte characters",
        "欧阳㛃",
        "ouyang@example.cn",
        "姓名用字㛃",
        "我的名字是欧阳㛃，请更新客户资料。\n",
        "gb18030",
        "base64",
    )
    charset_mail(
        "charset-utf8-emoji",
        "UTF-8 with emoji in subject and body",
        "Ana Silva",
        "ana@example.br",
        "Obrigada 🙏",
        "Tudo certo agora 👍\n",
        "utf-8",
        "base64",
    )
    charset_mail(
        "charset-iso-8859-2",
        "Central European ISO-8859-2",
        "Paweł Nowak",
        "pawel@example.pl",
        "Zapytanie ofertowe",
        "Dzień dobry, proszę o ofertę.\n",
        "iso-8859-2",
        "quoted-printable",
        "Q",
    )

    # Headers.
    n += 1
    add(
        "calendar-invite",
        message(
            _top(
                n,
                '"Dana White" <dana@example.com>',
                "Invitation: Printer demo @ Mon Mar 4, 2024 10am",
            ),
            multipart(
                "mixed",
                "----=_cal_0001",
                [
                    text_part("You have been invited to a demo.\n", "UTF-8", "7bit"),
                    file_part(
                        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n",
                        'text/calendar; charset=UTF-8; method=REQUEST; name="invite.ics"',
                        'attachment; filename="invite.ics"',
                    ),
                ],
            ),
        ),
        _e(
            "calendar invitation with invite.ics",
            "Invitation: Printer demo @ Mon Mar 4, 2024 10am",
            "Dana White",
            "dana@example.com",
            attachments=[_att("invite.ics", "text/calendar")],
        ),
    )
    n += 1
    add(
        "web-form-reply-to",
        message(
            _top(
                n,
                '"Website" <noreply@www.example.com>',
                "New contact form submission",
                [("Reply-To", '"Carlos Diaz" <carlos@example.mx>')],
            ),
            text_part("Name: Carlos Diaz\nMessage: Do you ship to Mexico?\n", "utf-8", "7bit"),
        ),
        _e(
            "contact form: requester in Reply-To",
            "New contact form submission",
            "Website",
            "noreply@www.example.com",
            reply_to=[{"name": "Carlos Diaz", "address": "carlos@example.mx"}],
            text_contains=["Do you ship to Mexico?"],
        ),
    )
    n += 1
    add(
        "sender-on-behalf",
        message(
            _top(
                n,
                '"Alice Chief" <alice@contoso.com>',
                "Contract renewal",
                [
                    ("Sender", '"Bob Assistant" <bob@contoso.com>'),
                    ("Cc", '"Legal" <legal@contoso.com>, finance@contoso.com'),
                ],
            ),
            text_part("Please send the renewal contract.\n", "us-ascii", "7bit"),
        ),
        _e(
            "Sender differs from From (sent on behalf); two Cc",
            "Contract renewal",
            "Alice Chief",
            "alice@contoso.com",
            sender=[{"name": "Bob Assistant", "address": "bob@contoso.com"}],
            cc=[
                {"name": "Legal", "address": "legal@contoso.com"},
                {"name": "", "address": "finance@contoso.com"},
            ],
        ),
    )
    n += 1
    subj = "Re: [Ticket #1042] 打印机 printer 无法 working — 紧急"
    add(
        "subject-mixed-encoded-words",
        message(
            _top(
                n,
                "=?utf-8?Q?Jos=C3=A9_Garc=C3=ADa?= <jose@example.es>",
                "Re: [Ticket #1042] =?utf-8?B?5omT5Y2w5py6?= printer =?utf-8?B?5peg5rOV?=\r\n"
                " working =?utf-8?Q?=E2=80=94_=E7=B4=A7=E6=80=A5?=",
            ),
            text_part("Still broken.\n", "utf-8", "7bit"),
        ),
        _e(
            "subject with ASCII between encoded words, folded; Q-encoded From",
            subj,
            "José García",
            "jose@example.es",
        ),
    )
    n += 1
    add(
        "mailing-list-post",
        message(
            _top(
                n,
                '"Dev List" <dev@lists.example.org>',
                "[dev] Release 2.1 planning",
                [
                    ("List-Id", "Developers <dev.lists.example.org>"),
                    ("Precedence", "list"),
                    ("List-Post", "<mailto:dev@lists.example.org>"),
                ],
            ),
            text_part("Let's plan the 2.1 release.\n", "us-ascii", "7bit"),
        ),
        _e(
            "mailing list post (Precedence: list): never answered automatically (RFC 3834 §2)",
            "[dev] Release 2.1 planning",
            "Dev List",
            "dev@lists.example.org",
            kind="auto_reply",
        ),
    )
    n += 1
    add(
        "multiple-attachments",
        message(
            _top(n, '"Eva Green" <eva@example.com>', "Documents"),
            multipart(
                "mixed",
                "----=_many_0001",
                [
                    text_part("Three files attached.\n", "us-ascii", "7bit"),
                    file_part(PDF, 'application/pdf; name="a.pdf"', 'attachment; filename="a.pdf"'),
                    file_part(
                        b"PK\x03\x04docx",
                        "application/vnd.openxmlformats-officedocument."
                        'wordprocessingml.document; name="b.docx"',
                        'attachment; filename="b.docx"',
                    ),
                    file_part(
                        b"col1,col2\r\n1,2\r\n",
                        'text/csv; name="c.csv"',
                        'attachment; filename="c.csv"',
                    ),
                ],
            ),
        ),
        _e(
            "three attachments in order",
            "Documents",
            "Eva Green",
            "eva@example.com",
            attachments=[
                _att("a.pdf", "application/pdf"),
                _att(
                    "b.docx",
                    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                ),
                _att("c.csv", "text/csv"),
            ],
        ),
    )
    n += 1
    add(
        "new-inquiry-plain",
        message(
            _top(n, "Frank Moore <frank@example.com>", "Do you sell toner?"),
            text_part(
                "Hi,\n\nDo you sell toner for the M404?\n\nThanks,\nFrank\n", "us-ascii", "7bit"
            ),
        ),
        _e(
            "a new conversation: no quote, reply_text is the whole text",
            "Do you sell toner?",
            "Frank Moore",
            "frank@example.com",
            reply_text_equals="Hi,\n\nDo you sell toner for the M404?\n\nThanks,\nFrank",
            in_reply_to=None,
            references=[],
        ),
    )
    n += 1
    alt = multipart(
        "alternative",
        "----=_nest_alt",
        [
            text_part("Nested structure.\n", "utf-8", "7bit"),
            multipart(
                "related",
                "----=_nest_rel",
                [
                    text_part(
                        '<p>Nested structure.</p><img src="cid:pic1">', "utf-8", "7bit", "html"
                    ),
                    file_part(PNG, "image/png", "inline", extra=[("Content-ID", "<pic1>")]),
                ],
                preamble="",
            ),
        ],
        preamble="",
    )
    add(
        "nested-mixed-alternative-related",
        message(
            _top(n, "Gina <gina@example.com>", "Nested"),
            multipart(
                "mixed",
                "----=_nest_mixed",
                [
                    alt,
                    file_part(
                        PDF, 'application/pdf; name="spec.pdf"', 'attachment; filename="spec.pdf"'
                    ),
                ],
            ),
        ),
        _e(
            "mixed > alternative > related; inline image without filename",
            "Nested",
            "Gina",
            "gina@example.com",
            text_contains=["Nested structure."],
            attachments_include=[
                {"filename": "spec.pdf", "inline": False},
                {"content_id": "pic1", "inline": True},
            ],
        ),
    )
    return out


def broken() -> list[Case]:
    out: list[Case] = []

    def top(
        n: int, subject: str, frm: str = "Broken Sender <broken@example.com>"
    ) -> list[tuple[str, str | bytes]]:
        return _top(100 + n, frm, subject)

    # multipart without a boundary parameter (RFC 2046 §5.1.1 requires one).
    raw = message(
        top(1, "No boundary"),
        Part(
            [("Content-Type", "multipart/mixed")],
            b"--abc\r\nContent-Type: text/plain\r\n\r\nHello there.\r\n--abc--\r\n",
        ),
    )
    out.append(
        (
            "broken-missing-boundary",
            raw,
            _e(
                "multipart/mixed without boundary parameter",
                "No boundary",
                "Broken Sender",
                "broken@example.com",
                errors_nonempty=True,
            ),
        )
    )
    # closing boundary missing (truncated in transit).
    mp = multipart(
        "mixed",
        "----=_trunc",
        [
            text_part("Truncated mail body.\n", "us-ascii", "7bit"),
            file_part(PDF, "application/pdf", 'attachment; filename="cut.pdf"'),
        ],
    )
    mp.body = mp.body[: mp.body.rfind(b"\r\n--") - 40]
    out.append(
        (
            "broken-no-closing-boundary",
            message(top(2, "Truncated"), mp),
            _e(
                "closing boundary missing, last part cut",
                "Truncated",
                "Broken Sender",
                "broken@example.com",
                text_contains=["Truncated mail body."],
                errors_nonempty=True,
            ),
        )
    )
    # bare LF line ends throughout (Maildir files, some scripts).
    out.append(
        (
            "broken-bare-lf",
            message(
                top(3, "Bare LF"),
                multipart(
                    "alternative",
                    "lf-boundary",
                    [
                        text_part("Line one.\nLine two.\n", "utf-8", "7bit"),
                        text_part("<p>Line one.</p>", "utf-8", "7bit", "html"),
                    ],
                ),
                lf=True,
            ),
            _e(
                "bare LF line ends",
                "Bare LF",
                "Broken Sender",
                "broken@example.com",
                text_contains=["Line one.", "Line two."],
            ),
        )
    )
    # mixed CRLF and LF.
    raw = message(top(4, "Mixed line ends"), text_part("First.\nSecond.\n", "utf-8", "7bit"))
    raw = raw.replace(b"Second.\r\n", b"Second.\n")
    out.append(
        (
            "broken-mixed-line-ends",
            raw,
            _e(
                "CRLF and LF mixed",
                "Mixed line ends",
                "Broken Sender",
                "broken@example.com",
                text_contains=["First.", "Second."],
            ),
        )
    )
    # raw 8-bit UTF-8 in headers (RFC 6532 allows it only with SMTPUTF8).
    t = top(5, "x", "x")
    t = [(k, v) for k, v in t if k not in ("Subject", "From")]
    t += [("From", "张三 <zhangsan@example.cn>".encode()), ("Subject", "报价单 8-bit".encode())]
    out.append(
        (
            "broken-8bit-utf8-headers",
            message(t, text_part("正文。\n", "utf-8", "8bit")),
            _e(
                "raw UTF-8 in From and Subject",
                "报价单 8-bit",
                "张三",
                "zhangsan@example.cn",
                text_contains=["正文。"],
            ),
        )
    )
    # raw 8-bit GBK in the subject, unlabelled.
    t = [(k, v) for k, v in top(6, "x") if k != "Subject"]
    t.append(("Subject", "询价单".encode("gbk")))
    out.append(
        (
            "broken-8bit-gbk-subject",
            message(t, text_part("请报价。\n", "gbk", "base64")),
            _e(
                "raw GBK bytes in Subject without a charset: guess the charset",
                "询价单",
                "Broken Sender",
                "broken@example.com",
                text_contains=["请报价。"],
            ),
        )
    )
    # one character split across two encoded words.
    data = "中文报价".encode()
    subj = (
        f"=?UTF-8?B?{__import__('base64').b64encode(data[:4]).decode()}?= "
        f"=?UTF-8?B?{__import__('base64').b64encode(data[4:]).decode()}?="
    )
    out.append(
        (
            "broken-encoded-word-split-char",
            message(top(7, subj), text_part("See subject.\n", "us-ascii", "7bit")),
            _e(
                "a UTF-8 character split between two encoded words (RFC 2047 §5 forbids it)",
                "中文报价",
                "Broken Sender",
                "broken@example.com",
            ),
        )
    )
    # unknown charset label.
    p = text_part("Plain ASCII words survive.\n", "us-ascii", "7bit")
    p.headers[0] = ("Content-Type", 'text/plain; charset="x-unknown-charset"')
    out.append(
        (
            "broken-unknown-charset",
            message(top(8, "Unknown charset"), p),
            _e(
                "unknown charset label: decode as best we can",
                "Unknown charset",
                "Broken Sender",
                "broken@example.com",
                text_contains=["Plain ASCII words survive."],
            ),
        )
    )
    # gb2312 label on text that needs GBK/GB18030 (common with Chinese clients).
    p = text_part("陶喆和王堃的报价。\n", "gb18030", "base64")
    p.headers[0] = ("Content-Type", 'text/plain; charset="gb2312"')
    out.append(
        (
            "broken-gb2312-label-gbk-text",
            message(top(9, ew("报价", "gb2312")), p),
            _e(
                "labelled gb2312, contains GBK-only characters: decode with the superset",
                "报价",
                "Broken Sender",
                "broken@example.com",
                text_contains=["陶喆和王堃的报价。"],
            ),
        )
    )
    # truncated base64.
    p = text_part("This base64 body is cut short somewhere in the middle.\n", "utf-8", "base64")
    p.body = p.body[:37] + b"\r\n"
    out.append(
        (
            "broken-truncated-base64",
            message(top(10, "Truncated base64"), p),
            _e(
                "base64 body with bad padding",
                "Truncated base64",
                "Broken Sender",
                "broken@example.com",
                text_contains=["This base64 body"],
            ),
        )
    )
    # no MIME-Version header at all.
    raw = (
        b"Date: Fri, 01 Mar 2024 15:00:00 +0000\r\nFrom: old@example.com\r\nTo: "
        + US.encode()
        + b"\r\nSubject: No MIME\r\nMessage-ID: <nomime-0011@example.com>\r\n\r\n"
        b"Plain old RFC 822 mail.\r\n"
    )
    out.append(
        (
            "broken-no-mime-version",
            raw,
            _e(
                "no MIME-Version: plain RFC 822 text",
                "No MIME",
                "",
                "old@example.com",
                text_contains=["Plain old RFC 822 mail."],
                reply_text_equals="Plain old RFC 822 mail.",
            ),
        )
    )
    # a header line without a colon in the header block.
    raw = message(top(12, "Garbage header"), text_part("Body after garbage.\n", "us-ascii", "7bit"))
    raw = raw.replace(
        b"Subject: Garbage header\r\n", b"Subject: Garbage header\r\nThis line is not a header\r\n"
    )
    out.append(
        (
            "broken-header-without-colon",
            raw,
            _e(
                "a line without a colon inside the header block",
                "Garbage header",
                "Broken Sender",
                "broken@example.com",
                errors_nonempty=True,
            ),
        )
    )
    # empty body.
    raw = message(top(13, "Empty"), Part([("Content-Type", "text/plain; charset=us-ascii")], b""))
    out.append(
        (
            "broken-empty-body",
            raw,
            _e(
                "no body at all",
                "Empty",
                "Broken Sender",
                "broken@example.com",
                reply_text_equals="",
            ),
        )
    )
    # Message-ID without angle brackets; unparseable Date.
    t = [(k, v) for k, v in top(14, "Odd ids") if k not in ("Message-ID", "Date")]
    t += [("Message-ID", "odd-id-0014@example.com"), ("Date", "yesterday afternoon")]
    out.append(
        (
            "broken-odd-message-id-date",
            message(t, text_part("Hi.\n", "us-ascii", "7bit")),
            _e(
                "Message-ID without brackets; Date not RFC 5322",
                "Odd ids",
                "Broken Sender",
                "broken@example.com",
                message_id="odd-id-0014@example.com",
                date=None,
            ),
        )
    )
    # charset alias names.
    p = text_part("简体中文测试。\n", "gbk", "base64")
    p.headers[0] = ("Content-Type", "text/plain; charset=cp936")
    out.append(
        (
            "broken-charset-alias-cp936",
            message(top(15, ew("测试", "gbk")), p),
            _e(
                "charset label cp936 (Windows name of GBK)",
                "测试",
                "Broken Sender",
                "broken@example.com",
                text_contains=["简体中文测试。"],
            ),
        )
    )
    p = text_part("UTF-8 with a sloppy label.\n", "utf-8", "7bit")
    p.headers[0] = ("Content-Type", "text/plain; charset=utf8")
    out.append(
        (
            "broken-charset-alias-utf8",
            message(top(16, "utf8 label"), p),
            _e(
                "charset label 'utf8'",
                "utf8 label",
                "Broken Sender",
                "broken@example.com",
                text_contains=["sloppy label"],
            ),
        )
    )
    # base64 body with line-length violations and whitespace.
    p = text_part("Sloppy base64 is still decoded.\n", "utf-8", "7bit")
    p.headers[1] = ("Content-Transfer-Encoding", "BASE64")
    import base64 as _b

    p.body = b"  " + _b.b64encode(b"Sloppy base64 is still decoded.\r\n") + b"  \r\n"
    out.append(
        (
            "broken-sloppy-base64",
            message(top(17, "Sloppy base64"), p),
            _e(
                "uppercase CTE and whitespace around base64",
                "Sloppy base64",
                "Broken Sender",
                "broken@example.com",
                text_contains=["Sloppy base64 is still decoded."],
            ),
        )
    )
    _ = b64
    return out


def cases() -> list[Case]:
    return [*shapes(), *broken()]
