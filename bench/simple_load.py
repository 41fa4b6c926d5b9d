"""A small signed-webhook load generator (aiohttp in its own process), shared by comparison benchmarks."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import random
import time
from datetime import datetime, timedelta, timezone

KEY = "bench-key"


def build_requests(n: int, seed: int = 1) -> tuple[list[bytes], dict]:
    """~85% created, ~10% cancels of earlier invitees, ~5% no-shows; all distinct invitees for creates."""
    from bookings import calendly
    from bookings.samples import encode, invitee_payload

    rng = random.Random(seed)
    utms = [{"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "brand_202611"},
            {"utm_source": "linkedin", "utm_medium": "paid_social", "utm_campaign": "launch_202611"},
            {"utm_source": "newsletter", "utm_medium": "email"}, {"utm_source": "chatgpt.com", "utm_medium": "referral"}, {}]
    bodies, created, canceled = [], [], set()
    now = datetime.now(timezone.utc)
    for i in range(n):
        roll = rng.random()
        if created and roll < 0.10:
            invitee = rng.choice(created)
            bodies.append(encode(invitee_payload(event=calendly.INVITEE_CANCELED, invitee_id=invitee, booked_at=now,
                                                 updated_at=now + timedelta(hours=1))))
            canceled.add(invitee)
        elif created and roll < 0.15:
            invitee = rng.choice(created)
            bodies.append(encode(invitee_payload(event=calendly.NO_SHOW_CREATED, invitee_id=invitee, booked_at=now,
                                                 occurred_at=now + timedelta(days=2))))
        else:
            invitee = f"bench-{i}"
            created.append(invitee)
            bodies.append(encode(invitee_payload(invitee_id=invitee, email=f"p{i}@example.com", booked_at=now,
                                                 tracking=rng.choice(utms))))
    return bodies, {"created": created, "canceled": sorted(canceled)}


def _load(url: str, bodies: list[bytes], concurrency: int, queue) -> None:
    """Runs in its own process: sign at send time, post, record latency."""
    import aiohttp

    from bookings.samples import signed_headers

    async def main():
        latencies, statuses = [], {}
        pending = iter(bodies)
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            async def worker():
                for body in pending:
                    headers = signed_headers(body, key=KEY)
                    started = time.perf_counter()
                    async with session.post(f"{url}/webhooks/calendly/", data=body, headers=headers) as response:
                        await response.read()
                    latencies.append(time.perf_counter() - started)
                    statuses[response.status] = statuses.get(response.status, 0) + 1

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - started
        queue.put({"latencies": latencies, "statuses": statuses, "elapsed": elapsed})

    asyncio.run(main())


def run_load(url: str, bodies: list[bytes], concurrency: int) -> dict:
    queue = mp.get_context("spawn").Queue()
    proc = mp.get_context("spawn").Process(target=_load, args=(url, bodies, concurrency, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result
