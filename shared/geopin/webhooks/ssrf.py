"""The SSRF guard: a callback URL may lead only to the public internet.

A client chooses the callback URL, and the notifier POSTs to it from inside our network, so an
unchecked URL would let anyone make us call a cloud metadata service (169.254.169.254), Redis
or Elasticsearch. Following OWASP's advice on SSRF (sources in docs/webhooks.md): only http and
https; the host is resolved once and every address it resolves to must be a global unicast
address; the notifier then connects to the address that was checked (see
:mod:`geopin.webhooks.http`), so a DNS answer that changes between the check and the connection
(DNS rebinding) cannot redirect it. Redirects are never followed.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

MAX_URL_LENGTH = 2048
_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")  # RFC 4193, IPv6's private networks


class CallbackRefused(ValueError):
    """The callback URL is not one GeoPin will call; ``str()`` says why, for the client."""


@dataclass(frozen=True)
class CallbackTarget:
    """A callback URL taken apart: what to connect to, and what to say in Host and SNI."""

    url: str
    scheme: str
    host: str  # IPv6 literals without brackets
    port: int
    path: str  # path and query, as sent in the request line


def parse_callback_url(url: str) -> CallbackTarget:
    """Refuse what the URL alone shows to be wrong: scheme, length, missing host, credentials."""
    if len(url) > MAX_URL_LENGTH:
        raise CallbackRefused(f"the callback URL is longer than {MAX_URL_LENGTH} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise CallbackRefused("the callback URL must start with http:// or https://")
    if not parts.hostname:
        raise CallbackRefused("the callback URL has no host")
    if parts.username is not None or parts.password is not None:
        raise CallbackRefused("the callback URL must not carry credentials")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise CallbackRefused("the callback URL's port is not a number from 0 to 65535") from exc
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return CallbackTarget(url, parts.scheme, parts.hostname, port, path)


def _address_class(address: IPAddress) -> str | None:
    """The first non-global class the address belongs to, or None for global unicast.

    NAT64 (64:ff9b::/96) falls under "reserved", and Teredo under "private", so neither can
    smuggle an IPv4 address past the check; 6to4 is global and is unpacked by the caller.
    """
    v6 = address if isinstance(address, ipaddress.IPv6Address) else None
    classes = [
        # A dual-stack socket sends ::ffff:a.b.c.d to a.b.c.d; no public host is named so.
        ("IPv4-mapped", v6 is not None and v6.ipv4_mapped is not None),
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unique-local", v6 is not None and v6 in _UNIQUE_LOCAL),
        ("site-local", v6 is not None and v6.is_site_local),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("not globally routable", not address.is_global),
    ]
    return next((name for name, member in classes if member), None)


def address_refusal(address: IPAddress) -> str | None:
    """Why no callback may go to ``address`` (e.g. "loopback"), or None when it may."""
    reason = _address_class(address)
    inner = address.sixtofour if isinstance(address, ipaddress.IPv6Address) else None
    if reason is None and inner is not None:
        inner_reason = _address_class(inner)
        if inner_reason is not None:
            return f"{inner_reason} (6to4 for {inner})"
    return reason


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host``, in its order of preference."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class SsrfGuard:
    """Resolves a callback's host once and lets it through only to global addresses.

    ``allow`` exempts networks from the rule; it exists for tests that need a receiver on
    loopback (``GEOPIN_WEBHOOKS__INSECURE_ALLOW_NETWORKS``) and is empty in production.
    """

    def __init__(
        self, resolver: Resolver = system_resolver, allow: Sequence[IPNetwork] = ()
    ) -> None:
        self._resolve = resolver
        self._allow = tuple(allow)

    def check(self, url: str) -> tuple[CallbackTarget, list[IPAddress]]:
        """The URL's target and the checked addresses to connect to; CallbackRefused if any is bad.

        Every address must pass, not just one: a name answering with a public and a private
        address would otherwise reach the private one whenever the public one is down.
        """
        target = parse_callback_url(url)
        try:
            answers = self._resolve(target.host, target.port)
        except (OSError, UnicodeError) as exc:
            raise CallbackRefused(f"the callback host {target.host!r} does not resolve") from exc
        if not answers:
            raise CallbackRefused(f"the callback host {target.host!r} does not resolve")
        addresses = [ipaddress.ip_address(answer.split("%")[0]) for answer in answers]
        for address in addresses:
            if any(address in network for network in self._allow):
                continue
            reason = address_refusal(address)
            if reason is not None:
                raise CallbackRefused(
                    f"the callback host {target.host!r} resolves to {address}, a {reason} "
                    "address; callbacks go only to public internet addresses"
                )
        return target, addresses
