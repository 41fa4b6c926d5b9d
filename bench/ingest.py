"""Ingest benchmark: N signed Calendly deliveries against the app under gunicorn, from a separate process.

    .venv/bin/python bench/ingest.py [--n 5000] [--concurrency 16] [--workers 2] [--keep-db]

1. Creates the database `sourcebook_bench_ingest` (drop/create + migrate).
2. Builds and signs every body up front (≈85 % invitee.created with varied UTMs and some
   "how did you hear about us" answers, ≈10 % cancels and ≈5 % no-shows of earlier, distinct
   invitees). Signatures carry the build time, so the run must finish within Calendly's 180 s
   tolerance (a 5,000-delivery run takes ~10 s).
3. Starts `gunicorn project.wsgi` with the flags in `bench/harness.py` (DEBUG=0, no access log).
4. A separate process (aiohttp, keep-alive, `--concurrency` requests in flight) sends a short
   untimed warm-up, then the N deliveries, recording each request's latency.
5. Prints deliveries/s, p50/p95/p99/max latency, non-200 count, CPU per delivery by process
   (gunicorn, PostgreSQL, load generator), statements/commits per delivery (pg_stat_database),
   then checks PostgreSQL: every delivery stored and processed (matched by body hash), every
   invitee has its booking and HubSpot outbox row, every cancel and no-show applied, every
   UTM source kept. Exits 1 if anything was lost or wrong, 0 otherwise.

Target on a 2-core machine, load generator included: >= 500 deliveries/s, p99 < 50 ms, 0 lost.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import multiprocessing as mp
import os
import random
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    ROOT, SIGNING_KEY, database_url, drop_database, empty_database, fresh_database, machine, percentile, run_sql,
    serve,
)

DB = "sourcebook_bench_ingest"
PATH = "/webhooks/calendly/"
TOLERANCE_SECONDS = 180  # CALENDLY_WEBHOOK_TOLERANCE_SECONDS

# Realistic tracking: tagged links in several spellings, untagged bookings, an encoded value, a
# brand-name source (lands in Unassigned), a salesforce id; weights are relative.
TRACKING_MIX = [
    (20, {}),
    (14, {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "brand_202611", "utm_term": "calendly alternative"}),
    (6, {"utm_source": "Google", "utm_medium": "CPC", "utm_campaign": "competitor_202610"}),
    (10, {"utm_source": "linkedin", "utm_medium": "paid_social", "utm_campaign": "launch_202611", "utm_content": "video_a"}),
    (6, {"utm_source": "LinkedIn", "utm_medium": "social", "utm_campaign": "founder_posts_202611"}),
    (8, {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "weekly_202611"}),
    (7, {"utm_source": "chatgpt.com", "utm_medium": "referral"}),
    (4, {"utm_source": "perplexity", "utm_medium": "referral"}),
    (5, {"utm_source": "facebook.com", "utm_medium": "paid", "utm_campaign": "retarget_202609"}),
    (4, {"utm_source": "youtube", "utm_medium": "video", "utm_campaign": "walkthrough%20202607"}),
    (4, {"utm_source": "bing", "utm_medium": "organic"}),
    (3, {"utm_source": "g2", "utm_medium": "referral", "utm_campaign": "reviews_202609"}),
    (3, {"utm_source": "partnerportal", "utm_medium": "widget", "salesforce_uuid": "0015g00000XyZ"}),
    (2, {"utm_source": "sourcebook", "utm_medium": "email"}),
    (2, {"utm_source": "saas-weekly", "utm_medium": "podcast", "utm_campaign": "sponsor_202610"}),
    (2, {"utm_medium": "cpc"}),
]
ANSWERS = ["LinkedIn", "a friend", "Google", "ChatGPT", "podcast", "G2"]
EVENT_TYPES = ["Product demo", "Product demo", "Intro call", "Pricing Q&A"]


def invitee_uri(invitee_id: str) -> str:
    return f"https://api.calendly.com/scheduled_events/EV-{invitee_id}/invitees/{invitee_id}"


@dataclass
class Plan:
    """What is sent, and what the database must hold afterwards."""

    warmup: list[tuple[bytes, dict]] = field(default_factory=list)
    timed: list[tuple[bytes, dict]] = field(default_factory=list)
    kinds: dict[str, int] = field(default_factory=dict)
    created: dict[str, str] = field(default_factory=dict)  # invitee id -> utm_source sent ("" if none)
    canceled: set[str] = field(default_factory=set)
    no_show: set[str] = field(default_factory=set)
    signed_at: float = 0.0

    @property
    def all_bodies(self) -> list[bytes]:
        return [b for b, _ in self.warmup] + [b for b, _ in self.timed]


def build_plan(n: int, *, warmup: int, seed: int, run_id: str) -> Plan:
    """Every body built and signed now (timestamp = now), before anything is timed."""
    from bookings import calendly
    from bookings.samples import encode, invitee_payload, signed_headers

    rng = random.Random(seed)
    weights = [w for w, _ in TRACKING_MIX]
    plan = Plan(signed_at=time.time())
    timestamp = int(plan.signed_at)
    now = datetime.now(timezone.utc)
    open_invitees: list[str] = []  # created, neither canceled nor marked no-show yet

    def created(i: int, prefix: str) -> bytes:
        invitee = f"{run_id}-{prefix}{i}"
        tracking = rng.choices(TRACKING_MIX, weights)[0][1]
        qa = []
        if rng.random() < 0.3:
            qa = [{"question": "How did you hear about us?", "answer": rng.choice(ANSWERS), "position": 0}]
        booked = now - timedelta(minutes=rng.randint(0, 600))
        body = encode(invitee_payload(
            invitee_id=invitee, email=f"{prefix}{i}.{run_id}@example.com", name=f"Bench Person {i}", booked_at=booked,
            start_time=booked + timedelta(days=rng.randint(1, 14), hours=rng.randint(0, 8)),
            event_type_name=rng.choice(EVENT_TYPES), tracking=tracking, questions_and_answers=qa))
        plan.created[invitee] = tracking.get("utm_source") or ""
        open_invitees.append(invitee)
        return body

    def pick_earlier() -> str:
        # "earlier": not among the last few creates, which may still be in flight (order does not
        # matter for correctness, but a real cancel comes well after its booking)
        index = rng.randrange(0, max(1, len(open_invitees) - 32))
        open_invitees[index], open_invitees[-1] = open_invitees[-1], open_invitees[index]
        return open_invitees.pop()

    def sign(body: bytes) -> tuple[bytes, dict]:
        return body, signed_headers(body, key=SIGNING_KEY, timestamp=timestamp)

    for i in range(warmup):
        plan.warmup.append(sign(created(i, "w")))
    for i in range(n):
        roll = rng.random()
        if roll < 0.10 and len(open_invitees) > 64:
            invitee = pick_earlier()
            kind = calendly.INVITEE_CANCELED
            body = encode(invitee_payload(event=kind, invitee_id=invitee, booked_at=now - timedelta(hours=1),
                                          updated_at=now, cancel_reason="schedule conflict"))
            plan.canceled.add(invitee)
        elif roll < 0.15 and len(open_invitees) > 64:
            invitee = pick_earlier()
            kind = calendly.NO_SHOW_CREATED
            body = encode(invitee_payload(event=kind, invitee_id=invitee, booked_at=now - timedelta(hours=1),
                                          occurred_at=now))
            plan.no_show.add(invitee)
        else:
            kind = calendly.INVITEE_CREATED
            body = created(i, "d")
        plan.kinds[kind] = plan.kinds.get(kind, 0) + 1
        plan.timed.append(sign(body))
    return plan


# --- load generator (its own process) -------------------------------------------------------------


def _loadgen(url: str, warmup: list, timed: list, concurrency: int, conn, path: str = PATH) -> None:
    """Send the warm-up, tell the parent, wait for 'go', send the timed deliveries, report."""
    import aiohttp

    async def send(session, items, latencies, statuses):
        queue = iter(items)

        async def worker():
            for body, headers in queue:
                started = time.perf_counter()
                try:
                    async with session.post(url + path, data=body, headers=headers) as response:
                        await response.read()
                        status = response.status
                except aiohttp.ClientError as exc:
                    status = type(exc).__name__
                latencies.append(time.perf_counter() - started)
                statuses[status] = statuses.get(status, 0) + 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    async def main():
        connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
            warm_statuses: dict = {}
            await send(session, warmup, [], warm_statuses)
            conn.send(("warm", warm_statuses))
            conn.recv()  # parent has taken its "before" snapshot
            latencies: list[float] = []
            statuses: dict = {}
            cpu0, started = time.process_time(), time.perf_counter()
            await send(session, timed, latencies, statuses)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu0
        conn.send(("done", {"latencies": latencies, "statuses": statuses, "elapsed": elapsed, "cpu": cpu}))

    asyncio.run(main())


def run_load(url: str, plan: Plan, concurrency: int, *, server_pid: int, db: str, py_spy: Path | None = None,
             path: str = PATH) -> dict:
    """Closed loop: `concurrency` requests in flight, each (body, headers) of the plan POSTed to `path`."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_loadgen, args=(url, plan.warmup, plan.timed, concurrency, child, path), daemon=True)
    proc.start()
    _, warm_statuses = parent.recv()
    spies = py_spy_start(server_pid, py_spy) if py_spy else []
    before_cpu, before_db = cpu_snapshot(server_pid=server_pid, loadgen_pid=proc.pid, db=db), db_counters(db)
    parent.send("go")
    _, result = parent.recv()
    after_cpu, after_db = cpu_snapshot(server_pid=server_pid, loadgen_pid=proc.pid, db=db), db_counters(db)
    py_spy_stop(spies)
    proc.join()
    result["warm_statuses"] = warm_statuses
    result["cpu_s"] = cpu_used(before_cpu, after_cpu)
    result["db"] = {k: after_db[k] - before_db[k] for k in after_db}
    return result


# --- where the CPU went -------------------------------------------------------------------------


def py_spy_start(server_pid: int, out_dir: Path) -> list:
    """Sample every gunicorn worker during the timed run (py-spy from the venv: `pip install py-spy`)."""
    import shutil
    import subprocess

    exe = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if not exe:
        print("warning: py-spy not found (pip install py-spy); not profiling", file=sys.stderr)
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    workers = [pid for pid, ppid in _processes() if ppid == server_pid]
    spies = []
    for pid in workers:
        spies.append(subprocess.Popen(
            [exe, "record", "--pid", str(pid), "--rate", "200", "--gil", "--nonblocking", "--format", "raw",
             "--output", str(out_dir / f"worker-{pid}.txt")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    time.sleep(0.5)  # attached before the first timed request
    return spies


def _processes():
    """(pid, parent pid) of every process."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    yield int(entry), int(fh.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue


def py_spy_stop(spies: list) -> None:
    import signal

    for spy in spies:
        spy.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
    for spy in spies:
        spy.wait(timeout=30)


# Inclusive share of samples in these frames (first match from the leaf decides `self` buckets).
SPY_INCLUSIVE = [
    ("gunicorn worker, all", "gunicorn/workers/"),
    ("Django WSGIHandler.__call__", "__call__ (django/core/handlers/wsgi.py"),
    ("DRF APIView.dispatch", "dispatch (rest_framework/views.py"),
    ("view CalendlyWebhookApi.post", "post (bookings/apis.py"),
    ("delivery_receive", "delivery_receive (bookings/services/intake.py"),
    ("booking_rebuild", "booking_rebuild (bookings/services/fold.py"),
    ("psycopg (driver incl. waiting for PostgreSQL)", "psycopg/"),
    ("json", "json/"),
    ("prometheus_client", "prometheus_client/"),
]
SPY_SELF = [  # leaf-frame buckets, checked in order
    ("psycopg", "psycopg/"), ("gunicorn", "gunicorn/"), ("django", "django/"), ("rest_framework", "rest_framework/"),
    ("bookings", "bookings/"), ("attribution", "attribution/"), ("hubspot_sync", "hubspot_sync/"),
    ("prometheus", "prometheus"), ("json", "json/"), ("selectors/socket/threading", "selectors.py"),
]


def py_spy_summary(out_dir: Path) -> dict:
    inclusive, self_time, total = {k: 0 for k, _ in SPY_INCLUSIVE}, {}, 0
    for path in out_dir.glob("worker-*.txt"):
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            total += n
            for label, needle in SPY_INCLUSIVE:
                if needle in stack:
                    inclusive[label] += n
            leaf = stack.rsplit(";", 1)[-1]
            bucket = next((label for label, needle in SPY_SELF if needle in leaf), "other: " + leaf.split(" (")[0][:40])
            self_time[bucket] = self_time.get(bucket, 0) + n
    pct = lambda v: round(100 * v / max(total, 1), 1)  # noqa: E731
    top_self = dict(sorted(((k, pct(v)) for k, v in self_time.items()), key=lambda kv: -kv[1])[:12])
    return {"samples": total, "inclusive_pct": {k: pct(v) for k, v in inclusive.items()}, "self_pct": top_self}


_PG_BACKEND = re.compile(r" \S+ \S+ (\[local\]|\S+\(\d+\))")  # "postgres: 15/main: user db host(port) state"


def cpu_snapshot(*, server_pid: int, loadgen_pid: int, db: str) -> dict:
    """CPU seconds per process so far, tagged with who used it: gunicorn (its session), PostgreSQL
    (the bench database's backends and the shared server processes), the load generator, other
    processes (e.g. someone's test run, other databases' backends); plus the machine from /proc/stat."""
    tick = os.sysconf("SC_CLK_TCK")
    processes = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
            comm = stat[stat.index("(") + 1:stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2:].split()
            cmdline = ""
            if comm.startswith("postgres"):
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    cmdline = fh.read().decode(errors="replace")
        except (OSError, ValueError):
            continue
        session, seconds = int(fields[3]), (int(fields[11]) + int(fields[12])) / tick
        if session == server_pid:
            group = "gunicorn"
        elif int(entry) == loadgen_pid:
            group = "loadgen"
        elif comm.startswith("postgres") and (f" {db} " in cmdline or not _PG_BACKEND.search(cmdline)):
            group = "postgres"  # our backends, plus walwriter, checkpointer, ... (no client address)
        else:
            group = "other_processes"
        processes[(int(entry), fields[19])] = (group, seconds)  # (pid, start time): pids get reused
    with open("/proc/stat") as fh:
        cpu = [int(x) for x in fh.readline().split()[1:]]
    return {"processes": processes, "machine_busy": (sum(cpu) - cpu[3] - cpu[4]) / tick,  # minus idle, iowait
            "machine_total": sum(cpu) / tick}


def cpu_used(before: dict, after: dict) -> dict[str, float]:
    """CPU seconds between two snapshots by group; what processes that exited meanwhile used is
    left in `unattributed` together with the kernel's own work (softirq for loopback TCP, ...)."""
    used = {"gunicorn": 0.0, "postgres": 0.0, "loadgen": 0.0, "other_processes": 0.0}
    for key, (group, seconds) in after["processes"].items():
        used[group] += seconds - before["processes"].get(key, (group, 0.0))[1]
    used["machine_busy"] = after["machine_busy"] - before["machine_busy"]
    used["machine_total"] = after["machine_total"] - before["machine_total"]
    used["unattributed"] = used["machine_busy"] - sum(used[g] for g in ("gunicorn", "postgres", "loadgen", "other_processes"))
    return used


def machine_busy_pct(seconds: float = 1.0) -> float:
    """How busy the machine is right now (before the run): other work skews every number."""
    def sample():
        with open("/proc/stat") as fh:
            cpu = [int(x) for x in fh.readline().split()[1:]]
        return sum(cpu) - cpu[3] - cpu[4], sum(cpu)

    busy0, total0 = sample()
    time.sleep(seconds)
    busy1, total1 = sample()
    return round(100 * (busy1 - busy0) / max(1, total1 - total0), 1)


def db_counters(db: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(database_url(db), autocommit=True) as conn:
        row = conn.execute(
            "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_returned + tup_fetched, blks_read"
            " FROM pg_stat_database WHERE datname = current_database()").fetchone()
        wal = conn.execute("SELECT wal_records, wal_bytes, wal_sync FROM pg_stat_wal").fetchone()
    return dict(zip(("commits", "rollbacks", "rows_inserted", "rows_updated", "rows_read", "blocks_read",
                     "wal_records", "wal_bytes", "wal_syncs"), (*row, *wal)))


# --- verification -------------------------------------------------------------------------------


def verify(db: str, plan: Plan) -> dict:
    """Compare PostgreSQL with the plan; every count in `problems` must be 0."""
    import psycopg

    expected = {hashlib.md5(b).hexdigest() for b in plan.all_bodies}
    with psycopg.connect(database_url(db)) as conn:
        deliveries = conn.execute(
            "SELECT md5(body), state, signature_valid FROM bookings_webhookdelivery").fetchall()
        bookings = {uri: (status, no_show, source) for uri, status, no_show, source in conn.execute(
            "SELECT invitee_uri, status, no_show, coalesce(tracking->>'utm_source', '') FROM bookings_booking")}
        without_outbox = conn.execute(
            "SELECT count(*) FROM bookings_booking b WHERE NOT EXISTS"
            " (SELECT 1 FROM hubspot_sync_bookingsync s WHERE s.booking_id = b.id)").fetchone()[0]
    stored = {h for h, _, _ in deliveries}
    states: dict[str, int] = {}
    for _, state, valid in deliveries:
        key = state if valid else f"{state} (bad signature)"
        states[key] = states.get(key, 0) + 1
    missing_booking = wrong_status = wrong_no_show = wrong_source = 0
    for invitee, source in plan.created.items():
        row = bookings.get(invitee_uri(invitee))
        if row is None:
            missing_booking += 1
            continue
        status, no_show, stored_source = row
        wrong_status += status != ("canceled" if invitee in plan.canceled else "active")
        wrong_no_show += bool(no_show) != (invitee in plan.no_show)
        wrong_source += stored_source != source
    problems = {
        "deliveries_not_stored": len(expected - stored),
        "deliveries_not_processed": sum(n for s, n in states.items() if s != "processed"),
        "bookings_missing": missing_booking,
        "cancels_not_applied_or_wrong_status": wrong_status,
        "no_shows_wrong": wrong_no_show,
        "utm_source_wrong": wrong_source,
        "bookings_without_outbox_row": without_outbox,
    }
    return {"sent": len(expected), "stored": len(deliveries), "delivery_states": states, "bookings": len(bookings),
            "expected_bookings": len(plan.created), "problems": problems}


# --- the baseline: the smallest honest receiver, same gunicorn, same load -------------------------


def baseline_run(args, *, label: str) -> dict:
    """`bench/baseline/` (a DRF view: HMAC + timestamp check, one insert, one upsert) under the same
    gunicorn flags and the same kind of load, on its own database; checked for lost deliveries too."""
    import psycopg

    from bench.baseline import TABLES

    db = f"{args.db}_baseline"
    empty_database(db)
    run_sql(db, TABLES)
    plan = build_plan(args.n, warmup=args.warmup, seed=args.seed, run_id=f"{int(time.time())}{label}")
    try:
        with serve(db, workers=args.workers, threads=args.threads, worker_class=args.worker_class,
                   extra_args=args.gunicorn_arg, wsgi="bench.baseline.app:application",
                   extra_env={"DJANGO_SETTINGS_MODULE": "bench.baseline.settings"}) as server:
            result = run_load(server.url, plan, args.concurrency, server_pid=server.pid, db=db)
        with psycopg.connect(database_url(db)) as conn:
            stored = conn.execute("SELECT count(*) FROM baseline_delivery").fetchone()[0]
            booked = conn.execute("SELECT count(*) FROM baseline_booking").fetchone()[0]
    finally:
        drop_database(db)
    lat = [x * 1000 for x in result["latencies"]]
    n = len(lat)
    return {
        "deliveries_per_s": round(n / result["elapsed"], 1),
        "latency_ms": {"p50": round(percentile(lat, 50), 1), "p99": round(percentile(lat, 99), 1)},
        "cpu_ms_per_delivery": {k: round(result["cpu_s"][k] * 1000 / n, 2) for k in ("gunicorn", "postgres", "loadgen")},
        "non_200": sum(v for k, v in result["statuses"].items() if k != 200),
        "lost": (len(plan.all_bodies) - stored) + (len(plan.created) - booked),
    }


# --- main ---------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000, help="timed deliveries (default 5000)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (default 16)")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (default 3)")
    parser.add_argument("--worker-class", default="sync", choices=["sync", "gthread"], help="default sync")
    parser.add_argument("--threads", type=int, default=1, help="threads per gthread worker (default 1)")
    parser.add_argument("--gunicorn-arg", action="append", default=[], metavar="ARG",
                        help="extra gunicorn flag, repeatable (e.g. --gunicorn-arg=--preload)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="extra app setting, repeatable")
    parser.add_argument("--warmup", type=int, default=200, help="untimed deliveries first (default 200; verified too)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db", default=DB, help=f"database name (default {DB}; dropped and recreated)")
    parser.add_argument("--keep-db", action="store_true", help="keep the database afterwards for inspection")
    parser.add_argument("--sql", action="append", default=[], metavar="SQL",
                        help="SQL to run after migrating, repeatable (try a schema change without a migration)")
    parser.add_argument("--app-root", type=Path, default=ROOT, help="checkout to run (default: this one)")
    parser.add_argument("--baseline", action="store_true",
                        help="also run bench/baseline (a minimal DRF receiver) before and after, same flags and load,"
                             " and print Sourcebook's throughput as a share of it")
    parser.add_argument("--json", type=Path, help="also write the report as JSON to this file")
    parser.add_argument("--py-spy", type=Path, metavar="DIR",
                        help="sample the gunicorn workers with py-spy during the timed run; raw stacks go to DIR")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    extra_env = dict(item.split("=", 1) for item in args.env)
    busy_before = machine_busy_pct()
    if busy_before > 15:
        print(f"warning: the machine is {busy_before}% busy before the run (other processes): numbers will be low",
              file=sys.stderr)
    baselines = [baseline_run(args, label="a")] if args.baseline else []
    setup_s = fresh_database(args.db, root=args.app_root)
    run_sql(args.db, args.sql)
    plan = build_plan(args.n, warmup=args.warmup, seed=args.seed, run_id=f"{int(time.time())}")
    try:
        with serve(args.db, workers=args.workers, threads=args.threads, worker_class=args.worker_class,
                   extra_env=extra_env, extra_args=args.gunicorn_arg, root=args.app_root) as server:
            result = run_load(server.url, plan, args.concurrency, server_pid=server.pid, db=args.db, py_spy=args.py_spy)
            server_log = server.log_tail(10)
        sent_within = time.time() - plan.signed_at
        check = verify(args.db, plan)
    finally:
        if not args.keep_db:
            drop_database(args.db)

    if args.baseline:
        baselines.append(baseline_run(args, label="b"))
    lat = [x * 1000 for x in result["latencies"]]
    n = len(lat)
    rate = n / result["elapsed"]
    non_200 = {str(k): v for k, v in result["statuses"].items() if k != 200}
    cpu, dbc = result["cpu_s"], result["db"]
    report = {
        "date": datetime.now().strftime("%Y-%m-%d %H:%M"),
        "machine": machine(),
        "app_root": str(args.app_root),
        "gunicorn": server.describe() + (" " + " ".join(args.gunicorn_arg) if args.gunicorn_arg else ""),
        "env": extra_env,
        "n": n, "warmup": len(plan.warmup), "concurrency": args.concurrency, "mix": plan.kinds,
        "deliveries_per_s": round(rate, 1),
        "latency_ms": {"p50": round(percentile(lat, 50), 1), "p95": round(percentile(lat, 95), 1),
                       "p99": round(percentile(lat, 99), 1), "max": round(max(lat), 1),
                       "mean": round(sum(lat) / n, 1)},
        "non_200": sum(non_200.values()), "statuses": {str(k): v for k, v in result["statuses"].items()},
        "cpu_ms_per_delivery": {k: round(cpu[k] * 1000 / n, 2) for k in (
            "gunicorn", "postgres", "loadgen", "other_processes", "unattributed", "machine_busy")},
        "machine_busy_pct": {"before_run": busy_before,
                             "during_run": round(100 * cpu["machine_busy"] / max(cpu["machine_total"], 1e-9), 1)},
        "per_delivery": {"commits": round(dbc["commits"] / n, 2), "rows_inserted": round(dbc["rows_inserted"] / n, 2),
                         "rows_updated": round(dbc["rows_updated"] / n, 2), "wal_kb": round(float(dbc["wal_bytes"]) / n / 1024, 1),
                         "wal_syncs": round(dbc["wal_syncs"] / n, 2)},
        "seconds": {"database_setup": round(setup_s, 1), "timed_run": round(result["elapsed"], 1),
                    "signing_to_last_response": round(sent_within, 1)},
        **check,
    }
    if args.py_spy:
        report["py_spy"] = py_spy_summary(args.py_spy)
    if baselines:
        baseline_rate = sum(b["deliveries_per_s"] for b in baselines) / len(baselines)
        report["baseline"] = {"runs": baselines, "mean_deliveries_per_s": round(baseline_rate, 1),
                              "share_pct": round(100 * rate / baseline_rate, 1)}
    lost = sum(check["problems"].values())
    target = rate >= 500 and report["latency_ms"]["p99"] < 50 and lost == 0
    report["lost"] = lost
    report["target_met"] = target

    lm = report["latency_ms"]
    print(json.dumps(report, indent=2, default=str))
    print(f"\n{report['machine']}\ngunicorn: {report['gunicorn']}  N={n} concurrency={args.concurrency}")
    print(f"{rate:.0f} deliveries/s  p50 {lm['p50']} ms  p95 {lm['p95']} ms  p99 {lm['p99']} ms  max {lm['max']} ms"
          f"  non-200: {report['non_200']}  lost: {lost}")
    print(f"target (>= 500/s, p99 < 50 ms, 0 lost): {'MET' if target else 'MISSED'}")
    if baselines:
        b = report["baseline"]
        runs = ", ".join(f"{r['deliveries_per_s']:.0f}/s p99 {r['latency_ms']['p99']} ms lost {r['lost']}" for r in b["runs"])
        print(f"baseline (minimal DRF view, before and after): {runs}")
        print(f"Sourcebook = {b['share_pct']} % of the baseline's throughput (target >= 50 %)")
    if sent_within > TOLERANCE_SECONDS:
        print(f"warning: last response {sent_within:.0f}s after signing (tolerance {TOLERANCE_SECONDS}s)", file=sys.stderr)
    if report["non_200"] and server_log:
        print(f"last gunicorn log lines:\n{server_log}", file=sys.stderr)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
