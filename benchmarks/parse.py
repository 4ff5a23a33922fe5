"""Messages per second for mailgate's parser against the stdlib's default-policy parse.

Run: ``.venv/bin/python benchmarks/parse.py [DIR]`` — every ``*.eml`` under DIR
(default ``tests/corpus/`` when it holds any), else a built-in mix of plain,
HTML-only, GBK Chinese, multipart-with-attachments and bounce messages (also with
``--builtin``). ``--seconds N`` measures longer; ``--profile`` prints where mailgate's time goes.

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
    parser.add_argument("--builtin", action="store_true", help="the built-in mix, not DIR")
    args = parser.parse_args()
    folder = args.dir or CORPUS
    files = sorted(folder.rglob("*.eml")) if folder.is_dir() and not args.builtin else []
    if args.dir and not files:
        sys.exit(f"no .eml files under {args.dir}")
    messages = [f.read_bytes() for f in files] or generated()
    source = f"{len(files)} files under {folder}" if files else "the built-in mix"
    size = sum(map(len, messages)) / len(messages)
    print(f"{len(messages)} messages from {source}, {size / 1024:.1f} KiB on average")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(20):
            for raw in messages:
                mailgate(raw)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
    ours, theirs = pass_times([mailgate, reference], messages, args.seconds)
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
