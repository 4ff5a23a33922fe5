"""Messages per second for mailgate's compose against the stdlib ways of building mail.

Run: ``.venv/bin/python benchmarks/compose.py`` (add ``--seconds N`` to measure longer).
All three build the same ~5 KB text+html message with a Chinese subject and names.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email import policy
from email.header import Header
from email.message import EmailMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, make_msgid

from mailgate.core.compose import compose
from mailgate.core.message import Address, Draft

WHEN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SUBJECT = "关于您的订单 #20240501 的回复 — Re: your order"
PARAGRAPH = (
    "Thank you for contacting our support team. We have looked into your order and "
    "the parcel left our warehouse this morning; you will receive a tracking number soon.\n"
)
TEXT = "您好，张先生：\n\n" + PARAGRAPH * 13 + "\n此致\n客服团队\n"
HTML = "<html><body><p>您好，张先生：</p>" + f"<p>{PARAGRAPH}</p>" * 13 + "<p>此致<br>客服团队</p>"
DRAFT = Draft(
    from_=Address("客服团队", "support@example.com"),
    to=[Address("张伟", "zhang.wei@example.cn")],
    cc=[Address("Li Na", "li.na@example.org")],
    reply_to=[Address("", "reply+t0k3n@example.com")],
    subject=SUBJECT,
    text=TEXT,
    html=HTML,
    headers={"X-Mailer": "mailgate"},
)


def with_mailgate() -> bytes:
    return compose(DRAFT, domain="example.com", date=WHEN).raw


def with_email_message() -> bytes:
    msg = EmailMessage(policy=policy.default)
    msg["Date"] = format_datetime(WHEN)
    msg["From"] = formataddr(("客服团队", "support@example.com"))
    msg["To"] = formataddr(("张伟", "zhang.wei@example.cn"))
    msg["Cc"] = formataddr(("Li Na", "li.na@example.org"))
    msg["Reply-To"] = "reply+t0k3n@example.com"
    msg["Subject"] = SUBJECT
    msg["Message-ID"] = make_msgid(domain="example.com")
    msg["X-Mailer"] = "mailgate"
    msg.set_content(TEXT)
    msg.add_alternative(HTML, subtype="html")
    return msg.as_bytes(policy=policy.SMTP)


def with_mime_compat32() -> bytes:
    msg = MIMEMultipart("alternative")
    msg["Date"] = format_datetime(WHEN)
    msg["From"] = formataddr(("客服团队", "support@example.com"), charset="utf-8")
    msg["To"] = formataddr(("张伟", "zhang.wei@example.cn"), charset="utf-8")
    msg["Cc"] = formataddr(("Li Na", "li.na@example.org"))
    msg["Reply-To"] = "reply+t0k3n@example.com"
    msg["Subject"] = Header(SUBJECT, "utf-8")
    msg["Message-ID"] = make_msgid(domain="example.com")
    msg["X-Mailer"] = "mailgate"
    msg.attach(MIMEText(TEXT, "plain", "utf-8"))
    msg.attach(MIMEText(HTML, "html", "utf-8"))
    return msg.as_bytes()


def rate(build: Callable[[], bytes], seconds: float) -> float:
    """Messages per second over at least ``seconds`` of wall time (after a warm-up)."""
    for _ in range(20):
        build()
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(50):
            build()
        count += 50
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per candidate")
    args = parser.parse_args()
    size = len(with_mailgate())
    print(f"message: text+html, {size} bytes as composed by mailgate")
    ours = rate(with_mailgate, args.seconds)
    reference = rate(with_email_message, args.seconds)
    compat = rate(with_mime_compat32, args.seconds)
    print(f"mailgate compose                    {ours:10.0f} msg/s")
    print(f"EmailMessage(policy=default)        {reference:10.0f} msg/s  (reference)")
    print(f"email.mime + compat32               {compat:10.0f} msg/s")
    print(f"ratio mailgate / EmailMessage       {ours / reference:10.1f}x")
    print(f"ratio mailgate / email.mime compat  {ours / compat:10.1f}x")


if __name__ == "__main__":
    main()
