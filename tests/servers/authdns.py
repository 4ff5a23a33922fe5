"""A real authoritative DNS server (Knot DNS) on 127.0.0.1 and a free port, zone from the test.

The test writes the records (zone-file lines, relative to the zone ``test.``) with
:meth:`AuthDns.publish`; each publish rewrites the zone file with a higher serial
and has knotd reload it through its control socket, so a test can remove a record
between two checks. Point mailgate at it with ``Settings.dns_resolver =
authdns.address`` (``MAILGATE_DNS_RESOLVER``). knotd runs in its own session in a
temporary directory and is stopped by its process id.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import pytest

from tests.helpers import wait_for
from tests.servers.postgres import free_port
from tests.servers.smtpsink import stop_process_group

ZONE = "test"
KNOTD = shutil.which("knotd") or "/usr/sbin/knotd"
KNOTC = shutil.which("knotc") or "/usr/sbin/knotc"

CONFIG = """\
server:
    rundir: "{dir}"
    listen: 127.0.0.1@{port}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
control:
    listen: "{dir}/knot.sock"
database:
    storage: "{dir}/db"
log:
  - target: stderr
    any: warning
template:
  - id: default
    storage: "{dir}"
    file: "%s.zone"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
  - domain: {zone}.
"""


def knot_config(directory: Path, port: int) -> str:
    """knotd's configuration: zone ``test.`` from ``directory``, on 127.0.0.1:``port``."""
    return CONFIG.format(dir=directory, port=port, zone=ZONE)


@dataclass
class AuthDns:
    address: tuple[str, int]
    dir: Path
    serial: int = 1
    lines: list[str] = field(default_factory=list)

    def _write(self) -> None:
        zone = "\n".join(
            [
                f"$ORIGIN {ZONE}.",
                "$TTL 60",
                f"@ SOA ns.{ZONE}. hostmaster.{ZONE}. {self.serial} 3600 600 86400 60",
                f"@ NS ns.{ZONE}.",
                "ns A 127.0.0.1",
                *self.lines,
                "",
            ]
        )
        (self.dir / f"{ZONE}.zone").write_text(zone)

    def publish(self, *lines: str) -> None:
        """Serve exactly these records (zone-file lines) from now on."""
        self.lines = list(lines)
        self.serial += 1
        self._write()
        subprocess.run(
            [KNOTC, "-s", str(self.dir / "knot.sock"), "-b", "zone-reload", f"{ZONE}."],
            check=True,
            capture_output=True,
            timeout=30,
        )
        wait_for(lambda: self.soa_serial() == self.serial, what="knotd to load the new zone")

    def soa_serial(self) -> int | None:
        query = dns.message.make_query(f"{ZONE}.", "SOA")
        try:
            reply = dns.query.udp(query, self.address[0], port=self.address[1], timeout=0.2)
        except (dns.exception.Timeout, OSError):
            return None
        if reply.rcode() != dns.rcode.NOERROR or not reply.answer:
            return None
        return int(reply.answer[0][0].serial)


@pytest.fixture
def authdns() -> Iterator[AuthDns]:
    if not Path(KNOTD).exists():
        pytest.fail("knotd is missing: run scripts/system-packages.sh (Debian package knot)")
    tmp = Path(tempfile.mkdtemp(prefix="mailgate-knot-"))
    (tmp / "db").mkdir()
    port = free_port()
    server = AuthDns(address=("127.0.0.1", port), dir=tmp)
    server._write()
    (tmp / "knot.conf").write_text(knot_config(tmp, port))
    proc = subprocess.Popen(
        [KNOTD, "-c", str(tmp / "knot.conf")],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(
            lambda: proc.poll() is not None or server.soa_serial() == server.serial,
            what="knotd to answer",
        )
        if proc.poll() is not None:
            raise RuntimeError(
                f"knotd exited: {proc.stderr.read().decode() if proc.stderr else ''}"
            )
        yield server
    finally:
        stop_process_group(proc)
        if proc.stderr is not None:
            proc.stderr.close()
        shutil.rmtree(tmp, ignore_errors=True)
