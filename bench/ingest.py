"""Ingest benchmark: N signed deliveries against the app under gunicorn, from a separate process.

Prints deliveries/s, latency percentiles, and checks the bookings table holds every one (0 lost).
Target on a 2-core machine, load generator included: >= 500 deliveries/s, p99 < 50 ms, 0 lost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

from bench.harness import drop_database, fresh_database, gunicorn, machine, percentile  # noqa: E402

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


def verify(db: str, expected: dict, sent: int) -> dict:
    import psycopg

    with psycopg.connect(f"postgres://postgres@127.0.0.1:5432/{db}") as conn:
        stored = conn.execute("SELECT count(*) FROM bookings_webhookdelivery").fetchone()[0]
        processed = conn.execute("SELECT count(*) FROM bookings_webhookdelivery WHERE state = 'processed'").fetchone()[0]
        uris = {r[0] for r in conn.execute("SELECT invitee_uri FROM bookings_booking")}
        canceled = {r[0] for r in conn.execute("SELECT invitee_uri FROM bookings_booking WHERE status = 'canceled'")}
    uri = "https://api.calendly.com/scheduled_events/EV-{0}/invitees/{0}".format
    missing = [i for i in expected["created"] if uri(i) not in uris]
    wrong_cancel = [i for i in expected["canceled"] if uri(i) not in canceled]
    return {"stored": stored, "processed": processed, "lost_deliveries": sent - stored,
            "missing_bookings": len(missing), "cancel_not_applied": len(wrong_cancel)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--worker-class", default="gthread", choices=["gthread", "sync"])
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    import django

    django.setup()
    db = "sourcebook_bench_ingest"
    fresh_database(db)
    bodies, expected = build_requests(args.n)
    try:
        with gunicorn(db, workers=args.workers, threads=args.threads, worker_class=args.worker_class) as url:
            run_load(url, bodies[:200], args.concurrency)  # warm-up (connections, imports); counted in verify
            result = run_load(url, bodies[200:], args.concurrency)
        lat = [x * 1000 for x in result["latencies"]]
        check = verify(db, expected, sent=len(bodies))
        rate = len(lat) / result["elapsed"]
        report = {
            "machine": machine(), "n": len(lat), "concurrency": args.concurrency,
            "gunicorn": f"{args.workers} {args.worker_class} workers" + (f" x {args.threads} threads" if args.worker_class == "gthread" else ""),
            "deliveries_per_s": round(rate, 1), "p50_ms": round(percentile(lat, 50), 1),
            "p95_ms": round(percentile(lat, 95), 1), "p99_ms": round(percentile(lat, 99), 1),
            "max_ms": round(max(lat), 1), "statuses": result["statuses"], **check,
        }
        print(json.dumps(report, indent=2))
        ok = check["lost_deliveries"] == 0 and check["missing_bookings"] == 0 and check["cancel_not_applied"] == 0
        target = rate >= 500 and report["p99_ms"] < 50
        print(f"{'PASS' if ok else 'FAIL'} 0 lost; target >=500/s & p99<50ms: {'met' if target else 'missed'}")
        return 0 if ok else 1
    finally:
        if not args.keep_db:
            drop_database(db)


if __name__ == "__main__":
    sys.exit(main())
