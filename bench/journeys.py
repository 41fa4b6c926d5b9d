"""Journey reads at scale: a person's journey at 5M touches, and (once bookings carry journey attribution) the
report breakdown under each attribution model at 1M bookings x 5M touches.

    .venv/bin/python bench/journeys.py [--bookings 1000000] [--touches 5000000] [--reuse] [--repeat 200]

1. Loads 1M bookings (bench/load.py, as bench/report.py) into `sourcebook_bench_journeys`; 40 % of them get a
   visitor id (`sbv_…`), as a site with the snippet would give them.
2. COPYs 5M touches: 45 % belong to people who booked (about 5 per booker, in the 90 days before the
   booking), 55 % to visitors who never booked; channels, UTMs, landing paths and referrers vary.
3. Times, in-process through the real URLs (Django test client, DRF, selectors, PostgreSQL):
   `GET /api/journeys/?email=` for random bookers (target p95 < 20 ms), `?visitor_id=`, and
   `GET /api/reports/breakdown/` under every `model=` the API accepts (target p95 < 150 ms).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import machine, percentile  # noqa: E402
from bench.load import million_booking_database  # noqa: E402

DB = "sourcebook_bench_journeys"
TOUCH_MIX = [  # (weight, source, medium, campaign, channel, referrer host, click ids)
    (30, "", "", "", "Direct", "", {}),
    (15, "google", "cpc", "brand_202611", "Paid Search", "www.google.com", {"gclid": "x"}),
    (12, "", "", "", "Organic Search", "www.google.com", {}),
    (10, "linkedin", "paid_social", "launch_202611", "Paid Social", "www.linkedin.com", {"li_fat_id": "x"}),
    (8, "", "", "", "Organic Social", "www.linkedin.com", {}),
    (8, "newsletter", "email", "weekly_202611", "Email", "", {}),
    (6, "", "", "", "AI Assistants", "chatgpt.com", {}),
    (6, "", "", "", "Referral", "g2.com", {}),
    (5, "facebook", "paid_social", "retarget_202609", "Paid Social", "m.facebook.com", {"fbclid": "x"}),
]
PATHS = ["/", "/blog/attribution-101", "/blog/calendly-utms", "/pricing", "/demo", "/customers", "/features"]


def visitor_id(n: int) -> str:
    return f"sbv_{n:022d}"


def load_touches(dsn: str, touches: int, *, seed: int = 11) -> tuple[float, int]:
    """Give 40 % of the bookings a visitor id and COPY `touches` touches; returns (seconds, bookers)."""
    import psycopg

    rng = random.Random(seed)
    started = time.monotonic()
    now = datetime.now(timezone.utc)
    weights = [w for w, *_ in TOUCH_MIX]
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("UPDATE bookings_booking SET visitor_id = 'sbv_' || lpad(id::text, 22, '0') WHERE id % 5 < 2")
        cur.execute("SELECT id, booked_at FROM bookings_booking WHERE id % 5 < 2")
        bookers = cur.fetchall()
        anonymous_base = 10 ** 12
        with cur.copy("COPY journeys_touch (visitor_id, at, kind, source, medium, campaign, content, term, click_ids,"
                      " referrer_host, landing_path, channel, ip_hash) FROM STDIN") as copy:
            for i in range(touches):
                if rng.random() < 0.45:
                    booking_id, booked_at = bookers[rng.randrange(len(bookers))]
                    vid, at = visitor_id(booking_id), booked_at - timedelta(days=90 * rng.random())
                else:
                    vid = visitor_id(anonymous_base + rng.randrange(touches // 3))
                    at = now - timedelta(days=730 * rng.random())
                _, source, medium, campaign, channel, referrer, clicks = rng.choices(TOUCH_MIX, weights)[0]
                copy.write_row((vid, at, "session" if rng.random() < 0.7 else "pageview", source, medium, campaign, "",
                                "", json.dumps(clicks), referrer, rng.choice(PATHS), channel, ""))
        cur.execute("ANALYZE journeys_touch")
        conn.commit()
    journey_columns_derive(dsn)
    return time.monotonic() - started, len(bookers)


def journey_columns_derive(dsn: str) -> None:
    """What the fold writes for a booking with a visitor id, set-based (re-folding 400k bookings one by one
    would take an hour): first touch and last non-direct touch in the 90 days before booking, the count, and
    `attributed_by='journey'` with the touch's values where the booking itself was untagged."""
    import psycopg

    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("""
            WITH w AS (
                SELECT b.id, t.at, t.source, t.medium, t.campaign, t.channel, t.landing_path
                FROM bookings_booking b JOIN journeys_touch t ON t.visitor_id = b.visitor_id
                 AND t.at <= b.booked_at AND t.at >= b.booked_at - interval '90 days'
                WHERE b.visitor_id <> ''
            ), f AS (SELECT DISTINCT ON (id) * FROM w ORDER BY id, at),
            l AS (SELECT DISTINCT ON (id) * FROM w WHERE channel <> 'Direct' ORDER BY id, at DESC),
            n AS (SELECT id, count(*) AS c FROM w GROUP BY id)
            UPDATE bookings_booking b SET
                first_touch_source = f.source, first_touch_medium = f.medium, first_touch_campaign = f.campaign,
                first_touch_channel = f.channel, first_touch_at = f.at, first_touch_landing_path = f.landing_path,
                last_touch_source = coalesce(l.source, ''), last_touch_medium = coalesce(l.medium, ''),
                last_touch_campaign = coalesce(l.campaign, ''), last_touch_channel = coalesce(l.channel, ''),
                last_touch_at = l.at, touch_count = n.c
            FROM f JOIN n USING (id) LEFT JOIN l USING (id) WHERE b.id = f.id""")
        cur.execute("""
            UPDATE bookings_booking SET attributed_by = 'journey', source = last_touch_source,
                medium = last_touch_medium, campaign = last_touch_campaign, channel = last_touch_channel
            WHERE channel = 'Direct' AND last_touch_channel <> ''""")
        conn.commit()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE bookings_booking")


def timed(client, url: str, repeat: int) -> dict:
    client.get(url)  # warm
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code, response.content[:200])
    return {"p50_ms": round(percentile(times, 50), 1), "p95_ms": round(percentile(times, 95), 1),
            "p99_ms": round(percentile(times, 99), 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bookings", type=int, default=1_000_000)
    parser.add_argument("--touches", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=200, help="journey lookups timed (default 200)")
    parser.add_argument("--reuse", action="store_true", help="reuse the loaded database")
    parser.add_argument("--derive", action="store_true", help="with --reuse: derive the journey columns again")
    args = parser.parse_args()

    million_booking_database(n=args.bookings, reuse=args.reuse, db=DB)
    if args.reuse and args.derive:
        started = time.monotonic()
        journey_columns_derive(os.environ["DATABASE_URL"])
        print(f"journey columns derived in {time.monotonic() - started:.0f}s", file=sys.stderr)
    if not args.reuse:
        seconds, bookers = load_touches(os.environ["DATABASE_URL"], args.touches)
        print(f"loaded {args.touches:,} touches ({bookers:,} bookers with a visitor id) in {seconds:.0f}s", file=sys.stderr)
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.test import Client

    from attribution.rollup import rollup_compact
    from bookings.models import Booking

    rollup_compact()
    user, _ = User.objects.get_or_create(username="bench", defaults={"is_superuser": True, "is_staff": True})
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    ids = list(Booking.objects.exclude(visitor_id="").order_by("?").values_list("email", "visitor_id")[:args.repeat])
    lookups = {}
    for name, key in (("journey by email", 0), ("journey by visitor id", 1)):
        times = []
        for row in ids:
            param = "email" if key == 0 else "visitor_id"
            started = time.perf_counter()
            response = client.get("/api/journeys/", {param: row[key]})
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.content[:200]
        lookups[name] = {"p50_ms": round(percentile(times, 50), 1), "p95_ms": round(percentile(times, 95), 1),
                         "p99_ms": round(percentile(times, 99), 1), "n": len(times)}
    since90 = date.today() - timedelta(days=90)
    breakdowns = {}
    for model in ("booking", "first_touch", "last_non_direct"):
        url = f"/api/reports/breakdown/?group_by=channel&booked_after={since90}&model={model}"
        probe = client.get(url)
        if probe.status_code == 400 and model != "booking":
            breakdowns[model] = "not supported by this version"
            continue
        breakdowns[f"{model} 90d"] = timed(client, url, 30)
        breakdowns[f"{model} all-time"] = timed(client, f"/api/reports/breakdown/?group_by=channel&model={model}", 30)
    report = {"machine": machine(), "bookings": args.bookings, "touches": args.touches, "lookups": lookups,
              "breakdowns": breakdowns}
    print(json.dumps(report, indent=2))
    lookup_p95 = max(r["p95_ms"] for r in lookups.values())
    timed_breakdowns = [r["p95_ms"] for r in breakdowns.values() if isinstance(r, dict)]
    print(f"journey lookup worst p95 {lookup_p95} ms — target < 20 ms: {'met' if lookup_p95 < 20 else 'missed'}")
    if timed_breakdowns:
        worst = max(timed_breakdowns)
        print(f"breakdown worst p95 {worst} ms — target < 150 ms: {'met' if worst < 150 else 'missed'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
