"""DKIM signing speed: mailgate's signer against dkimpy's, RSA-2048, in the same run.

    .venv/bin/python benchmarks/dkim.py [--seconds 3]

Both sign the same ~5 KB message (relaxed/relaxed, the same headers) with the same
RSA-2048 key, one signature after another on one thread, for ``--seconds`` each.
mailgate's key is loaded once, as the worker caches it per key id; dkimpy is given
the PEM each time, as its API takes it. Prints signatures per second and the ratio
(goal: at least 8×), plus Ed25519 for information. Every signature mailgate makes
here is first checked to verify in dkimpy.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# This file is dkim.py too: drop its directory from the path so `import dkim` is dkimpy.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT / "src"))

import dkim  # noqa: E402

from mailgate.domains.dkim import ED25519, RSA, new_key_pair  # noqa: E402
from mailgate.outbound import dkim_sign  # noqa: E402

DOMAIN = "news.acme.example"


def message() -> bytes:
    line = "The quick brown fox jumps over the lazy dog; invoice and order details follow.\r\n"
    head = (
        f"From: Bench <bench@{DOMAIN}>\r\n"
        "To: Customer <customer@example.net>\r\n"
        "Subject: =?utf-8?b?5oKo55qE6K6i5Y2V?= 42\r\n"
        "Date: Mon, 30 Nov 2026 09:00:00 +0000\r\n"
        f"Message-ID: <bench-1@{DOMAIN}>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
    )
    return (head + "Hello customer,\r\n\r\n" + line * 64).encode()


def rate(fn: Callable[[], object], seconds: float) -> float:
    fn()  # warm up
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        fn()
        count += 1
    return count / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="per signer")
    args = ap.parse_args()
    msg = message()
    pem, public = new_key_pair(RSA)
    key = dkim_sign.load_key(DOMAIN, "mg1", RSA, pem.encode())
    record = f"v=DKIM1; k=rsa; p={public}".encode()

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name.decode().rstrip(".") == f"mg1._domainkey.{DOMAIN}" else None

    ours = dkim_sign.sign(msg, [key])
    if not dkim.verify(ours, dnsfunc=dnsfunc):
        raise SystemExit("mailgate's signature does not verify in dkimpy: not benchmarking it")
    headers = [h.encode() for h in dkim_sign.SIGNED_HEADERS if h.encode() + b":" in msg.lower()]
    headers.append(b"from")  # the same over-signed From as mailgate's

    def dkimpy_sign() -> bytes:
        return dkim.sign(
            msg,
            b"mg1",
            DOMAIN.encode(),
            pem.encode(),
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=headers,
        )

    theirs = dkimpy_sign()
    if not dkim.verify(theirs + msg, dnsfunc=dnsfunc):
        raise SystemExit("dkimpy's own signature does not verify: check the set-up")

    mailgate_rate = rate(lambda: dkim_sign.sign(msg, [key]), args.seconds)
    dkimpy_rate = rate(dkimpy_sign, args.seconds)
    ed_pem, _ = new_key_pair(ED25519)
    ed_key = dkim_sign.load_key(DOMAIN, "ed1", ED25519, ed_pem.encode())
    ed_rate = rate(lambda: dkim_sign.sign(msg, [ed_key]), args.seconds / 3)
    both_rate = rate(lambda: dkim_sign.sign(msg, [key, ed_key]), args.seconds / 3)
    print(
        json.dumps(
            {
                "message_bytes": len(msg),
                "mailgate_rsa2048_sigs_per_s": round(mailgate_rate, 1),
                "dkimpy_rsa2048_sigs_per_s": round(dkimpy_rate, 1),
                "ratio": round(mailgate_rate / dkimpy_rate, 2),
                "mailgate_ed25519_sigs_per_s": round(ed_rate, 1),
                "mailgate_rsa_plus_ed25519_msgs_per_s": round(both_rate, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
