"""One rate limit shared by every worker: a sliding window in Redis, plus a shared "blocked until".

HubSpot counts requests per app over a rolling 10 s window; all Celery workers draw from
the same budget here, and a 429's Retry-After pauses all of them at once.
"""

from __future__ import annotations

import random
import time
import uuid

import redis
from django.conf import settings

_ACQUIRE = """
local blocked = redis.call('PTTL', KEYS[2])
if blocked > 0 then return blocked end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""


class RateLimiter:
    def __init__(self, *, name: str = "hubspot", limit: int | None = None, window_seconds: float | None = None,
                 client: redis.Redis | None = None):
        self.redis = client or redis.Redis.from_url(settings.REDIS_URL)
        self.limit = limit or settings.HUBSPOT_RATE_LIMIT
        self.window_ms = int((window_seconds or settings.HUBSPOT_RATE_WINDOW_SECONDS) * 1000)
        self.keys = [f"sourcebook:ratelimit:{name}", f"sourcebook:ratelimit:{name}:blocked"]
        self._script = self.redis.register_script(_ACQUIRE)
        self.waited_seconds = 0.0

    def try_acquire(self) -> float:
        """0 when a request may go now, else milliseconds to wait."""
        return float(self._script(keys=self.keys, args=[self.window_ms, self.limit, uuid.uuid4().hex]))

    def acquire(self, *, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            wait_ms = self.try_acquire()
            if wait_ms <= 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError("rate limiter: no HubSpot budget within the timeout")
            pause = wait_ms / 1000 + random.uniform(0, 0.05)
            self.waited_seconds += pause
            time.sleep(pause)

    def block(self, seconds: float) -> None:
        """A 429 pauses every worker, not just the one that got it."""
        self.redis.set(self.keys[1], "1", px=max(1, int(seconds * 1000)))

    def reset(self) -> None:
        self.redis.delete(*self.keys)


def backoff_seconds(attempts: int, *, base: float = 1.0) -> float:
    """How long to wait before trying HubSpot again after `attempts` failures: `base` × 2^attempts, capped at
    HUBSPOT_RETRY_MAX_SECONDS, with jitter (half to all of it) so retries of many rows don't arrive together.
    The one backoff of the outbox, the GDPR-erasure outbox and the deal read."""
    return min(settings.HUBSPOT_RETRY_MAX_SECONDS, base * 2 ** attempts) * random.uniform(0.5, 1.0)
