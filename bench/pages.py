"""What the page benchmarks share (`bench/dashboard.py`, `bench/backlog.py`): a loaded database in the steady
state, and the timing of whole pages in-process (view, selectors, template) with their statement counts."""

from __future__ import annotations

import os
import subprocess
import time
from typing import Callable

from bench.harness import PY, ROOT, percentile
from bench.load import million_booking_database


def pages_database(*, n: int, reuse: bool, db: str) -> None:
    """Load (or reuse and migrate) `db`, set Django up on it with production settings (hashed static files:
    the manifest is built first), and reach the steady state beat and autovacuum reach within a minute of a
    bulk change: the rollup compacted, statistics fresh."""
    million_booking_database(n=n, reuse=reuse, db=db)
    subprocess.run([PY, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=os.environ.copy(), check=True)
    import django

    django.setup()
    from django.db import connection

    from attribution.rollup import rollup_compact, upcoming_compact
    from hubspot_sync.services.money_rollup import money_compact

    rollup_compact()
    upcoming_compact()
    money_compact()
    connection.ensure_connection()
    connection.connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE attribution_dailystatdelta, attribution_dailystat, attribution_totalstat, "
                       "attribution_upcomingstat, bookings_booking, hubspot_sync_moneystat, hubspot_sync_moneystatdelta")


def pages_time(cases: dict[str, Callable[[], object]], *, repeat: int, only: str = "") -> dict[str, dict]:
    """p50/p95 over `repeat` requests per case after a warm-up, and the statements one request runs."""
    from django.db import connection

    results = {}
    for name, request in cases.items():
        if only not in name:
            continue
        assert request().status_code == 200, name
        statements = []
        with connection.execute_wrapper(lambda ex, sql, params, many, ctx: statements.append(sql) or ex(sql, params, many, ctx)):
            request()
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            request()
            times.append((time.perf_counter() - started) * 1000)
        results[name] = {"p50_ms": round(percentile(times, 50), 1), "p95_ms": round(percentile(times, 95), 1),
                         "queries": len(statements)}
    return results
