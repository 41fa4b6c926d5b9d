"""Where one webhook delivery's time goes, in-process and serial (no gunicorn, no concurrency).

    .venv/bin/python bench/ingest_profile.py [--n 2000] [--app-root /tmp/benchcopy] [--top 40]

Same bodies as bench/ingest.py, fed one at a time to Django's WSGI handler (the callable gunicorn
calls), on a fresh database `sourcebook_bench_profile`. Reports:

* per delivery: wall time, this process's CPU (Django + DRF + service + driver; PostgreSQL's
  own work is the difference), SQL statements (by kind);
* a cProfile of a second batch: top functions by own time and by cumulative time, and the
  time inside each middleware / the view / the service / the driver.

Use it to compare a candidate change on a scratch copy (`--app-root`) with this checkout.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import ROOT, bench_env, drop_database, fresh_database, run_sql  # noqa: E402
from bench.ingest import build_plan  # noqa: E402

DB = "sourcebook_bench_profile"


def wsgi_environ(body: bytes, headers: dict) -> dict:
    env = {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/webhooks/calendly/", "QUERY_STRING": "", "SCRIPT_NAME": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "127.0.0.1:8000",
        "REMOTE_ADDR": "127.0.0.1", "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr, "wsgi.multithread": False, "wsgi.multiprocess": True,
        "wsgi.run_once": False, "wsgi.version": (1, 0), "HTTP_USER_AGENT": "Calendly-Webhook-Bench",
    }
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        env[key if key == "CONTENT_TYPE" else f"HTTP_{key}"] = value
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="deliveries timed (and again as many profiled)")
    parser.add_argument("--app-root", type=Path, default=ROOT)
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--sql", action="append", default=[], help="SQL to run after migrating (try a schema change)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args()

    root = args.app_root.resolve()
    extra = dict(item.split("=", 1) for item in args.env)
    os.environ.update(bench_env(DB, **extra))
    os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
    fresh_database(DB, root=root)
    run_sql(DB, args.sql)
    plan = build_plan(2 * args.n, warmup=200, seed=3, run_id=f"p{int(time.time())}")
    # the app (bookings, project, ...) comes from --app-root; drop this checkout's copies from the path
    sys.path[:] = [str(root)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT]
    for name in [m for m in sys.modules if m.split(".")[0] in ("bookings", "project", "attribution", "hubspot_sync")]:
        del sys.modules[name]
    os.chdir(root)
    import django

    django.setup()
    from django.db import connection

    import bookings.services.intake

    assert Path(bookings.services.intake.__file__).resolve().is_relative_to(root), bookings.services.intake.__file__
    from project.wsgi import application as app  # what gunicorn serves (the webhook's own handler, if any)
    statements: Counter = Counter()

    def count(execute, sql, params, many, context):
        statements[re.sub(r"\s+", " ", sql.strip())[:60]] += 1
        return execute(sql, params, many, context)

    def backend_cpu() -> float:
        """CPU seconds used so far by this connection's PostgreSQL backend process."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def post(body, headers):
        status = []
        chunks = app(wsgi_environ(body, headers), lambda s, h, exc_info=None: status.append(s))
        b"".join(chunks)
        getattr(chunks, "close", lambda: None)()
        assert status[0].startswith("200"), (status, b"".join(chunks))

    try:
        for body, headers in plan.warmup:
            post(body, headers)
        timed, profiled = plan.timed[:args.n], plan.timed[args.n:]
        pg0 = backend_cpu()
        with connection.execute_wrapper(count):
            wall0, cpu0 = time.perf_counter(), time.process_time()
            for body, headers in timed:
                post(body, headers)
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        pg = backend_cpu() - pg0
        profiler = cProfile.Profile(time.process_time)  # CPU, not wall: waiting on PostgreSQL is not "time spent" here
        profiler.enable()
        for body, headers in profiled:
            post(body, headers)
        profiler.disable()
    finally:
        connection.close()
        if not args.keep_db:
            drop_database(DB)

    n = len(timed)
    print(f"app: {root}")
    print(f"per delivery (serial, {n} deliveries): wall {wall / n * 1000:.2f} ms, Python CPU {cpu / n * 1000:.2f} ms,"
          f" PostgreSQL backend CPU {pg / n * 1000:.2f} ms, {sum(statements.values()) / n:.2f} SQL statements"
          f" (+ BEGIN/COMMIT)")
    for sql, k in statements.most_common():
        print(f"  {k / n:5.2f} x  {sql}")

    stats = pstats.Stats(profiler)
    total = stats.total_tt
    print(f"\ncProfile (CPU time) of {len(profiled)} more deliveries: {total / len(profiled) * 1000:.2f} ms per delivery"
          " under the profiler (inflated by it; compare the shares)")
    # time inside selected functions (cumulative), per delivery
    marks = {
        "WSGIHandler.__call__ (whole request)": ("django/core/handlers/wsgi.py", "__call__"),
        "  view: CalendlyWebhookApi.post": ("bookings/apis.py", "post"),
        "    delivery_receive": ("bookings/services/intake.py", "delivery_receive"),
        "      booking_rebuild": ("bookings/services/fold.py", "booking_rebuild"),
        "      booking_attribution_fields": ("attribution/services.py", "booking_attribution_fields"),
        "      bookings_changed": ("bookings/services/changes.py", "bookings_changed"),
        "      psycopg cursor.execute": ("psycopg/cursor.py", "execute"),
        "      psycopg commit": ("psycopg/connection.py", "commit"),
        "      json.loads": ("json/__init__.py", "loads"),
        "      event_parse": ("bookings/calendly.py", "event_parse"),
        "      signature_verify": ("bookings/calendly.py", "signature_verify"),
        "      logger.info": ("logging/__init__.py", "info"),
        "  DRF APIView.dispatch": ("rest_framework/views.py", "dispatch"),
        "  DRF Response rendering": ("django/template/response.py", "render"),
        "  signals (request_started/finished)": ("django/dispatch/dispatcher.py", "send"),
    }
    rows = []
    for label, (file_end, func) in marks.items():
        cum = sum(v[3] for k, v in stats.stats.items() if k[0].endswith(file_end) and k[2] == func)
        rows.append((label, cum))
    middleware = Counter()
    for (filename, _, func), v in stats.stats.items():
        if func in ("__call__", "process_request", "process_response", "process_view") and "middleware" in filename:
            middleware[f"{Path(filename).parent.name}/{Path(filename).name}:{func}"] += v[3]
    per = 1000 / len(profiled)
    for label, cum in rows:
        print(f"  {cum * per:6.3f} ms  {label}")
    print("  middleware (cumulative, nested: the outer ones include the inner ones):")
    for name, cum in middleware.most_common(14):
        print(f"    {cum * per:6.3f} ms  {name}")
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(args.top)
        text = out.getvalue()
        print(f"\n--- top {args.top} by {order} ---")
        print(text[text.index("   ncalls"):] if "   ncalls" in text else text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
