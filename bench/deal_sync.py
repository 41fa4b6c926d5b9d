"""Deal read throughput: N deals (default 100,000) read back from the fake HubSpot within CRM search's own limit.

The fake holds N deals, each associated with a contact that booked; their last-modified times are spread over 60
days, so the read must split windows past search's 10,000-results cap. The read runs as `manage.py sync_deals`
does (search limiter at HUBSPOT_SEARCH_RATE_LIMIT, the shared 10-second limiter for everything). Reported: search
requests per second against the fake's search limit (the target: >= 90 % of it), deals kept (0 lost), 429s, and
the credit pass. Prints JSON and a verdict.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import bench_env, fresh_database, machine  # noqa: E402

DB = "sourcebook_bench_deals"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000, help="Deals in the fake HubSpot.")
    parser.add_argument("--search-limit", type=int, default=4, help="The fake's CRM search limit, requests per second.")
    parser.add_argument("--limiter", type=int, default=None,
                        help="HUBSPOT_SEARCH_RATE_LIMIT for the read (default: the project's setting).")
    parser.add_argument("--limit", type=int, default=100, help="The fake's burst limit, requests per 10 s.")
    parser.add_argument("--db", default=DB, help="Throwaway database (dropped and recreated).")
    parser.add_argument("--profile", action="store_true", help="Print the read's cProfile (top 30, cumulative).")
    args = parser.parse_args()

    # Its own Redis database: the rate limiters' windows live there, and another process drawing from the same
    # budget (a test run, another bench) would make this read wait for requests that are not its own.
    extra = {"HUBSPOT_ACCESS_TOKEN": "fake-token", "HUBSPOT_DEAL_READ_LAG_SECONDS": "0",
             "REDIS_URL": "redis://127.0.0.1:6379/15", "CELERY_BROKER_URL": "redis://127.0.0.1:6379/15"}
    if args.limiter is not None:
        extra["HUBSPOT_SEARCH_RATE_LIMIT"] = str(args.limiter)
    env = bench_env(args.db, **extra)
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
    fresh_database(args.db)
    from bench.load import load_bookings

    load_bookings(os.environ["DATABASE_URL"], args.n, days=120)
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    from fakes.hubspot import FakeConfig, FakeHubSpotServer
    from hubspot_sync.models import Deal
    from hubspot_sync.ratelimit import RateLimiter
    from hubspot_sync.services.deal_credit import deals_credit_all
    from hubspot_sync.services.deal_read import deals_read, search_limiter
    from hubspot_sync.services.sync import hubspot_client

    with connection.cursor() as cursor:  # one person per booking, synced to contact <id>
        cursor.execute("UPDATE bookings_booking SET email = 'b' || id || '@example.com', hubspot_contact_id = id::text")
        cursor.execute("SELECT id, booked_at FROM bookings_booking ORDER BY id")
        bookings = cursor.fetchall()
    server = FakeHubSpotServer(port=0, config=FakeConfig(rate_limit=args.limit, search_per_second=args.search_limit),
                               preset_properties=True).start()
    settings.HUBSPOT_API_URL = server.url
    start = (datetime.now(timezone.utc) - timedelta(days=61)).replace(microsecond=0)  # deals carry whole seconds
    for i, (booking_id, booked_at) in enumerate(bookings):
        modified = start + timedelta(seconds=i * 60 * 86400 / len(bookings))
        server.fake.deal_seed(contacts=[str(booking_id)], amount=str(1000 + i % 50 * 100), dealstage="closedwon",
                              deal_currency_code="USD", hs_is_closed_won="true", hs_is_closed="true",
                              createdate=(booked_at + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                              modified=modified.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
    RateLimiter().reset()
    search_limiter().reset()
    time.sleep(1.1)

    # Production's autovacuum analyzes the deal tables as they fill; this machine's PostgreSQL runs with
    # autovacuum off, so a thread does it (without it the planner keeps the empty tables' statistics and
    # scans every stored deal on each page).
    import threading

    import psycopg

    stop = threading.Event()

    def analyze():
        with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
            while not stop.wait(5):
                conn.execute("ANALYZE hubspot_sync_deal, hubspot_sync_dealcontact")

    analyzer = threading.Thread(target=analyze, daemon=True)
    analyzer.start()
    client = hubspot_client()
    client.before_search = search_limiter().acquire
    started = time.monotonic()
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    report = deals_read(client=client, since=start, until=datetime.now(timezone.utc),
                        progress=lambda r, up_to: print(f"  {time.monotonic() - started:6.1f}s up to {up_to:%Y-%m-%d %H:%M}: "
                                                         f"{r.seen} read, {r.kept} kept, {r.requests} requests", file=sys.stderr))
    read_seconds = time.monotonic() - started
    stop.set()
    if profiler:
        import pstats

        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(30)
    client.close()
    started = time.monotonic()
    changed = deals_credit_all()
    credit_seconds = time.monotonic() - started
    state = server.fake.state()
    server.stop()

    searches = sum(n for k, n in state["requests"].items() if "/deals/search " in k and k.endswith(" 200"))  # answered
    kept = Deal.objects.count()
    in_fake = len(state["deals"])
    credited = Deal.objects.exclude(last_booking=None).count()
    result = {
        "machine": machine(), "deals": args.n, "seconds": round(read_seconds, 1),
        "search_limit_per_s": args.search_limit, "search_limiter_per_s": settings.HUBSPOT_SEARCH_RATE_LIMIT,
        "searches": searches, "searches_per_s": round(searches / read_seconds, 2),
        "share_of_search_limit": round(searches / read_seconds / args.search_limit, 3),
        "deals_per_s": round(kept / read_seconds, 1), "windows": report.windows, "splits": report.splits,
        "requests": report.requests, "fake_requests": state["requests"], "rate_limited_429": report.rate_limited, "fake_throttled": state["throttled"],
        "in_fake": in_fake, "kept": kept, "lost": in_fake - kept, "credited": credited,
        "credit_pass_seconds": round(credit_seconds, 1), "credit_changed": changed,
    }
    print(json.dumps(result, indent=2))
    ok = result["lost"] == 0 and result["share_of_search_limit"] >= 0.9
    print(f"{'PASS' if ok else 'FAIL'}: {result['lost']} lost; {result['share_of_search_limit']:.0%} of the search limit "
          f"(target >= 90 %)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
