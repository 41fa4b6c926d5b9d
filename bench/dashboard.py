"""Dashboard and sales admin server time at 1M (or --n) bookings: p95 per page, and queries per page.

Reuses the database loaded by bench/report.py (--reuse; it is migrated first) or loads it; `--db` names another
(a copy of the 10M load: `createdb -T sourcebook_bench_10m NAME`); `--only` keeps the cases whose name contains
it (e.g. `--only "sales admin"`). Targets at 10M (issue 14): p95 < 100 ms (90 days), < 200 ms (all time),
< 150 ms (by campaign, last month with comparison), < 300 ms for every sales admin list page; a fixed number of
queries per page.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import machine  # noqa: E402
from bench.load import REPORT_DB  # noqa: E402
from bench.pages import pages_database, pages_time  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--db", default=REPORT_DB, help="bench database (e.g. a copy of a 10M load)")
    parser.add_argument("--only", default="", help="run only the cases whose name contains this")
    args = parser.parse_args()
    pages_database(n=args.n, reuse=args.reuse, db=args.db)
    from django.contrib.auth.models import Permission, User
    from django.test import Client

    from bookings.models import Booking

    user, _ = User.objects.get_or_create(username="bench-dash", defaults={"is_superuser": True, "is_staff": True})
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    # Sales: staff who may read bookings, nothing else (the Sales group of `manage.py setup_roles`).
    seller, _ = User.objects.get_or_create(username="bench-sales", defaults={"is_staff": True})
    seller.user_permissions.add(Permission.objects.get(codename="view_booking", content_type__app_label="bookings"))
    sales = Client(SERVER_NAME="localhost")
    sales.force_login(seller)
    today = date.today()
    month_ago = today - timedelta(days=30)
    admin = "/admin/bookings/booking/"
    # bench/load.py: person k books as p{k}@company{k % 25000}.com (two bookings each on average).
    cases = {
        "dashboard 90 days": (client, "/dashboard/?range=90d"),
        "dashboard all time": (client, "/dashboard/?range=all"),
        "dashboard 90 days, drilled to Paid Search": (client, "/dashboard/?range=90d&channel=Paid+Search"),
        "dashboard by campaign, last month with comparison": (client, "/dashboard/?dim=campaign&range=last_month&compare=previous"),
        "dashboard by campaign and source, this year vs last year": (client, "/dashboard/?dim=campaign&dim2=source&range=year&compare=year"),
        "direct backlog": (client, "/dashboard/direct/"),
        "hygiene": (client, "/dashboard/hygiene/"),
        "sales admin list, default": (sales, admin),
        "sales admin list, channel Paid Search": (sales, admin + "?channel__exact=Paid+Search"),
        "sales admin search by email": (sales, admin + "?q=p123456%40company23456.com"),
        "sales admin search by domain": (sales, admin + "?q=%40company42.com"),
        "sales admin booked in the last 30 days": (sales, admin + f"?booked_at__range__gte={month_ago}&booked_at__range__lte={today}"),
        "sales admin dashboard link (Paid Search, 90 days, counted)": (
            sales, admin + "?channel__exact=Paid+Search&counted=yes&booked_at__gte="
            f"{today - timedelta(days=90)}T00:00:00%2B00:00&booked_at__lt={today + timedelta(days=1)}T00:00:00%2B00:00"),
    }
    results = pages_time({name: (lambda c=c, u=u: c.get(u)) for name, (c, u) in cases.items()}, repeat=args.repeat,
                         only=args.only)
    print(json.dumps({"machine": machine(), "bookings": Booking.objects.count(), "results": results}, indent=2))
    targets = {"dashboard 90 days": 100, "dashboard all time": 200, "dashboard by campaign, last month with comparison": 150,
               **{name: 300 for name in results if name.startswith("sales admin")}}
    for name, limit in targets.items():
        if name in results:
            verdict = "met" if results[name]["p95_ms"] < limit else "missed"
            print(f"{name}: p95 {results[name]['p95_ms']} ms, target < {limit} ms: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
