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
from collections.abc import Iterable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from typing import Any, Protocol

import dns.exception
import dns.resolver

from mailgate.core.netpolicy import IPNetwork, parse_ip_literal, parse_networks, refusal
from mailgate.errors import Forbidden

__all__ = [
    "NetGuard",
    "NetworkRefused",
    "ResolveFailed",
    "approve_host",
    "policy_message",
    "require_allowed",
    "target",
]


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
        # One try for the whole time: a slow server is waited for, not asked again.
        resolver.timeout = resolver.lifetime = self.dns_timeout
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


# -- saving: who may choose which host ------------------------------------------------------
#
# The rule (DESIGN.md, "Tenancy, roles and trust"): a workspace key may only name hosts
# the policy allows. Only an operator may point a workspace's SMTP transport, IMAP/POP3
# source or webhook anywhere else; the row then remembers ``private_network`` so that
# the connect-time check lets it through. A workspace key that changes the host clears
# that approval. Saving checks what it can (a literal in any notation, the name's DNS
# answer now); the connect-time check is the one that counts.


class Approvable(Protocol):
    private_network: bool


def target(config: Mapping[str, Any]) -> str | None:
    """What a host-bearing config connects to: host, port and security, or None."""
    if not config.get("host"):
        return None
    return f"{config.get('host')}|{config.get('port')}|{config.get('security')}"


def approve_host(
    row: Approvable,
    *,
    before: str | None,
    after: str | None,
    host: str | None,
    field: str,
    operator: bool,
    guard: NetGuard | None,
    creating: bool,
) -> None:
    """Record who chose the target on ``row``; a workspace's refused host is 403 naming ``field``.

    ``before`` and ``after`` are what the row connects to before and after the
    save (:func:`target`, or a webhook's URL; None for kinds that connect nowhere),
    ``host`` the host to check. Any change by a workspace key — host, port,
    security, path — clears an operator's approval: an operator who allowed
    ``10.0.0.5:25`` did not allow ``10.0.0.5:6379``. ``guard`` is the installation's
    policy; without one only an operator's choice is recorded and nothing is
    refused here.
    """
    changed = creating or (after or None) != (before or None)
    if not changed:
        return  # the same target as before: whoever chose it, that stands
    if operator:
        row.private_network = after is not None
        return
    row.private_network = False
    if host and guard is not None:
        require_allowed(guard, host, field)


def require_allowed(guard: NetGuard, host: str, field: str) -> None:
    """403 naming ``field`` when ``host`` is, or now resolves to, a refused address."""
    reason = guard.literal_refusal(host)
    if reason is None and parse_ip_literal(host) is None:
        try:
            guard.check(host, 0)
        except ResolveFailed:
            pass  # it may not exist yet: connecting checks again, every time
        except NetworkRefused as exc:
            reason = exc.reason
    if reason is not None:
        raise Forbidden(
            f"{field}: {policy_message(host, reason)}; only an operator key may choose it",
            field=field,
        )
