"""The guard in front of every outgoing webhook (TRUST.md, "Security"): https only, and never
an address inside the server's own network.

A webhook URL is written by a user of retentio, so a request to it must not reach what only
the server can reach: loopback, private and shared networks, link-local addresses (where the
cloud metadata services live, 169.254.169.254), multicast, reserved and unspecified ones. The
host is resolved here and every address it resolves to is checked (one bad one refuses it),
including the forms that spell an internal address differently: ``127.1``, ``2130706433``,
``0x7f.0.0.1``, ``[::ffff:127.0.0.1]``, 6to4 and Teredo addresses that carry one. The request
is then made to the checked address itself (with the host name for TLS and ``Host``), so a
DNS answer that changes between the check and the connection (DNS rebinding) cannot move it.

``allowed`` networks (``RETENTIO_WEBHOOK_ALLOW_NETWORKS``) open a private range on purpose,
for a receiver on the shop's own network.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from retentio.core.errors import DataError

__all__ = ["Resolver", "SafeTarget", "UnsafeUrl", "check_url", "parse_networks"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
#: host, port -> the addresses it resolves to.
Resolver = Callable[[str, int], list[str]]


class UnsafeUrl(DataError):
    """A URL the server must not call: not https, or an address inside its own network."""


@dataclass(frozen=True, slots=True)
class SafeTarget:
    """A checked URL: connect to ``address``; ``host`` for TLS and the Host header."""

    url: str
    host: str
    port: int
    address: str
    path: str

    @property
    def connect_url(self) -> str:
        """The URL with the checked address in place of the host."""
        literal = f"[{self.address}]" if ":" in self.address else self.address
        return f"https://{literal}:{self.port}{self.path}"

    @property
    def host_header(self) -> str:
        return self.host if self.port == 443 else f"{self.host}:{self.port}"


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def parse_networks(text: str | Iterable[str] | None) -> tuple[Network, ...]:
    """Networks from ``"10.0.0.0/8, fd00::/8"`` (or a list); a DataError names a bad one."""
    if not text:
        return ()
    items = text.split(",") if isinstance(text, str) else list(text)
    networks: list[Network] = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise DataError(f"webhook allowed networks: not a network: {item!r}") from None
    return tuple(networks)


def _embedded(address: IPAddress) -> list[IPAddress]:
    """The address and any IPv4 address it carries (mapped, 6to4, Teredo, NAT64)."""
    found: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        for inner in (address.ipv4_mapped, address.sixtofour):
            if inner is not None:
                found.append(inner)
        if address.teredo is not None:
            found.extend(address.teredo)
        if address in ipaddress.ip_network("64:ff9b::/96"):
            found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def _refusal(address: IPAddress) -> str | None:
    for inner in reversed(_embedded(address)):  # the carried address first: the clearer reason
        if inner.is_loopback:
            return "a loopback address"
        if inner.is_link_local:
            return "a link-local address (cloud metadata lives there)"
        if inner.is_multicast or inner.is_unspecified or inner.is_reserved:
            return "a multicast, reserved or unspecified address"
        if inner.is_private or not inner.is_global:
            return "a private or internal address"
    return None


def check_url(
    url: str,
    *,
    allowed: tuple[Network, ...] = (),
    resolver: Resolver | None = None,
) -> SafeTarget:
    """``url`` checked and resolved, or an :class:`UnsafeUrl` saying why not."""
    try:
        parts = urlsplit(url)
        port = parts.port or 443
    except ValueError as exc:
        raise UnsafeUrl(f"webhook url: not a URL: {exc}") from None
    if parts.scheme != "https":
        raise UnsafeUrl(f"webhook url: https only, not {parts.scheme or 'no scheme'}://")
    if parts.username or parts.password:
        raise UnsafeUrl("webhook url: no user or password in the URL (use the signature)")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeUrl("webhook url: no host")
    try:
        addresses = (resolver or _system_resolver)(host, port)
    except (OSError, UnicodeError) as exc:
        raise UnsafeUrl(f"webhook url: cannot resolve {host!r}: {exc}") from None
    if not addresses:
        raise UnsafeUrl(f"webhook url: {host!r} resolves to no address")
    checked: list[IPAddress] = []
    for text in addresses:
        address = ipaddress.ip_address(text.split("%")[0])
        if not any(address in network for network in allowed):
            reason = _refusal(address)
            if reason is not None:
                raise UnsafeUrl(f"webhook url: {host!r} resolves to {address}, {reason}")
        checked.append(address)
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    return SafeTarget(url, host, port, str(checked[0]), path)
