"""The client's IP address, as far as our own proxies vouch for it.

One rule for every caller (webhook rejection throttle, the /metrics allow-list, journey IP
handling): `X-Forwarded-For` is read only as far back as the trusted proxies we run ourselves.
A header anyone can send never decides who a client is.

Settings (environment):
- `TRUSTED_PROXY_COUNT` (default 0): how many proxies of ours sit in front of gunicorn. With N,
  the client is the N-th address from the right of `X-Forwarded-For`.
- `TRUSTED_PROXIES` (default empty): addresses or networks of our proxies. When the peer is one
  of them, addresses in `X-Forwarded-For` are skipped from the right while they are ours too.
With neither set, the client is the TCP peer (`REMOTE_ADDR`).
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings


@lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in proxies if p.strip())


def _valid(value: str) -> str | None:
    value = value.strip()
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def _trusted(address: str | None, networks) -> bool:
    if not address or not networks:
        return False
    ip = ipaddress.ip_address(address)
    return any(ip in net for net in networks)


def client_ip_from(*, remote_addr: str | None, forwarded_for: str | None, proxy_count: int = 0,
                   proxies: tuple[str, ...] = ()) -> str | None:
    """Pure function behind `client_ip` (tested with hypothesis)."""
    peer = _valid(remote_addr or "")
    hops = [h for h in (forwarded_for or "").split(",") if h.strip()]
    if proxy_count > 0:
        if len(hops) < proxy_count:
            return peer  # not through all our proxies: the peer is the best we know
        return _valid(hops[-proxy_count]) or peer
    networks = _networks(tuple(proxies))
    if networks and _trusted(peer, networks):
        client = peer
        for hop in reversed(hops):
            address = _valid(hop)
            if address is None:
                break
            client = address
            if not _trusted(address, networks):
                break
        return client
    return peer


def client_ip(request) -> str | None:
    """The client address for `request` under the trusted-proxy settings."""
    return client_ip_from(
        remote_addr=request.META.get("REMOTE_ADDR"),
        forwarded_for=request.META.get("HTTP_X_FORWARDED_FOR"),
        proxy_count=settings.TRUSTED_PROXY_COUNT,
        proxies=tuple(settings.TRUSTED_PROXIES),
    )
