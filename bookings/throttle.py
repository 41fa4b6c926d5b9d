"""How many rejected webhook deliveries one client may leave with us: a one-minute window in Redis.

Only rejections ask (a correctly signed delivery never costs a Redis round trip, and is never
refused). The client is `project.clientip.client_ip` (trusted proxies only); IPv6 clients count
per /64, the block one subscriber usually holds.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time

import redis
from django.conf import settings

logger = logging.getLogger("sourcebook.intake")
WINDOW_SECONDS = 60
_clients: dict[str, redis.Redis] = {}


def _redis() -> redis.Redis:
    url = settings.REDIS_URL
    if url not in _clients:
        # Short timeouts: a slow Redis must not hold a web worker; the limiter then lets the row through.
        _clients[url] = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
    return _clients[url]


def _client_key(client_ip: str | None) -> str:
    if not client_ip:
        return "unknown"
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return "unknown"
    if address.version == 6:
        if address.ipv4_mapped:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def rejection_throttle(*, client_ip: str | None, now: float | None = None) -> int:
    """0 when this client's rejected delivery may be stored, else seconds until it may send again.

    Each call counts one rejection. Redis unreachable = allowed (the stored body is capped anyway)."""
    limit = settings.WEBHOOK_REJECT_RATE_LIMIT
    if limit <= 0:
        return 0
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    key = f"sourcebook:webhook-rejects:{_client_key(client_ip)}:{window}"
    try:
        pipe = _redis().pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, WINDOW_SECONDS * 2)
        count, _ = pipe.execute()
    except redis.RedisError as exc:
        logger.warning("webhook rejection limiter unavailable, not throttling: %s", exc)
        return 0
    if count <= limit:
        return 0
    return max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))


def rejection_throttle_reset() -> None:
    """Forget every client's count (tests, or an operator unblocking a client after a key fix)."""
    client = _redis()
    keys = list(client.scan_iter("sourcebook:webhook-rejects:*", count=500))
    if keys:
        client.delete(*keys)
