"""Money in reports at scale: N bookings (default 1M; 10M: `--db` a copy of the 10M load with `--reuse`) and
N/10 HubSpot deals credited to them, through the real URLs (Django test client, views, selectors, PostgreSQL).

Deals are inserted in bulk (one per sampled booking, created 1-30 days after it, 40 % won, 25 % lost, one in ten in
EUR), then credited by the project's own pass (`deals_credit_all`, timed; its daily money rollup deltas folded in
by `money_compact`, timed). Target: p95 < 100 ms for 90 days.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import machine  # noqa: E402
from bench.pages import pages_database, pages_time  # noqa: E402

DB = "sourcebook_bench_money"


def seed_deals(share: float) -> dict:
    """One deal for a `share` of the countable bookings (deterministic sample), with its contact."""
    from django.db import connection

    from hubspot_sync.services.deal_credit import deals_credit_all
    from hubspot_sync.services.money_rollup import money_compact

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM hubspot_sync_deal")
        if cursor.fetchone()[0]:
            return {"reused": True}
        started = time.monotonic()
        cursor.execute(f"""
            INSERT INTO hubspot_sync_deal (hubspot_id, name, amount, currency, stage, pipeline, closed_won, closed_lost,
                                           created_at, owner_id, archived, modified_at, read_at)
            SELECT 'B' || id, 'bench deal', 1000 + (id % 50) * 500, CASE WHEN id % 10 = 0 THEN 'EUR' ELSE 'USD' END,
                   CASE WHEN id % 20 < 8 THEN 'closedwon' WHEN id % 20 < 13 THEN 'closedlost' ELSE 'contractsent' END,
                   'default', id % 20 < 8, id % 20 >= 8 AND id % 20 < 13,
                   booked_at + ((1 + id % 30) || ' days')::interval, '', false, now(), now()
            FROM bookings_booking
            WHERE NOT rescheduled AND booked_at IS NOT NULL AND email <> '' AND abs(hashtext(id::text) % 1000) < {int(share * 1000)}
        """)
        cursor.execute("""
            INSERT INTO hubspot_sync_dealcontact (deal_id, hubspot_contact_id, email)
            SELECT d.id, b.id::text, b.email FROM hubspot_sync_deal d JOIN bookings_booking b ON 'B' || b.id = d.hubspot_id
        """)
        inserted = time.monotonic() - started
    started = time.monotonic()
    last_print = [0.0]

    def progress(last, changed):
        if time.monotonic() - last_print[0] > 10:
            last_print[0] = time.monotonic()
            print(f"  credit pass: up to deal {last:,}, {changed:,} credited", file=sys.stderr)

    credited = deals_credit_all(batch=20_000, progress=progress)
    credit_seconds = time.monotonic() - started
    started = time.monotonic()
    money_compact()  # as beat does every 10 s: the credit pass's rollup deltas folded in
    compact_seconds = time.monotonic() - started
    connection.ensure_connection()
    connection.connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE hubspot_sync_deal, hubspot_sync_dealcontact, hubspot_sync_dealcredit, "
                       "hubspot_sync_moneystat, hubspot_sync_moneystatdelta")
        cursor.execute("SELECT count(*) FROM hubspot_sync_deal")
        deals = cursor.fetchone()[0]
    return {"deals": deals, "insert_seconds": round(inserted, 1), "credited": credited,
            "credit_pass_seconds": round(credit_seconds, 1), "money_compact_seconds": round(compact_seconds, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--deal-share", type=float, default=0.1, help="Share of countable bookings that get a deal.")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--db", default=DB, help="bench database (e.g. a copy of the 10M load, with --reuse)")
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    pages_database(n=args.n, reuse=args.reuse, db=args.db)
    seeded = seed_deals(args.deal_share)
    print(json.dumps({"seeded": seeded}), file=sys.stderr)
    from django.contrib.auth.models import User
    from django.test import Client

    from bookings.models import Booking
    from hubspot_sync.models import Deal

    user, _ = User.objects.get_or_create(username="bench-money", defaults={"is_superuser": True, "is_staff": True})
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    since90 = date.today() - timedelta(days=90)
    api = "/api/reports/breakdown/"
    cases = {
        "dashboard 90 days (with money)": "/dashboard/?range=90d",
        "dashboard by campaign, last month with comparison (with money)": "/dashboard/?dim=campaign&range=last_month&compare=previous",
        "API revenue by channel, 90 days": f"{api}?metric=revenue&group_by=channel&booked_after={since90}",
        "API pipeline by campaign, 90 days": f"{api}?metric=pipeline&group_by=campaign&booked_after={since90}",
        "API deals by channel, 90 days, first_touch": f"{api}?metric=deals&group_by=channel&model=first_touch&booked_after={since90}",
        "API revenue by channel, all time": f"{api}?metric=revenue&group_by=channel",
    }
    results = pages_time({name: (lambda u=u: client.get(u)) for name, u in cases.items()}, repeat=args.repeat,
                         only=args.only)
    print(json.dumps({"machine": machine(), "bookings": Booking.objects.count(), "deals": Deal.objects.count(),
                      "seeded": seeded, "results": results}, indent=2))
    for name, r in results.items():
        if "90 days" in name or "last month" in name:
            print(f"{name}: p95 {r['p95_ms']} ms, target < 100 ms: {'met' if r['p95_ms'] < 100 else 'missed'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
