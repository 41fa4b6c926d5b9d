"""Journey capture benchmark: /collect/ touches and /l/<slug> redirects at a fixed rate, under gunicorn.

    .venv/bin/python bench/collect.py [--rate 500] [--seconds 10] [--workers 3] [--keep-db]

1. Creates the database `sourcebook_bench_collect` (drop/create + migrate) and one tracked link.
2. Starts `gunicorn project.wsgi` with the flags in `bench/harness.py` (DEBUG=0, no access log),
   `SOURCEBOOK_SITE_ORIGINS` set to the origin the load generator sends.
3. A separate process (aiohttp, open loop: request i leaves at start + i / rate, whatever the answers
   before it did) sends a short warm-up, then `rate × seconds` beacons to /collect/ (text/plain JSON, a
   browser user agent, every one a different visitor with UTMs and a click id in the page URL), then as
   many clicks on /l/<slug> (no cookie jar: every click is a new visitor; redirects are not followed).
4. Prints achieved rate, p50/p95/p99/max per endpoint and checks PostgreSQL: one Touch row per 204
   from /collect/ (matched by visitor id), one click touch per 302 and the link's click_count.

Targets (2-core machine, load generator included): /collect/ at 500/s p99 < 20 ms and 0 lost;
/l/<slug> at 500/s p99 < 10 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import secrets
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import database_url, drop_database, fresh_database, machine, percentile, serve  # noqa: E402
from bench.ingest import Plan, baseline_run, cpu_snapshot, cpu_used, machine_busy_pct, run_load  # noqa: E402

DB = "sourcebook_bench_collect"
ORIGIN = "https://www.example.com"
SLUG = "benchlink"
UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")
PAGES = [
    "https://www.example.com/blog/journeys?utm_source=linkedin&utm_medium=paid_social&utm_campaign=launch_202611&li_fat_id=x1",
    "https://www.example.com/pricing?gclid=Cj0KCQ",
    "https://www.example.com/",
    "https://www.example.com/features?utm_source=newsletter&utm_medium=email&utm_campaign=weekly_202611",
]
REFERRERS = ["https://www.linkedin.com/", "https://www.google.com/", "", "https://chatgpt.com/"]


def visitor() -> str:
    return "sbv_" + secrets.token_urlsafe(17)[:22]


def collect_bodies(n: int) -> list[tuple[str, bytes]]:
    out = []
    for i in range(n):
        vid = visitor()
        out.append((vid, json.dumps({"v": vid, "url": PAGES[i % len(PAGES)], "ref": REFERRERS[i % len(REFERRERS)],
                                     "t": int(time.time() * 1000), "k": "session"}).encode()))
    return out


def _loadgen(url: str, rate: float, warm: list, timed: list, clicks: int, conn) -> None:
    import aiohttp

    async def paced(session, n, make_request):
        latencies, statuses, tasks = [], {}, []

        async def one(i):
            started = time.perf_counter()
            try:
                status = await make_request(session, i)
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                status = type(exc).__name__
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1

        t0 = time.perf_counter()
        for i in range(n):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
        return {"latencies": latencies, "statuses": statuses, "elapsed": time.perf_counter() - t0}

    def beacon(bodies):
        async def request(session, i):
            async with session.post(url + "/collect/", data=bodies[i][1],
                                    headers={"Content-Type": "text/plain;charset=UTF-8", "Origin": ORIGIN,
                                             "User-Agent": UA}) as response:
                await response.read()
                return response.status
        return request

    async def click(session, i):
        async with session.get(f"{url}/l/{SLUG}", allow_redirects=False,
                               headers={"User-Agent": UA, "Referer": REFERRERS[i % len(REFERRERS)] or ORIGIN}) as response:
            await response.read()
            return response.status

    async def main():
        connector = aiohttp.TCPConnector(limit=256)
        async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                         timeout=aiohttp.ClientTimeout(total=30)) as session:
            await paced(session, len(warm), beacon(warm))
            await paced(session, 100, click)
            conn.send("warm")
            conn.recv()
            collect = await paced(session, len(timed), beacon(timed))
            conn.send("collect done")
            conn.recv()
            links = await paced(session, clicks, click)
        conn.send({"collect": collect, "links": links})

    asyncio.run(main())


def summarize(result: dict) -> dict:
    lat = [x * 1000 for x in result["latencies"]]
    return {"n": len(lat), "rate_per_s": round(len(lat) / result["elapsed"], 1),
            "latency_ms": {"p50": round(percentile(lat, 50), 2), "p95": round(percentile(lat, 95), 2),
                           "p99": round(percentile(lat, 99), 2), "max": round(max(lat), 1)},
            "statuses": {str(k): v for k, v in result["statuses"].items()}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second, each endpoint (default 500)")
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per endpoint (default 10)")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (default 3)")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--db", default=DB)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--baseline", action="store_true",
                        help="also measure /collect/'s peak (closed loop, --concurrency in flight) and the bare DRF view"
                             " of bench/ingest.py --baseline under the same gunicorn flags, and print the share")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight for the peak (default 8)")
    parser.add_argument("--peak-n", type=int, default=4000, help="beacons sent for the peak (default 4000)")
    parser.add_argument("--json", type=Path, help="also write the report as JSON to this file")
    args = parser.parse_args()

    import psycopg

    n = int(args.rate * args.seconds)
    fresh_database(args.db)
    with psycopg.connect(database_url(args.db), autocommit=True) as conn:
        conn.execute("INSERT INTO journeys_trackedlink (slug, destination, utm_source, utm_medium, utm_campaign,"
                     " utm_content, utm_term, click_count, created_at) VALUES (%s, %s, 'linkedin', 'social',"
                     " 'launch_202611', '', '', 0, now())", (SLUG, "https://www.example.com/pricing"))
    warm, timed = collect_bodies(args.warmup), collect_bodies(n)
    try:
        with serve(args.db, workers=args.workers, extra_env={"SOURCEBOOK_SITE_ORIGINS": ORIGIN}) as server:
            ctx = mp.get_context("spawn")
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_loadgen, args=(server.url, args.rate, warm, timed, n, child), daemon=True)
            proc.start()
            parent.recv()
            snap = lambda: cpu_snapshot(server_pid=server.pid, loadgen_pid=proc.pid, db=args.db)  # noqa: E731
            busy_before = machine_busy_pct()
            before = snap()
            parent.send("go")
            parent.recv()
            middle = snap()
            parent.send("go")
            result = parent.recv()
            after = snap()
            proc.join()
            cpu = {"collect": cpu_used(before, middle), "links": cpu_used(middle, after)}
            peak = None
            if args.baseline:  # closed loop: as many beacons as the server answers, `--concurrency` in flight
                headers = {"Content-Type": "text/plain;charset=UTF-8", "Origin": ORIGIN, "User-Agent": UA}
                plan = Plan(warmup=[(b, headers) for _, b in collect_bodies(200)],
                            timed=[(b, headers) for _, b in collect_bodies(args.peak_n)])
                peak = run_load(server.url, plan, args.concurrency, server_pid=server.pid, db=args.db, path="/collect/")
            time.sleep(0.5)
        with psycopg.connect(database_url(args.db)) as conn:
            stored = {row[0] for row in conn.execute(
                "SELECT visitor_id FROM journeys_touch WHERE kind = 'session' AND visitor_id = ANY(%s)",
                ([vid for vid, _ in timed],))}
            click_touches = conn.execute("SELECT count(*) FROM journeys_touch WHERE kind = 'click'").fetchone()[0]
            click_count = conn.execute("SELECT click_count FROM journeys_trackedlink WHERE slug = %s",
                                       (SLUG,)).fetchone()[0]
    finally:
        if not args.keep_db:
            drop_database(args.db)

    baselines = []
    if args.baseline:
        flags = argparse.Namespace(n=args.peak_n, warmup=200, seed=1, workers=args.workers, threads=1,
                                   worker_class="sync", concurrency=args.concurrency, gunicorn_arg=[], db=args.db)
        baselines = [baseline_run(flags, label="a"), baseline_run(flags, label="b")]
    collect, links = summarize(result["collect"]), summarize(result["links"])
    accepted = result["collect"]["statuses"].get(204, 0)
    redirected = result["links"]["statuses"].get(302, 0)
    lost_collect = (n - len(stored)) + (n - accepted)
    lost_clicks = abs(click_touches - (redirected + 100)) + abs(click_count - (redirected + 100))  # + warm-up clicks
    report = {
        "date": datetime.now().strftime("%Y-%m-%d %H:%M"), "machine": machine(), "gunicorn": server.describe(),
        "machine_busy_pct_before_run": busy_before,
        "collect": {**collect, "stored": len(stored), "lost": lost_collect},
        "links": {**links, "click_touches_minus_warmup": click_touches - 100, "lost": lost_clicks},
    }
    for name, count in (("collect", n), ("links", n)):
        used = cpu[name]
        report[name]["cpu_ms_per_request"] = {k: round(used[k] * 1000 / count, 2) for k in (
            "gunicorn", "postgres", "loadgen", "other_processes")}
        report[name]["machine_busy_pct_during"] = round(100 * used["machine_busy"] / max(used["machine_total"], 1e-9), 1)
    report["targets_met"] = {
        "collect": collect["latency_ms"]["p99"] < 20 and lost_collect == 0 and collect["rate_per_s"] >= 0.95 * args.rate,
        "links": links["latency_ms"]["p99"] < 10 and lost_clicks == 0 and links["rate_per_s"] >= 0.95 * args.rate,
    }
    if peak is not None:
        peak_rate = len(peak["latencies"]) / peak["elapsed"]
        base_rate = sum(b["deliveries_per_s"] for b in baselines) / len(baselines)
        report["peak"] = {"collect_per_s": round(peak_rate, 1), "collect_non_204": sum(
            v for k, v in peak["statuses"].items() if k != 204), "baseline_per_s": [b["deliveries_per_s"] for b in baselines],
            "share_pct": round(100 * peak_rate / base_rate, 1), "target_pct": 70}
    print(json.dumps(report, indent=2))
    if peak is not None:
        p = report["peak"]
        print(f"/collect/ peak {p['collect_per_s']:.0f}/s vs the bare DRF view {p['baseline_per_s']} /s: "
              f"{p['share_pct']} % (target >= 70 %)")
    for name in ("collect", "links"):
        r, lm = report[name], report[name]["latency_ms"]
        print(f"{name:8} {r['rate_per_s']:.0f}/s  p50 {lm['p50']} ms  p95 {lm['p95']} ms  p99 {lm['p99']} ms  "
              f"max {lm['max']} ms  lost {r['lost']}  CPU/request gunicorn {r['cpu_ms_per_request']['gunicorn']} ms"
              f" + PostgreSQL {r['cpu_ms_per_request']['postgres']} ms  (other processes used "
              f"{r['cpu_ms_per_request']['other_processes']} ms per request)  "
              f"target {'MET' if report['targets_met'][name] else 'MISSED'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    return 0 if all(report["targets_met"].values()) else 1


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    sys.exit(main())
