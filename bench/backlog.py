"""(direct) backlog and hygiene server time at 1M / 10M bookings: p50/p95 and queries per page (issue 14).

Loads N bookings into `--db` (default: a fresh `sourcebook_bench_backlog`), or with `--reuse` points at an existing
bench database — e.g. a copy of the shared 10M one (never this benchmark's own migrations on the shared one):

    createdb -T sourcebook_bench_10m sourcebook_bench_10m_backlog
    python bench/backlog.py --reuse --db sourcebook_bench_10m_backlog

Targets at 10M: backlog p95 < 150 ms, hygiene p95 < 200 ms; a fixed number of queries per page.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import machine  # noqa: E402
from bench.pages import pages_database, pages_time  # noqa: E402

TARGETS_MS = {"direct backlog": 150, "hygiene": 200}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--reuse", action="store_true", help="use --db as it is (migrated first), don't load")
    parser.add_argument("--db", default="sourcebook_bench_backlog")
    args = parser.parse_args()
    pages_database(n=args.n, reuse=args.reuse, db=args.db)
    from django.contrib.auth.models import User
    from django.test import Client
    from django.utils import timezone

    from bookings.models import Booking

    user, _ = User.objects.get_or_create(username="bench-backlog", defaults={"is_superuser": True, "is_staff": True})
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    last_month = (timezone.localdate().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    cases = {
        "direct backlog (no period: last 30 days)": "/dashboard/direct/",
        "direct backlog, 90 days": "/dashboard/direct/?range=90d",
        "direct backlog, all time": "/dashboard/direct/?range=all",
        "direct backlog, all time, page 40": "/dashboard/direct/?range=all&page=40",
        "direct backlog, all time, event type + month": f"/dashboard/direct/?range=all&event_type=Intro+call&month={last_month}",
        "hygiene": "/dashboard/hygiene/",
    }
    # The preview of assigning a page of 50 untagged bookings (POST; nothing moves until a confirm).
    ids = list(Booking.objects.filter(channel="Direct", rescheduled=False).order_by("-booked_at", "-id")
               .values_list("pk", flat=True)[:50])
    preview = {"booking": [str(i) for i in ids], "source": "newsletter", "channel": "Email"}
    cases["direct backlog: preview assigning 50 (POST)"] = "/dashboard/direct/?range=all"
    results = pages_time({name: (lambda n=name, u=url: client.post(u, preview) if "POST" in n else client.get(u))
                          for name, url in cases.items()}, repeat=args.repeat)
    print(json.dumps({"machine": machine(), "bookings": Booking.objects.count(), "results": results}, indent=2))
    for name, result in results.items():
        target = next((ms for prefix, ms in TARGETS_MS.items() if name.startswith(prefix)), None)
        print(f"{name}: p95 {result['p95_ms']} ms (target < {target} ms: {'met' if result['p95_ms'] < target else 'MISSED'}),"
              f" {result['queries']} queries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
