"""OpenDKIM's verifier (``opendkim-testmsg``) against keys a real DNS server serves.

``opendkim-testmsg`` has no resolver option: it asks the system resolver, on port
53. So each check runs in a private network and mount namespace (``unshare``):
loopback up, ``/etc/resolv.conf`` bind-mounted to ``nameserver 127.0.0.1``, and
Knot DNS answering the test's zone on 127.0.0.1:53 inside. Nothing leaves the
namespace and the host's resolver is untouched (REAL-SERVERS.md, "DNS on loopback").
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers.authdns import KNOTD, ZONE, knot_config

TESTMSG = shutil.which("opendkim-testmsg") or "/usr/sbin/opendkim-testmsg"
UNSHARE = shutil.which("unshare") or "/usr/bin/unshare"


# Runs inside the namespace. The DNS wait uses dnspython from the test's interpreter.
SCRIPT = """\
set -eu
ip link set lo up
mount --bind "$DIR/resolv.conf" /etc/resolv.conf
"$KNOTD" -c "$DIR/knot.conf" 2>"$DIR/knot.log" &
knot=$!
"$PY" -c '
import sys, time, dns.message, dns.query
q = dns.message.make_query("test.", "SOA")
for _ in range(500):
    try:
        dns.query.udp(q, "127.0.0.1", port=53, timeout=0.1); sys.exit(0)
    except Exception:
        time.sleep(0.02)
sys.exit("knotd did not answer")
'
status=0
"$TESTMSG" -t "$DIR" <"$DIR/message" >"$DIR/out" 2>&1 || status=$?
kill "$knot"
wait "$knot" || true
exit $status
"""


#: Root makes the namespaces directly; anyone else through a user namespace (-r).
NAMESPACES = ["-n", "-m"] if os.geteuid() == 0 else ["-r", "-n", "-m"]


@dataclass(frozen=True)
class Verdict:
    ok: bool
    output: str


def verify(message: bytes, zone_lines: list[str]) -> Verdict:
    """Run ``opendkim-testmsg`` on ``message`` with ``zone_lines`` served for ``test.``."""
    tmp = Path(tempfile.mkdtemp(prefix="mailgate-opendkim-"))
    try:
        (tmp / "db").mkdir()
        (tmp / "knot.conf").write_text(knot_config(tmp, 53))
        zone = [
            f"$ORIGIN {ZONE}.",
            "$TTL 60",
            f"@ SOA ns.{ZONE}. hostmaster.{ZONE}. 1 3600 600 86400 60",
            f"@ NS ns.{ZONE}.",
            "ns A 127.0.0.1",
            *zone_lines,
            "",
        ]
        (tmp / f"{ZONE}.zone").write_text("\n".join(zone))
        (tmp / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:2 attempts:1\n")
        (tmp / "message").write_bytes(message)
        env = {
            **os.environ,
            "DIR": str(tmp),
            "KNOTD": KNOTD,
            "TESTMSG": TESTMSG,
            "PY": sys.executable,
        }
        proc = subprocess.run(
            [UNSHARE, *NAMESPACES, "sh", "-c", SCRIPT],
            env=env,
            capture_output=True,
            timeout=60,
        )
        out = (tmp / "out").read_text() if (tmp / "out").exists() else ""
        if proc.returncode != 0 and not out:  # the harness failed, not the verification
            knot = (tmp / "knot.log").read_text() if (tmp / "knot.log").exists() else ""
            raise RuntimeError(
                f"the namespace run failed ({proc.returncode}): {proc.stderr.decode()} {knot}"
            )
        return Verdict(proc.returncode == 0 and not out.strip(), out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def opendkim() -> Iterator[Callable[[bytes, list[str]], Verdict]]:
    """``opendkim(message, zone_lines)``: OpenDKIM's verdict, DNS from a private Knot."""
    for tool, package in ((TESTMSG, "opendkim-tools"), (KNOTD, "knot")):
        if not Path(tool).exists():
            pytest.fail(f"{tool} is missing: run scripts/system-packages.sh (package {package})")
    probe = subprocess.run([UNSHARE, *NAMESPACES, "true"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(
            f"cannot make a private network namespace here (unshare {' '.join(NAMESPACES)}: "
            f"{probe.stderr.decode().strip()}): OpenDKIM needs its own port 53"
        )
    yield verify
