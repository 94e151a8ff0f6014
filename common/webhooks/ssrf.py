"""SSRF guard for callback URLs: resolve the host, refuse internal addresses, return what to connect to.

Refused always: multicast, unspecified, reserved, cloud metadata (169.254.169.254, fd00:ec2::254, ...),
link-local, NAT64 (64:ff9b::/96, 64:ff9b:1::/48), 6to4 (2002::/16) and Teredo (2001::/32) — the last three
embed an IPv4 address the network translates, so they could reach anything. Refused unless
``allow_private`` (on-premises use): loopback, RFC 1918 / ULA private ranges, CGNAT (100.64.0.0/10) and other
non-global unicast. IPv4-mapped IPv6 (``::ffff:a.b.c.d``) is judged as its IPv4 address. Every resolved
address must pass, so a name that resolves to one public and one internal address is refused.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from common.errors import InvalidRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]

_METADATA = tuple(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)
_TRANSLATED = tuple(
    ipaddress.ip_network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "2001::/32")
)


class UnsafeUrl(InvalidRequest):
    code = "unsafe_callback_url"


@dataclass(frozen=True, slots=True)
class Target:
    """A checked callback: connect to ``address``:``port``, send ``Host: host`` (and SNI for https)."""

    scheme: str
    host: str
    port: int
    path: str
    address: str


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def refusal(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why ``address`` may not be called back, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return refusal(address.ipv4_mapped, allow_private=allow_private)
    if address in _METADATA:
        return "a cloud metadata address"
    if isinstance(address, ipaddress.IPv6Address) and any(address in net for net in _TRANSLATED):
        return "a NAT64/6to4/Teredo address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_loopback:
        return None if allow_private else "a loopback address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_global or allow_private:
        return None
    return "a private address"


def check_url(url: str, *, allow_private: bool, resolver: Resolver = system_resolver) -> Target:
    """Parse and resolve ``url``; ``UnsafeUrl`` unless it is http(s) and every address it has is allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeUrl("callback_url must be an absolute http(s) URL", param="callback_url")
    if parts.username or parts.password:
        raise UnsafeUrl("callback_url must not carry credentials", param="callback_url")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as e:
        raise UnsafeUrl(f"callback_url has an invalid port: {e}", param="callback_url") from e
    host = parts.hostname
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            addresses = [ipaddress.ip_address(a.split("%")[0]) for a in resolver(host, port)]
        except (OSError, UnicodeError, ValueError) as e:
            raise UnsafeUrl(f"callback_url host {host!r} does not resolve: {e}", param="callback_url") from e
    if not addresses:
        raise UnsafeUrl(f"callback_url host {host!r} does not resolve", param="callback_url")
    for address in addresses:
        if (why := refusal(address, allow_private=allow_private)) is not None:
            raise UnsafeUrl(f"callback_url resolves to {address}, {why}", param="callback_url")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme=parts.scheme, host=host, port=port, path=path, address=str(addresses[0]))
