"""Replies from each common client, in English and Chinese, quoting our message.

Every reply answers a message mailgate sent from support@help.example.com; the
quoted block, attribution and signature follow what each client writes.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from _mime import Part, ew, file_part, mailbox, message, multipart, text_part

SUPPORT = ("Acme Support", "support@help.example.com")
SUPPORT_ZH = ("Acme 客服", "support@help.example.com")


@dataclass
class Reply:
    """One reply case: who answers, with which client, what is new and what is quoted."""

    slug: str
    client: str
    name: str
    address: str
    subject: str  # the subject of our message; the client adds its prefix
    reply: str  # the new text, exactly as typed
    quoted: str  # our original text, which the client quotes
    sig: str = ""  # signature block after the reply (without separator)
    sig_style: str = "dash"  # "dash" ("-- "), "mobile" (the line is the signature), "plain"
    html: bool = True
    html_only: bool = False
    lang: str = "en"
    charset: str = ""
    attachment: tuple[str, str, bytes] | None = None  # filename, content type, data


def _ids(n: int) -> tuple[str, str, str]:
    ours = f"ticket-{1000 + n}.a{n:03d}f@help.example.com"
    return ours, f"Fri, 01 Mar 2024 {9 + n % 9:02d}:{n % 60:02d}:00 +0800", f"{n:04d}"


def _quote(text: str, mark: str = "> ") -> str:
    return "\n".join((mark + ln).rstrip() if ln else mark.rstrip() for ln in text.split("\n"))


def _sig(r: Reply) -> str:
    if not r.sig:
        return ""
    if r.sig_style == "dash":
        return "\n\n-- \n" + r.sig
    return "\n\n" + r.sig


def _prefix(r: Reply) -> str:
    return {
        "gmail": "Re: ",
        "outlook": "RE: " if r.lang == "en" else "答复: ",
        "owa": "Re: " if r.lang == "en" else "回复: ",
        "apple": "Re: ",
        "thunderbird": "Re: ",
        "foxmail": "Re: " if r.lang == "en" else "回复：",
        "qq": "回复：",
        "163": "Re:",
        "126": "回复:",
    }[r.client]


def _attribution(r: Reply, n: int) -> tuple[str, str]:
    """(plain-text history, html history) as the client writes them."""
    sname, saddr = SUPPORT if r.lang == "en" else SUPPORT_ZH
    uname, uaddr = r.name, r.address
    subj = r.subject
    q = r.quoted
    if r.client == "gmail":
        if r.lang == "en":
            # Gmail wraps the attribution at 78 columns when it is long.
            att = f"On Fri, Mar 1, 2024 at 10:{n % 60:02d} AM {sname} <{saddr}>\nwrote:"
        else:
            att = f"在 2024年3月1日周五 10:{n % 60:02d}，{sname} <{saddr}> 写道："
        text = f"{att}\n\n{_quote(q)}\n"
        h = (
            f'<div class="gmail_quote"><div dir="ltr" class="gmail_attr">'
            f'{html.escape(att)}<br></div><blockquote class="gmail_quote" '
            f'style="margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);'
            f'padding-left:1ex">{_html_lines(q)}</blockquote></div>'
        )
        return text, h
    if r.client == "outlook":
        if r.lang == "en":
            text = (
                f"-----Original Message-----\nFrom: {sname} <{saddr}> \n"
                f"Sent: Friday, March 1, 2024 10:{n % 60:02d} AM\nTo: {uname} <{uaddr}>\n"
                f"Subject: {subj}\n\n{q}\n"
            )
        else:
            text = (
                f"-----邮件原件-----\n发件人: {sname} <{saddr}> \n"
                f"发送时间: 2024年3月1日 10:{n % 60:02d}\n收件人: {uname} <{uaddr}>\n"
                f"主题: {subj}\n\n{q}\n"
            )
        return text, _outlook_html(text)
    if r.client == "owa":
        if r.lang == "en":
            block = (
                f"From: {sname} <{saddr}>\nSent: Friday, March 1, 2024 10:{n % 60:02d}\n"
                f"To: {uname} <{uaddr}>\nSubject: {subj}\n"
            )
        else:
            block = (
                f"发件人: {sname} <{saddr}>\n发送时间: 2024年3月1日 10:{n % 60:02d}\n"
                f"收件人: {uname} <{uaddr}>\n主题: {subj}\n"
            )
        text = "________________________________\n" + block + "\n" + q + "\n"
        h = (
            '<hr style="display:inline-block;width:98%" tabindex="-1">'
            f'<div id="divRplyFwdMsg" dir="ltr">{_html_lines(block)}</div>'
            f"<div>{_html_lines(q)}</div>"
        )
        return text, h
    if r.client == "apple":
        if r.lang == "en":
            att = f"On 1 Mar 2024, at 10:{n % 60:02d}, {sname} <{saddr}> wrote:"
        else:
            att = f"在 2024年3月1日，10:{n % 60:02d}，{sname} <{saddr}> 写道："
        text = f"{_quote(att)}\n> \n{_quote(q)}\n"
        h = (
            f'<div><br><blockquote type="cite"><div>{html.escape(att)}</div><br>'
            f"<div>{_html_lines(q)}</div></blockquote></div>"
        )
        return text, h
    if r.client == "thunderbird":
        att = f"On 3/1/24 10:{n % 60:02d} AM, {sname} wrote:"
        text = f"{att}\n{_quote(q)}\n"
        h = (
            f'<div class="moz-cite-prefix">{html.escape(att)}<br></div>'
            f'<blockquote type="cite">{_html_lines(q)}</blockquote>'
        )
        return text, h
    if r.client == "foxmail":
        if r.lang == "en":
            text = (
                "------------------ Original ------------------\n"
                f'From:  "{sname}"<{saddr}>;\nDate:  Fri, Mar 1, 2024 10:{n % 60:02d} AM\n'
                f'To:  "{uname}"<{uaddr}>; \n\nSubject:  {subj}\n\n\n\n{q}\n'
            )
        else:
            text = (
                "------------------ 原始邮件 ------------------\n"
                f'发件人: "{sname}"<{saddr}>;\n发送时间: 2024年3月1日(星期五) 上午10:{n % 60:02d}\n'
                f'收件人: "{uname}"<{uaddr}>;\n\n主题: {subj}\n\n\n\n{q}\n'
            )
        return text, _foxmail_html(text)
    if r.client == "qq":
        # QQ Mail's text part is its HTML flattened: "&nbsp;" and "&gt;" stay literal.
        text = (
            "------------------&nbsp;原始邮件&nbsp;------------------\n"
            "发件人:" + " " * 72 + f'"{sname}"'
            f"                                                   <{saddr}&gt;;\n"
            f"发送时间:&nbsp;2024年3月1日(星期五) 上午10:{n % 60:02d}\n"
            f'收件人:&nbsp;"{uname}"<{uaddr}&gt;;\n\n主题:&nbsp;{subj}\n\n\n\n{q}\n'
        )
        h = (
            '<div style="font-size: 12px;font-family: Arial Narrow;padding:2px 0 2px 0;">'
            "------------------&nbsp;原始邮件&nbsp;------------------</div>"
            f'<div style="font-size: 12px;background:#efefef;padding:8px;"><div><b>发件人:</b> '
            f'"{sname}"&lt;{saddr}&gt;;</div><div><b>主题:</b>&nbsp;{html.escape(subj)}</div>'
            f"</div><div><br></div>{_html_lines(q)}"
        )
        return text, h
    # NetEase 163 / 126 (Coremail webmail).
    att = f'在 2024-03-01 10:{n % 60:02d}:00，"{sname}" <{saddr}> 写道：'
    text = f"{att}\n{_quote(q, '>')}\n"
    h = (
        f'<div style="position:relative;zoom:1"></div><div id="divNeteaseMailCard"></div>'
        f'<p>{html.escape(att)}</p><blockquote id="isReplyContent" style="PADDING-LEFT: 1ex; '
        f'MARGIN: 0px 0px 0px 0.8ex; BORDER-LEFT: #ccc 1px solid">{_html_lines(q)}</blockquote>'
    )
    return text, h


def _html_lines(text: str) -> str:
    return "<br>".join(html.escape(ln) for ln in text.split("\n"))


def _outlook_html(history: str) -> str:
    return (
        '<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">'
        f'<p class="MsoNormal">{_html_lines(history)}</p></div>'
    )


def _foxmail_html(history: str) -> str:
    return (
        '<div><div style="font-size: 12px;font-family: Arial Narrow;padding:2px 0 2px 0;">'
        f"{_html_lines(history)}</div></div>"
    )


# Client fingerprints: headers, charset, transfer encoding, boundary shape.
def _client_headers(r: Reply, n: int) -> tuple[list[tuple[str, str | bytes]], str, str, str]:
    """(extra headers, text charset, transfer encoding, boundary) for the client."""
    c = r.client
    if c == "gmail":
        return (
            [("X-Gm-Message-State", "AOJu0YwQ8z2c9kq6h1rZ3xV0mLq2b1dD4k0eQf7pX4Yq6uE1sNw=")],
            "UTF-8",
            "quoted-printable" if r.lang == "en" else "base64",
            f"0000000000009a{n:04d}0612b7c8ee",
        )
    if c == "outlook":
        return (
            [
                ("X-Mailer", "Microsoft Outlook 16.0"),
                ("Thread-Index", "AQHaa7xF3mK0c2bU8kS9Jm9a2nYq1A=="),
                ("Content-Language", "en-us" if r.lang == "en" else "zh-cn"),
            ],
            "windows-1252" if r.lang == "en" else "gb2312",
            "quoted-printable" if r.lang == "en" else "base64",
            f"----=_NextPart_000_{n:04d}_01DA6B8C.5A0B1F20",
        )
    if c == "owa":
        return (
            [
                ("Thread-Topic", ew(r.subject) if not r.subject.isascii() else r.subject),
                ("Thread-Index", "AQHaa7xGyQ2wVbP1TkWcd3bYx7Lw8Q=="),
                ("Accept-Language", "en-US" if r.lang == "en" else "zh-CN, en-US"),
                ("X-MS-Has-Attach", "yes" if r.attachment else ""),
                ("X-MS-TNEF-Correlator", ""),
            ],
            "utf-8",
            "base64",
            f"_000_PH0PR11MB50{n:04d}5F3C9A8B7D6E5F4A3B2C1DPH0PR11MB5000namp_",
        )
    if c == "apple":
        return (
            [("X-Mailer", "Apple Mail (2.3774.400.31)")],
            "utf-8",
            "quoted-printable",
            f"Apple-Mail=_5F2B7C4E-{n:04d}-4D8A-9E1F-0A2B3C4D5E6F",
        )
    if c == "thunderbird":
        return (
            [
                (
                    "User-Agent",
                    "Mozilla Thunderbird 115.8.0 (Windows NT 10.0; Win64; x64)",
                ),
                ("Content-Language", "en-US"),
            ],
            "UTF-8",
            "7bit" if r.reply.isascii() and r.quoted.isascii() else "8bit",
            f"------------0Wk8Sx{n:04d}Hq3cJvB1mYzT2",
        )
    if c in ("foxmail", "qq"):
        mailer = "Foxmail 7.2.25.228[cn]" if c == "foxmail" else "QQMail 2.x"
        extra: list[tuple[str, str | bytes]] = [("X-Mailer", mailer)]
        if c == "qq":
            extra = [
                ("X-QQ-mid", f"xmsezb{n:04d}t1709258400tq8k3m2d1"),
                ("X-QQ-XMAILINFO", "NfsR5oBDiyvIqJk8jQ2z1mGQ3cM7Ll4o0x7pX1"),
                *extra,
            ]
        return (
            extra,
            "gb18030" if c == "qq" else "gb2312",
            "base64",
            f"----=_NextPart_65E13E00_0A1B{n:04d}_3C2B1A00",
        )
    domain = "163com" if c == "163" else "126com"
    return (
        [
            (
                "X-Mailer",
                "Coremail Webmail Server Version XT5.0.13 build 20230419(ff59dc7b) "
                f"Copyright (c) 2002-2024 www.mailtech.cn {domain}",
            ),
            ("X-Originating-IP", "[203.0.113.45]"),
            ("X-CM-TRANSID", f"_____wD3v{n:04d}2ZgDWAEAA--.2188S2"),
        ],
        "GBK",
        "base64",
        f"----=_Part_{n:06d}_1709258400.1709258400000",
    )


def build(r: Reply, n: int) -> tuple[bytes, dict[str, object]]:
    ours, date, _ = _ids(n)
    extra, charset, cte, boundary = _client_headers(r, n)
    charset = r.charset or charset
    if cte == "7bit" and not r.reply.isascii():
        cte = "8bit"
    history_text, history_html = _attribution(r, n)
    subject = _prefix(r) + r.subject
    body_text = f"{r.reply}{_sig(r)}\n\n{history_text}"
    if r.client == "apple":
        body_text = f"{r.reply}{_sig(r)}\n\n{history_text}"
    reply_html = _html_lines(r.reply) + (
        "<br><br>" + ("-- <br>" if r.sig_style == "dash" else "") + _html_lines(r.sig)
        if r.sig
        else ""
    )
    body_html = (
        f'<html><head><meta http-equiv="Content-Type" content="text/html; charset={charset}">'
        f'</head><body><div dir="ltr">{reply_html}</div><br>{history_html}</body></html>'
    )
    fmt = "; format=flowed" if r.client == "thunderbird" else ""
    plain = text_part(body_text, charset, cte, params=fmt)
    rich = text_part(
        body_html, charset, "base64" if cte == "base64" else "quoted-printable", "html"
    )
    body: Part
    if r.html_only:
        body = rich
    elif r.html:
        body = multipart("alternative", boundary, [plain, rich], preamble="")
    else:
        body = plain
    attachments: list[dict[str, object]] = []
    if r.attachment:
        fname, ctype, data = r.attachment
        disp = (
            f'attachment; filename="{fname}"'
            if fname.isascii()
            else (f'attachment; filename="{ew(fname, charset)}"')
        )
        att = file_part(
            data, f'{ctype}; name="{fname if fname.isascii() else ew(fname, charset)}"', disp
        )
        body = multipart("mixed", boundary + "_mixed", [body, att], preamble="")
        attachments.append({"filename": fname, "content_type": ctype, "inline": False})
    enc = "B"
    from_ = mailbox(
        r.name, r.address, charset if r.client not in ("gmail", "owa") else "UTF-8", enc
    )
    sname, saddr = SUPPORT
    top: list[tuple[str, str | bytes]] = [
        (
            "Received",
            f"from mail.example.net (mail.example.net [198.51.100.{n % 200 + 1}])\r\n"
            f"\tby mx.help.example.com (Postfix) with ESMTPS id 4Tn{n:04d}Qx\r\n"
            f"\tfor <{saddr}>; {date}",
        ),
        ("Date", date),
        ("From", from_),
        ("To", mailbox(sname, saddr)),
        ("Subject", subject if subject.isascii() else ew(subject, charset)),
        ("Message-ID", f"<reply-{n:04d}.{r.client}@{r.address.split('@')[1]}>"),
        ("In-Reply-To", f"<{ours}>"),
        ("References", f"<{ours}>"),
        *extra,
    ]
    raw = message(top, body)
    expect: dict[str, object] = {
        "description": f"{r.client} reply ({r.lang}): {r.slug}",
        "kind": "normal",
        "subject": subject,
        "from": [{"name": r.name, "address": r.address}],
        "in_reply_to": ours,
        # A signature with no separator is, as far as anyone can tell, text the
        # person typed: it stays in the reply.
        "reply_text_equals": r.reply + ("\n\n" + r.sig if r.sig_style == "plain" else ""),
        "text_contains": [r.reply.split("\n")[0]] if not r.html_only else [],
    }
    if r.html_only:
        expect["html_contains"] = [html.escape(r.reply.split("\n")[0])]
    if attachments:
        expect["attachments"] = attachments
    return raw, expect


Q_EN = (
    "Hello John,\n\nThank you for contacting Acme Support. Could you tell us the model\n"
    "number of your printer and the error shown on its display?\n\nBest regards,\nAcme Support"
)
Q_ZH = (
    "您好：\n\n感谢您联系 Acme 客服。请告诉我们打印机的型号以及屏幕上显示的错误代码。"
    "\n\n祝好\nAcme 客服"
)
Q_ORDER = "您好，\n\n附件是订单 20240301 的报价单，请查收。如有疑问请随时联系。\n\nAcme 销售部"

REPLIES: list[Reply] = [
    Reply(
        "short",
        "gmail",
        "John Smith",
        "john.smith@gmail.com",
        "Printer not working",
        "It is an HP LaserJet M404, the display says 49.4C02.",
        Q_EN,
    ),
    Reply(
        "signature",
        "gmail",
        "Mary Jones",
        "mary.jones@gmail.com",
        "Printer not working",
        "Hi,\n\nThe model is M404dn. The error went away after a restart,\n"
        "but it came back this morning.",
        Q_EN,
        sig="Mary Jones\nOffice Manager, Contoso Ltd.\n+1 555 0100",
    ),
    Reply(
        "mobile",
        "gmail",
        "Peter Lee",
        "peter.lee@gmail.com",
        "Printer not working",
        "Will check tomorrow.",
        Q_EN,
        sig="Sent from my iPhone",
        sig_style="mobile",
    ),
    Reply(
        "zh",
        "gmail",
        "王芳",
        "wangfang@gmail.com",
        "打印机无法使用",
        "型号是 HP M404，屏幕显示 49.4C02。",
        Q_ZH,
        lang="zh",
    ),
    Reply(
        "zh-sig",
        "gmail",
        "陈静",
        "chenjing@gmail.com",
        "打印机无法使用",
        "您好，\n\n重启后还是不行，麻烦派人上门看一下。",
        Q_ZH,
        lang="zh",
        sig="陈静\n市场部",
        html=True,
    ),
    Reply(
        "text-only",
        "gmail",
        "Alan Turing",
        "alan.t@gmail.com",
        "Printer not working",
        "Thanks, that fixed it.",
        Q_EN,
        html=False,
    ),
    Reply(
        "html-only",
        "gmail",
        "Grace Hopper",
        "grace.h@gmail.com",
        "Printer not working",
        "Found the model: M404n.",
        Q_EN,
        html_only=True,
    ),
    Reply(
        "short",
        "outlook",
        "David Brown",
        "d.brown@contoso.com",
        "Printer not working",
        "Model M404dn, error 49.4C02 – it appears at every start.",
        Q_EN,
        sig="David Brown\nContoso Ltd.",
        sig_style="plain",
    ),
    Reply(
        "attachment",
        "outlook",
        "Sarah Connor",
        "s.connor@contoso.com",
        "Printer not working",
        "Please see the photo of the display attached.",
        Q_EN,
        attachment=("display.jpg", "image/jpeg", b"\xff\xd8\xff\xe0" + b"JFIF-photo" * 20),
    ),
    Reply(
        "zh",
        "outlook",
        "刘洋",
        "liuyang@contoso.cn",
        "打印机无法使用",
        "型号 M404dn，开机就报 49.4C02 错误。",
        Q_ZH,
        lang="zh",
    ),
    Reply(
        "zh-gbk",
        "outlook",
        "赵磊",
        "zhaolei@contoso.cn",
        "关于订单 20240301 的报价",
        "报价已收到，我们内部讨论后再回复您。",
        Q_ORDER,
        lang="zh",
        charset="gbk",
    ),
    Reply(
        "short",
        "owa",
        "Emma Wilson",
        "emma.wilson@outlook.com",
        "Printer not working",
        "The printer is a Brother HL-L2350DW.",
        Q_EN,
    ),
    Reply(
        "mobile",
        "owa",
        "Liam Davis",
        "liam.davis@outlook.com",
        "Printer not working",
        "Yes, please send a technician on Monday.",
        Q_EN,
        sig="Get Outlook for iOS<https://aka.ms/o0ukef>",
        sig_style="mobile",
    ),
    Reply(
        "zh",
        "owa",
        "孙丽",
        "sunli@outlook.com",
        "打印机无法使用",
        "好的，周一上午有人在。",
        Q_ZH,
        lang="zh",
    ),
    Reply(
        "zh-attachment",
        "owa",
        "周杰",
        "zhoujie@contoso.cn",
        "关于订单 20240301 的报价",
        "附件是盖章后的合同，请查收。",
        Q_ORDER,
        lang="zh",
        attachment=("合同-盖章版.pdf", "application/pdf", b"%PDF-1.4\n% contract\n%%EOF\n"),
    ),
    Reply(
        "short",
        "apple",
        "Olivia Martin",
        "olivia@icloud.com",
        "Printer not working",
        "It’s the M404dn. Photo below.",
        Q_EN,
    ),
    Reply(
        "iphone",
        "apple",
        "Noah Clark",
        "noah.clark@icloud.com",
        "Printer not working",
        "Ok thanks!",
        Q_EN,
        sig="Sent from my iPhone",
        sig_style="mobile",
        html=False,
    ),
    Reply(
        "zh-iphone",
        "apple",
        "黄敏",
        "huangmin@icloud.com",
        "打印机无法使用",
        "收到，谢谢！",
        Q_ZH,
        lang="zh",
        sig="发自我的iPhone",
        sig_style="mobile",
        html=False,
    ),
    Reply(
        "short",
        "thunderbird",
        "Lucas Meyer",
        "lucas@example.org",
        "Printer not working",
        "The model is M404dn; firmware 002.2311A.",
        Q_EN,
        sig="Lucas Meyer",
        html=False,
    ),
    Reply(
        "html",
        "thunderbird",
        "Sophie Bernard",
        "sophie@example.fr",
        "Printer not working",
        "Bonjour, the printer works again. Thank you.",
        Q_EN,
    ),
    Reply(
        "en",
        "foxmail",
        "Kevin Wu",
        "kevin.wu@example.cn",
        "Printer not working",
        "The model is M404dn.",
        Q_EN,
    ),
    Reply(
        "zh",
        "foxmail",
        "张伟",
        "zhangwei@example.cn",
        "关于订单 20240301 的报价",
        "好的，谢谢！价格我们可以接受，请安排发货。",
        Q_ORDER,
        lang="zh",
        sig="张伟\n采购部 | 星辰科技",
        sig_style="plain",
    ),
    Reply(
        "zh-gb18030",
        "foxmail",
        "李娜",
        "lina@example.cn",
        "打印机无法使用",
        "型号 M404dn，错误代码 49.4C02。㐀",
        Q_ZH,
        lang="zh",
        charset="gb18030",
    ),
    Reply(
        "short", "qq", "小明", "12345678@qq.com", "打印机无法使用", "收到，谢谢！", Q_ZH, lang="zh"
    ),
    Reply(
        "mobile",
        "qq",
        "王小二",
        "87654321@qq.com",
        "关于订单 20240301 的报价",
        "价格能再优惠一点吗？",
        Q_ORDER,
        lang="zh",
        sig="发自我的iPhone",
        sig_style="mobile",
    ),
    Reply(
        "multi-line",
        "qq",
        "刘备",
        "liubei2024@qq.com",
        "打印机无法使用",
        "您好：\n\n型号是 M404dn。\n开机后显示 49.4C02。\n\n谢谢",
        Q_ZH,
        lang="zh",
    ),
    Reply(
        "short",
        "163",
        "杨洋",
        "yangyang@163.com",
        "打印机无法使用",
        "已经好了，谢谢你们。",
        Q_ZH,
        lang="zh",
    ),
    Reply(
        "mobile",
        "163",
        "吴昊",
        "wuhao@163.com",
        "关于订单 20240301 的报价",
        "请把报价单改成含税价格再发一次。",
        Q_ORDER,
        lang="zh",
        sig="发自网易邮箱大师",
        sig_style="mobile",
    ),
    Reply(
        "short",
        "126",
        "郑爽",
        "zhengshuang@126.com",
        "打印机无法使用",
        "明天下午三点可以上门吗？",
        Q_ZH,
        lang="zh",
    ),
    Reply(
        "html-only",
        "126",
        "钱进",
        "qianjin@126.com",
        "关于订单 20240301 的报价",
        "我们决定下单，请发合同。",
        Q_ORDER,
        lang="zh",
        html_only=True,
    ),
    Reply(
        "dash-sig-html",
        "gmail",
        "Karen White",
        "karen.white@gmail.com",
        "Printer not working",
        "Serial number is CNB1234567.",
        Q_EN,
        sig="Karen White\nwww.example.com",
    ),
    Reply(
        "zh-mobile",
        "gmail",
        "何伟",
        "hewei@gmail.com",
        "打印机无法使用",
        "下午有空，可以来。",
        Q_ZH,
        lang="zh",
        sig="发自我的iPhone",
        sig_style="mobile",
    ),
    Reply(
        "zh-text-only",
        "gmail",
        "罗静",
        "luojing@gmail.com",
        "关于订单 20240301 的报价",
        "请问交货期是多久？",
        Q_ORDER,
        lang="zh",
        html=False,
    ),
    Reply(
        "mail-for-windows",
        "outlook",
        "Chris Evans",
        "chris.evans@contoso.com",
        "Printer not working",
        "Thanks, it prints again.",
        Q_EN,
        sig="Sent from Mail for Windows",
        sig_style="mobile",
        html=False,
    ),
    Reply(
        "zh-attachment",
        "outlook",
        "马超",
        "machao@contoso.cn",
        "关于订单 20240301 的报价",
        "发票已开具，见附件。",
        Q_ORDER,
        lang="zh",
        attachment=("发票.pdf", "application/pdf", b"%PDF-1.4\n% invoice\n%%EOF\n"),
    ),
    Reply(
        "dash-sig",
        "owa",
        "Nora Quinn",
        "nora.quinn@outlook.com",
        "Printer not working",
        "Technician came by, all fixed.",
        Q_EN,
        sig="Nora Quinn\nFacilities",
    ),
    Reply(
        "zh-huawei",
        "owa",
        "韩梅",
        "hanmei@outlook.com",
        "打印机无法使用",
        "明白，谢谢。",
        Q_ZH,
        lang="zh",
        sig="发自我的华为手机",
        sig_style="mobile",
    ),
    Reply(
        "html",
        "apple",
        "Ethan Hunt",
        "ethan@icloud.com",
        "Printer not working",
        "Works now, thanks a lot!",
        Q_EN,
        sig="Sent from my iPad",
        sig_style="mobile",
    ),
    Reply(
        "zh-ipad",
        "apple",
        "林峰",
        "linfeng@icloud.com",
        "关于订单 20240301 的报价",
        "价格没问题。",
        Q_ORDER,
        lang="zh",
        sig="发自我的iPad",
        sig_style="mobile",
    ),
    Reply(
        "zh",
        "thunderbird",
        "许晴",
        "xuqing@example.cn",
        "打印机无法使用",
        "已经按照说明重置，问题解决。",
        Q_ZH,
        lang="zh",
        html=False,
    ),
    Reply(
        "dash-sig-html",
        "thunderbird",
        "Mia Wong",
        "mia@example.org",
        "Printer not working",
        "No, the error is still there.",
        Q_EN,
        sig="Mia Wong\nExample Org",
    ),
    Reply(
        "en-dash-sig",
        "foxmail",
        "Leo Zhang",
        "leo.zhang@example.cn",
        "Printer not working",
        "I will send photos tomorrow.",
        Q_EN,
        sig="Leo Zhang",
    ),
    Reply(
        "html-only",
        "qq",
        "老王",
        "23456789@qq.com",
        "打印机无法使用",
        "师傅几点到？",
        Q_ZH,
        lang="zh",
        html_only=True,
    ),
    Reply(
        "attachment",
        "qq",
        "赵六",
        "34567890@qq.com",
        "关于订单 20240301 的报价",
        "回签的报价单在附件里。",
        Q_ORDER,
        lang="zh",
        attachment=("报价单回签.jpg", "image/jpeg", b"\xff\xd8\xff\xe0JFIF" * 10),
    ),
    Reply(
        "html-only",
        "163",
        "冯晓",
        "fengxiao@163.com",
        "打印机无法使用",
        "好的，我等你们电话。",
        Q_ZH,
        lang="zh",
        html_only=True,
    ),
    Reply(
        "en",
        "163",
        "Jack Ma",
        "jackma2024@163.com",
        "Printer not working",
        "Please call me at 138 0000 0000.",
        Q_EN,
        lang="zh",
    ),
    Reply(
        "mobile",
        "126",
        "邓超",
        "dengchao@126.com",
        "打印机无法使用",
        "收到。",
        Q_ZH,
        lang="zh",
        sig="发自网易邮箱大师",
        sig_style="mobile",
    ),
]


def cases() -> list[tuple[str, bytes, dict[str, object]]]:
    out = []
    for n, r in enumerate(REPLIES, start=1):
        raw, expect = build(r, n)
        out.append((f"reply-{r.client}-{r.slug}", raw, expect))
    return out
