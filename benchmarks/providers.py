"""HTTP provider transport overhead: MailgunTransport.deliver vs a bare httpx POST.

    .venv/bin/python benchmarks/providers.py [--messages 2000] [--concurrency 8]

Starts the Mailgun double (tests/servers/mailgun_double.py) on loopback and sends
N messages of two recipients through ``MailgunTransport`` (network-policy check
of every request, multipart build, answer parsed into per-recipient results),
then the same N requests with a bare ``httpx.AsyncClient`` (reference), both with
the same concurrency in the same run. Prints messages/s of each and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers.httpdouble import serve
from tests.servers.mailgun_double import MailgunDouble

from mailgate.core.netpolicy import parse_networks
from mailgate.outbound.base import Envelope
from mailgate.outbound.netguard import NetGuard
from mailgate.outbound.registry import build_transport

RAW = (
    b"From: bench@mg.ppmessage.example\r\nTo: a@example.net, b@example.net\r\n"
    b"Subject: bench\r\nMessage-ID: <bench@mg.ppmessage.example>\r\n\r\n" + b"x" * 2000 + b"\r\n"
)
ENV = Envelope("bench@mg.ppmessage.example", ("a@example.net", "b@example.net"))


async def through_transport(url: str, key: str, n: int, conc: int) -> float:
    guard = NetGuard(allowed=parse_networks(("127.0.0.0/8",)))
    config = {"domain": "mg.ppmessage.example", "api_key": key, "base_url": url}
    transport = build_transport("mailgun", config, guard=guard)
    slots = asyncio.Semaphore(conc)

    async def one() -> None:
        async with slots:
            result = await transport.deliver(ENV, RAW)
            assert result.recipients[0].accepted, result.recipients[0].text

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    elapsed = time.perf_counter() - start
    await transport.close()
    return n / elapsed


async def bare(url: str, key: str, n: int, conc: int) -> float:
    slots = asyncio.Semaphore(conc)
    async with httpx.AsyncClient(timeout=30) as client:

        async def one() -> None:
            async with slots:
                r = await client.post(
                    f"{url}/v3/mg.ppmessage.example/messages.mime",
                    data={"to": list(ENV.recipients)},
                    files=[("message", ("message.mime", RAW, "message/rfc822"))],
                    auth=("api", key),
                )
                assert r.status_code == 200

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    double = MailgunDouble()
    with serve(double.app()) as url:
        ours = asyncio.run(through_transport(url, double.api_key, args.messages, args.concurrency))
        ref = asyncio.run(bare(url, double.api_key, args.messages, args.concurrency))
    print(f"MailgunTransport: {ours:.0f} msg/s; bare httpx POST (reference): {ref:.0f} msg/s; "
          f"ratio {ours / ref:.2f}")


if __name__ == "__main__":
    main()
