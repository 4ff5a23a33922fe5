"""Resolve a host, check every address against the network policy, connect to that address.

The policy itself is pure (:mod:`mailgate.core.netpolicy`); this module does the
I/O around it for every place mailgate connects to a host a workspace chose: the
SMTP transport, the IMAP and POP3 pollers, webhook deliveries. It lives in
``outbound/`` because that is the lowest layer all of them may import.

The check happens when connecting, not only when saving: a name that resolved to
a public address yesterday may resolve to ``127.0.0.1`` today (DNS rebinding).
So the name is resolved once, *every* address it has is checked (one refused
address refuses the host: the resolver's order is not ours to trust), and the
socket is opened to a checked address, never to the name again. TLS still
verifies the certificate against the name (callers pass it as SNI / server name).

Resolution uses the operating system (``getaddrinfo``), or the DNS server of
``MAILGATE_DNS_RESOLVER`` through dnspython. Both block: async callers run them in
their own subsystem's executor, so a slow name server only holds that subsystem's
threads (``mailgate.store.executors``).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from typing import Any

import dns.exception
import dns.resolver

from mailgate.core.netpolicy import IPNetwork, parse_ip_literal, parse_networks, refusal

__all__ = ["NetGuard", "NetworkRefused", "ResolveFailed", "policy_message"]


class NetworkRefused(Exception):
    """The host is (or resolves to) an address this caller may not reach.

    ``stage`` is ``"policy"``. The message says which host and what kind of
    address, never anything a connection would have told (nothing was connected).
    """

    stage = "policy"

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(policy_message(host, reason))
        self.host = host
        self.reason = reason


class ResolveFailed(Exception):
    """The name did not resolve (``stage`` is ``"dns"``)."""

    stage = "dns"

    def __init__(self, host: str) -> None:
        super().__init__(f"cannot resolve {host}")
        self.host = host


def policy_message(host: str, reason: str) -> str:
    return (
        f"{host} is a {reason} address, which a workspace may not reach "
        "(the operator can allow the network with MAILGATE_ALLOW_PRIVATE_NETWORKS)"
    )


@dataclass(frozen=True, slots=True)
class NetGuard:
    """The network policy plus how to resolve names: one per caller's trust level.

    ``unrestricted`` is the operator's (system transports, hosts an operator saved):
    names are still resolved and connected by address, but nothing is refused.
    """

    allowed: tuple[IPNetwork, ...] = ()
    unrestricted: bool = False
    nameserver: tuple[str, int] | None = None
    dns_timeout: float = 10.0

    @classmethod
    def from_settings(cls, settings: Any) -> NetGuard:
        """Built from ``config.Settings`` (allowed networks, ``MAILGATE_DNS_RESOLVER``)."""
        return cls(
            allowed=parse_networks(settings.allow_private_networks),
            nameserver=settings.dns_resolver,
        )

    def trusting(self, trusted: bool = True) -> NetGuard:
        """This guard, unrestricted when ``trusted`` (an operator chose the host)."""
        return replace(self, unrestricted=True) if trusted else self

    # -- pure ---------------------------------------------------------------------

    def literal_refusal(self, host: str) -> str | None:
        """Why a host written as an address (any notation) is refused; None for names."""
        ip = parse_ip_literal(host)
        if ip is None or self.unrestricted:
            return None
        return refusal(ip, self.allowed)

    # -- blocking -----------------------------------------------------------------

    def resolve(self, host: str, port: int) -> list[str]:
        """Every address of ``host`` (an address literal in any notation is itself)."""
        literal = parse_ip_literal(host)
        if literal is not None:
            return [str(literal).split("%", 1)[0] if literal.version == 6 else str(literal)]
        if self.nameserver is not None:
            return self._resolve_dns(host)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            raise ResolveFailed(host) from None
        return _unique(str(info[4][0]) for info in infos)

    def _resolve_dns(self, host: str) -> list[str]:
        assert self.nameserver is not None
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [self.nameserver[0]]
        resolver.port = self.nameserver[1]
        resolver.lifetime = self.dns_timeout
        found: list[str] = []
        for rdtype in ("A", "AAAA"):
            try:
                answer = resolver.resolve(host, rdtype, search=False)
            except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
                continue
            except dns.exception.DNSException:
                raise ResolveFailed(host) from None
            found.extend(str(r) for r in answer)
        if not found:
            raise ResolveFailed(host)
        return _unique(found)

    def check(self, host: str, port: int) -> list[str]:
        """Resolve ``host`` and check every address; the addresses to connect to.

        Raises :class:`NetworkRefused` when any address is refused, and
        :class:`ResolveFailed` when the name does not resolve.
        """
        addresses = self.resolve(host, port)
        if not self.unrestricted:
            for address in addresses:
                ip = parse_ip_literal(address)
                reason = "reserved" if ip is None else refusal(ip, self.allowed)
                if reason is not None:
                    raise NetworkRefused(host, reason)
        return addresses

    def connect(self, host: str, port: int, timeout: float | None) -> socket.socket:
        """A connected blocking socket to a checked address of ``host`` (pollers)."""
        last: OSError | None = None
        for address in self.check(host, port):
            try:
                return socket.create_connection((address, port), timeout)
            except OSError as exc:
                last = exc
        raise last or OSError(f"no address to connect to for {host}")

    # -- async --------------------------------------------------------------------

    async def acheck(self, host: str, port: int, executor: Executor | None) -> list[str]:
        """:meth:`check` in ``executor`` (the caller subsystem's, never the shared one)."""
        if parse_ip_literal(host) is not None:
            return self.check(host, port)  # nothing to look up
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, self.check, host, port)

    async def aconnect(
        self, host: str, port: int, *, timeout: float | None, executor: Executor | None
    ) -> socket.socket:
        """A connected non-blocking socket to a checked address of ``host``."""
        loop = asyncio.get_running_loop()
        last: OSError | None = None
        for address in await self.acheck(host, port, executor):
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                async with asyncio.timeout(timeout):
                    await loop.sock_connect(sock, (address, port))
            except OSError as exc:  # TimeoutError is one too
                sock.close()
                last = exc
                continue
            except BaseException:
                sock.close()
                raise
            return sock
        raise last or OSError(f"no address to connect to for {host}")


def _unique(values: Iterable[str]) -> list[str]:
    out: list[str] = []
    for value in values:
        if value not in out:
            out.append(value)
    return out
