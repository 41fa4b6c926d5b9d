"""Report API latency at 1M bookings (or 10M: `--db` a copy of the 10M load with `--reuse`): breakdown and
timeseries, 90-day and all-time windows.

Server time measured in-process through the real URLs (Django test client, DRF, selectors,
PostgreSQL). Target: p95 < 150 ms at 1M bookings.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import bench_env, fresh_database, machine, percentile  # noqa: E402

DB = "sourcebook_bench_report"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--reuse", action="store_true", help="Keep/reuse the loaded database (skip loading).")
    parser.add_argument("--db", default=DB, help="bench database (e.g. a copy of the 10M load, with --reuse)")
    args = parser.parse_args()

    os.environ.update(bench_env(args.db))
    os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
    if not args.reuse:
        fresh_database(args.db)
        from bench.load import load_bookings

        seconds = load_bookings(os.environ["DATABASE_URL"], args.n)
        print(f"loaded {args.n:,} bookings in {seconds:.1f}s", file=sys.stderr)
    import django

    django.setup()
    from attribution.rollup import rollup_compact

    started = time.monotonic()
    rollup_compact()  # what beat does every 10 s; deltas from the bulk load fold in here
    print(f"rollup compaction {time.monotonic() - started:.1f}s", file=sys.stderr)
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client

    user, _ = User.objects.get_or_create(username="bench", defaults={"is_superuser": True, "is_staff": True})
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    today = date.today()
    since90 = today - timedelta(days=90)
    cases = {
        "breakdown channel 90d": f"/api/reports/breakdown/?group_by=channel&booked_after={since90}",
        "breakdown ch/src/med/camp 90d": f"/api/reports/breakdown/?group_by=channel,source,medium,campaign&booked_after={since90}",
        "breakdown channel all-time": "/api/reports/breakdown/?group_by=channel",
        "breakdown ch/src/med/camp all-time": "/api/reports/breakdown/?group_by=channel,source,medium,campaign",
        "timeseries day/channel 90d": f"/api/reports/timeseries/?interval=day&group_by=channel&booked_after={since90}",
        "timeseries month/channel all-time": "/api/reports/timeseries/?interval=month&group_by=channel",
    }
    results = {}
    for name, url in cases.items():
        client.get(url)  # warm
        times = []
        statements = []
        with connection.execute_wrapper(lambda execute, sql, params, many, context: statements.append(sql) or execute(sql, params, many, context)):
            client.get(url)
        for _ in range(args.repeat):
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.content[:200]
        results[name] = {"p50_ms": round(percentile(times, 50), 1), "p95_ms": round(percentile(times, 95), 1),
                         "queries": len(statements)}
    print(json.dumps({"machine": machine(), "bookings": args.n, "results": results}, indent=2))
    worst = max(r["p95_ms"] for r in results.values())
    print(f"worst p95 {worst} ms — target < 150 ms: {'met' if worst < 150 else 'missed'}")
    if not args.reuse:
        pass  # keep for --reuse runs; `dropdb sourcebook_bench_report` to clean up
    return 0


if __name__ == "__main__":
    sys.exit(main())
