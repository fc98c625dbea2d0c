"""Whether the gateway rate-limits, and whom a request counts against.

Limits protect a gateway that others reach; on a local run with keys off they would only
throttle its one user. So the choice is made once, at start, from the settings (keys, the
address the gateway is bound to), never from a request's peer address: behind a proxy every
peer is the proxy, and a peer on loopback says nothing about who else can connect.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from pydantic import IPvAnyNetwork

from geopin.settings import Settings


def rate_limits_on(settings: Settings) -> bool:
    """The explicit switch when set; otherwise on, unless keys are off on a loopback bind."""
    if settings.limits.enabled is not None:
        return settings.limits.enabled
    return settings.auth.enabled or not is_loopback(settings.limits.bind_host)


def is_loopback(host: str | None) -> bool:
    """Only this machine can connect to ``host``; None (not told) and names other than
    ``localhost`` count as reachable, since a name may resolve anywhere."""
    if host is None:
        return False
    host = host.strip("[]")  # gunicorn writes IPv6 hosts in brackets
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def client_address(
    peer: str | None, forwarded_for: Iterable[str], trusted: Sequence[IPvAnyNetwork]
) -> str:
    """The address a request counts against: its peer, or, while that peer is a trusted
    proxy, the hop before it in X-Forwarded-For.

    Each proxy appends the peer it saw, so the header is read from the right and only as far
    as trusted proxies wrote it: whatever a client puts in it itself sits further left.
    """
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()]
    address = peer or "unknown"
    while hops and _is_trusted(address, trusted):
        address = hops.pop()
    return address


def _is_trusted(address: str, trusted: Sequence[IPvAnyNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)
