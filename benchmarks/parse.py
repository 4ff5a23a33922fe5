"""Messages per second for mailgate's parser against the stdlib's default-policy parse.

Run: ``.venv/bin/python benchmarks/parse.py [DIR]`` — every ``*.eml`` under DIR;
without DIR the corpus in ``tests/corpus/`` and then two built-in mixes: the small
one (plain, HTML-only, GBK Chinese, multipart-with-attachments and bounce
messages) and the HTML-heavy one, which adds what real help-desk mail is made of:
a 290 KB Outlook-style HTML-only ticket history, a 60 KB HTML newsletter and an
HTML reply with its quoted thread (``--builtin``: the two built-in mixes only).
``--seconds N`` measures longer; ``--profile`` prints where mailgate's time goes.

The reference is what an application would write with the stdlib alone:
``message_from_bytes(raw, policy=default)``, then ``get_content()`` on every leaf.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import cProfile
import email
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from email import policy
from pathlib import Path

from mailgate.core.parse import parse_message

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "corpus"
PARAGRAPH = (
    "Thank you for contacting our support team. We have looked into your order and "
    "the parcel left our warehouse this morning; you will receive a tracking number soon.\n"
)


def _head(subject: str, extra: str = "") -> bytes:
    return (
        "From: Customer Name <customer@example.org>\r\n"
        "To: Support <support@example.com>\r\n"
        "Cc: Li Na <li.na@example.org>, bob@example.net\r\n"
        f"Subject: {subject}\r\n"
        "Date: Wed, 01 May 2024 12:00:00 +0200\r\n"
        "Message-ID: <1234.5678@mail.example.org>\r\n"
        "In-Reply-To: <t0k3n@example.com>\r\n"
        "References: <a@example.com> <t0k3n@example.com>\r\n"
        "Received: from mx.example.org by mx.example.com; Wed, 01 May 2024 12:00:01 +0200\r\n"
        "Received: from client by mx.example.org; Wed, 01 May 2024 12:00:00 +0200\r\n"
        "MIME-Version: 1.0\r\n" + extra
    ).encode()


def generated() -> list[bytes]:
    """A mix shaped like an inbound help-desk mailbox."""
    text = ("Hello,\r\n\r\n" + PARAGRAPH * 8 + "\r\n> quoted line\r\n> more\r\n").encode()
    plain = _head("Re: your order", "Content-Type: text/plain; charset=us-ascii\r\n\r\n") + text
    html_body = "<html><body>" + f"<p>{PARAGRAPH}</p>" * 8 + "<ul><li>a</li></ul></body></html>"
    html_only = (
        _head("Newsletter", "Content-Type: text/html; charset=utf-8\r\n\r\n") + html_body.encode()
    )
    zh = "您好，关于您的订单我们已经处理完毕，包裹今天早上已经发出。\r\n" * 10
    gbk = _head(
        "=?GBK?B?" + base64.b64encode("关于您的订单".encode("gbk")).decode() + "?=",
        "Content-Type: text/plain; charset=gb2312\r\nContent-Transfer-Encoding: base64\r\n\r\n",
    ) + base64.encodebytes(zh.encode("gbk")).replace(b"\n", b"\r\n")
    pdf = base64.encodebytes(b"%PDF-1.4 " + bytes(range(256)) * 120).replace(b"\n", b"\r\n")
    mixed = _head("Invoice", 'Content-Type: multipart/mixed; boundary="MIX"\r\n\r\n') + (
        b'--MIX\r\nContent-Type: multipart/alternative; boundary="ALT"\r\n\r\n'
        b"--ALT\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: "
        b"quoted-printable\r\n\r\n" + PARAGRAPH.encode() * 4 + b"Gr=C3=BC=C3=9Fe\r\n"
        b"--ALT\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html_body.encode() + b"\r\n"
        b'--ALT--\r\n--MIX\r\nContent-Type: application/pdf; name="invoice.pdf"\r\n'
        b'Content-Disposition: attachment; filename="invoice.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + pdf + b"--MIX\r\n"
        b"Content-Type: image/png\r\nContent-ID: <logo@x>\r\nContent-Transfer-Encoding: base64"
        b"\r\n\r\n" + base64.encodebytes(b"\x89PNG" + b"\0" * 2000) + b"--MIX--\r\n"
    )
    bounce = (
        b"From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\n"
        b"To: bounces@example.com\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        b"Date: Wed, 01 May 2024 12:00:00 +0200\r\nMessage-ID: <b1@mx.example.com>\r\n"
        b"Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="R"\r\n\r\n'
        b"--R\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you that your "
        b"message could not be delivered.\r\n\r\n<gone@example.net>: host said: 550 5.1.1 "
        b"User unknown\r\n--R\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx.example.com\r\n\r\nFinal-Recipient: rfc822; gone@example.net\r\n"
        b"Action: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 User unknown\r\n"
        b"\r\n--R\r\nContent-Type: message/rfc822\r\n\r\n" + plain + b"\r\n--R--\r\n"
    )
    # A prose bounce (Exim shape, no DSN part): the heuristic reader's path.
    prose = (
        b"Return-Path: <>\r\nFrom: Mail Delivery System <Mailer-Daemon@mail.example.net>\r\n"
        b"To: bounces@example.com\r\nSubject: Mail delivery failed\r\n"
        b"X-Failed-Recipients: gone@example.net\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=us-ascii\r\n\r\n"
        b"This message was created automatically by mail delivery software.\r\n\r\nA message"
        b" that you sent could not be delivered to one or more of its\r\nrecipients. This is a"
        b" permanent error. The following address(es) failed:\r\n\r\n  gone@example.net\r\n"
        b"    550 5.1.1 No such user\r\n\r\n------ This is a copy of the message, including"
        b" all the headers. ------\r\n\r\n" + plain
    )
    return [plain, plain, html_only, gbk, mixed, bounce, prose]


_MSO_P = (
    '<p class=MsoNormal><span style=\'font-size:11.0pt;font-family:"Calibri",sans-serif;'
    "color:#1F497D'>{}<o:p></o:p></span></p>\r\n"
)
_TICKET_LINES = (
    "The replacement unit was dispatched from the Rotterdam depot on Monday.",
    "Our technician could not reach the site because the loading bay was closed.",
    "Please confirm the delivery window &amp; the contact person on site.",
    "The invoice reference is INV-2024-0042; the credit note follows separately.",
    "We apologise for the delay &mdash; the carrier&#39;s system was down.",
    "Serial number: SN&nbsp;4471-AX-09, firmware 3.2.1, warranty until 2026.",
)


def _outlook_entry(i: int) -> str:
    """One answer in an Outlook HTML thread: header table, paragraphs, a signature."""
    paragraphs = "".join(
        _MSO_P.format(_TICKET_LINES[(i + k) % len(_TICKET_LINES)]) for k in range(5)
    )
    return (
        "<div style='border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm'>"
        f"<p class=MsoNormal><b><span lang=EN-US>From:</span></b><span lang=EN-US> Agent {i} "
        f"&lt;agent{i}@example.com&gt;<br><b>Sent:</b> Monday, 6 May 2024 {i % 24:02d}:15<br>"
        "<b>To:</b> Customer Name &lt;customer@example.org&gt;<br><b>Subject:</b> RE: "
        f"Ticket #{1000 + i}<o:p></o:p></span></p></div>\r\n"
        f"{paragraphs}"
        "<table class=MsoNormalTable border=0 cellspacing=0 cellpadding=0 "
        "style='border-collapse:collapse'><tr><td width=120 valign=top style='padding:0cm'>"
        f"<p class=MsoNormal><span style='font-size:9.0pt'>Agent {i}<o:p></o:p></span></p>"
        "</td><td valign=top style='padding:0cm'><p class=MsoNormal><span style='font-size:"
        "9.0pt'>Support | <a href=\"https://support.example.com/t/"
        f'{1000 + i}">support.example.com</a> | +31 10 000 00 {i % 100:02d}<o:p></o:p>'
        "</span></p></td></tr></table>\r\n"
    )


def html_heavy() -> list[bytes]:
    """HTML-only and HTML-led mail as help desks receive it (all text written here)."""
    style = (
        "<head><meta http-equiv=Content-Type content='text/html; charset=utf-8'>"
        "<style><!-- p.MsoNormal {margin:0cm; font-size:11.0pt; font-family:Calibri} "
        "a:link {color:#0563C1} --></style><!--[if gte mso 9]><xml><o:shapedefaults "
        "v:ext='edit' spidmax='1026' /></xml><![endif]--></head>"
    )
    history = "".join(_outlook_entry(i) for i in range(163))
    outlook = f"<html>{style}<body lang=EN-US link='#0563C1'><div class=WordSection1>{history}"
    outlook += "</div></body></html>"
    big = (
        _head("RE: Ticket #1000", "Content-Type: text/html; charset=utf-8\r\n\r\n")
        + outlook.encode()
    )
    cells = "".join(
        f"<tr><td style='padding:12px;font:14px Arial'><h2>Offer {i}</h2><p>{PARAGRAPH}</p>"
        f"<a href='https://shop.example.net/p/{i}'><img src='cid:p{i}' alt='Product {i}'></a>"
        "</td></tr>"
        for i in range(185)
    )
    newsletter = (
        _head("Our spring offers", "Content-Type: text/html; charset=utf-8\r\n\r\n")
        + f"<html><body><table width='600'>{cells}</table></body></html>".encode()
    )
    quoted = "".join(f"<p>{PARAGRAPH}</p>" for _ in range(6))
    reply_html = (
        f"<div dir='ltr'><p>Thanks, that solved it.</p><br><div class='gmail_quote'>"
        f"<div dir='ltr' class='gmail_attr'>On Mon, 6 May 2024 at 10:00, Support "
        f"&lt;support@example.com&gt; wrote:<br></div><blockquote class='gmail_quote' "
        f"style='margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204)'>{quoted}"
        f"<blockquote>{quoted}</blockquote></blockquote></div></div>"
    )
    reply = _head("Re: your order", 'Content-Type: multipart/alternative; boundary="A"\r\n\r\n')
    reply += (
        b"--A\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThanks, that solved it.\r\n"
        b"\r\n> " + PARAGRAPH.encode() * 6 + b"--A\r\nContent-Type: text/html; charset=utf-8"
        b"\r\n\r\n" + reply_html.encode() + b"\r\n--A--\r\n"
    )
    return [big, newsletter, reply, reply]


def reference(raw: bytes) -> None:
    msg = email.message_from_bytes(raw, policy=policy.default)
    for part in msg.walk():
        if not part.is_multipart():
            with contextlib.suppress(KeyError, LookupError, ValueError):
                part.get_content()  # type: ignore[attr-defined]


def mailgate(raw: bytes) -> None:
    parse_message(raw).to_json()


def pass_times(
    fns: list[Callable[[bytes], None]], messages: list[bytes], seconds: float
) -> list[list[float]]:
    """Seconds per pass through the set, for each function, passes interleaved.

    Alternating the functions pass by pass exposes both to the same machine load,
    and a pass is timed in this process's CPU time, not wall time, so the ratio
    stays meaningful on a busy machine.
    """
    for fn in fns:  # warm caches and imports
        for raw in messages:
            fn(raw)
    times: list[list[float]] = [[] for _ in fns]
    start = time.perf_counter()
    while time.perf_counter() - start < seconds * len(fns) or len(times[0]) < 5:
        for fn, out in zip(fns, times, strict=True):
            t0 = time.process_time()
            for raw in messages:
                fn(raw)
            out.append(time.process_time() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", type=Path)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--builtin", action="store_true", help="the built-in mixes, not DIR")
    args = parser.parse_args()
    folder = args.dir or CORPUS
    files = sorted(folder.rglob("*.eml")) if folder.is_dir() and not args.builtin else []
    if args.dir and not files:
        sys.exit(f"no .eml files under {args.dir}")
    mixes: list[tuple[str, list[bytes]]] = []
    if files:
        mixes.append((f"{len(files)} files under {folder}", [f.read_bytes() for f in files]))
    if not args.dir:
        small = generated()
        mixes.append(("the built-in mix", small))
        mixes.append(("the built-in HTML-heavy mix", small + html_heavy()))
    for source, messages in mixes:
        measure(source, messages, args.seconds, profile=args.profile)


def measure(source: str, messages: list[bytes], seconds: float, *, profile: bool) -> None:
    """Print mailgate's and the stdlib's rate over ``messages`` and their ratio."""
    size = sum(map(len, messages)) / len(messages)
    print(
        f"{len(messages)} messages from {source}, {size / 1024:.1f} KiB on average, "
        f"largest {max(map(len, messages)) / 1024:.0f} KiB"
    )
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(20):
            for raw in messages:
                mailgate(raw)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
    ours, theirs = pass_times([mailgate, reference], messages, seconds)
    n = len(messages)
    # Best pass: the least disturbed by other load; median: the typical one.
    for label, pick in (("best pass", min), ("median pass", statistics.median)):
        a, b = n / pick(ours), n / pick(theirs)
        print(
            f"{label:>11}: mailgate {a:8.0f} msg/s ({1e6 / a:6.0f} µs/msg), "
            f"stdlib {b:6.0f} msg/s ({1e6 / b:6.0f} µs/msg), ratio {a / b:.2f}x"
        )


if __name__ == "__main__":
    main()
