"""A real DNS server on 127.0.0.1 (UDP) whose answers a test controls, built on dnspython.

``records`` maps a name to its addresses (A and AAAA are told apart by the address);
a name may be changed between queries (DNS rebinding), or *held*: its queries wait
until the test releases them (a slow name server), each in its own thread so that
other names are answered at once. ``txt`` maps a name to its TXT strings (SPF,
DKIM keys, DMARC records); a string longer than 255 octets is sent in chunks.
Point mailgate at it with
``Settings.dns_resolver = dns_server.address`` (``MAILGATE_DNS_RESOLVER``).
"""

from __future__ import annotations

import ipaddress
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import dns.flags
import dns.message
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.rrset
import pytest

#: The longest a held query waits if a test never releases it (a safety net, not a
#: timing the tests rely on).
MAX_HOLD_SECONDS = 30.0


@dataclass
class DnsServer:
    address: tuple[str, int]
    records: dict[str, list[str]] = field(default_factory=dict)
    txt: dict[str, list[str]] = field(default_factory=dict)
    held: set[str] = field(default_factory=set)
    release: threading.Event = field(default_factory=threading.Event)
    queries: list[str] = field(default_factory=list)
    pending: int = 0
    changed: threading.Condition = field(default_factory=threading.Condition)

    def wait_pending(self, count: int, timeout: float = 30.0) -> bool:
        """Wait until at least ``count`` held queries are waiting for an answer."""
        with self.changed:
            return self.changed.wait_for(lambda: self.pending >= count, timeout)

    def answer(self, wire: bytes) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except Exception:  # not DNS: no answer, as a real server would drop it
            return None
        reply = dns.message.make_response(query)
        reply.flags |= dns.flags.AA
        question = query.question[0]
        name = question.name.to_text().rstrip(".").lower()
        with self.changed:
            self.queries.append(name)
        if name in self.held:
            with self.changed:
                self.pending += 1
                self.changed.notify_all()
            try:
                self.release.wait(MAX_HOLD_SECONDS)
            finally:
                with self.changed:
                    self.pending -= 1
                    self.changed.notify_all()
        addresses = self.records.get(name)
        texts = self.txt.get(name)
        if addresses is None and texts is None:
            reply.set_rcode(dns.rcode.NXDOMAIN)
            return reply.to_wire()
        want = question.rdtype
        if want == dns.rdatatype.TXT and texts:
            reply.answer.append(dns.rrset.from_rdata_list(question.name, 1, _txt(texts)))
        addresses = addresses or []
        found = [
            a
            for a in addresses
            if (ipaddress.ip_address(a).version == 4) == (want == dns.rdatatype.A)
        ]
        if want in (dns.rdatatype.A, dns.rdatatype.AAAA) and found:
            rrset = dns.rrset.from_text_list(
                question.name, 1, "IN", dns.rdatatype.to_text(want), found
            )
            reply.answer.append(rrset)
        return reply.to_wire()


def _txt(texts: list[str]) -> list[dns.rdata.Rdata]:
    """One TXT rdata per string, each cut into 255-octet chunks (RFC 1035 §3.3.14)."""
    out: list[dns.rdata.Rdata] = []
    for t in texts:
        raw = t.encode()
        chunks = [raw[i : i + 255] for i in range(0, len(raw), 255)] or [b""]
        out.append(dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, chunks))
    return out


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        data, sock = self.request
        out = self.server.dns.answer(data)
        if out is not None:
            sock.sendto(out, self.client_address)


class _Server(socketserver.ThreadingUDPServer):
    daemon_threads = True
    dns: DnsServer


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    udp = _Server(("127.0.0.1", 0), _Handler)
    udp.dns = DnsServer(address=("127.0.0.1", udp.server_address[1]))
    thread = threading.Thread(target=udp.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield udp.dns
    finally:
        udp.dns.release.set()
        udp.shutdown()
        thread.join(10)
        udp.server_close()
