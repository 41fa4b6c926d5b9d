"""Side by side, same signed deliveries: Sourcebook under gunicorn vs the seed article's handler
(parse, call HubSpot inline, return) against the fake HubSpot with 150 ms latency; then Sourcebook
again while HubSpot is down (its intake must not slow down: HubSpot is never on the request path).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from bench.harness import PY, ROOT, bench_env, drop_database, fresh_database, free_port, gunicorn, percentile  # noqa: E402
from bench.simple_load import build_requests, run_load  # noqa: E402

DB = "sourcebook_bench_compare"
CALENDLY_TIMEOUT_S = 10.0  # reference: connection 10 s, read 15 s; a slower answer is a failed delivery that Calendly retries


def summarize(result: dict) -> dict:
    lat = [x * 1000 for x in result["latencies"]]
    return {"deliveries_per_s": round(len(lat) / result["elapsed"], 1), "p50_ms": round(percentile(lat, 50), 1),
            "p95_ms": round(percentile(lat, 95), 1), "p99_ms": round(percentile(lat, 99), 1),
            "non_200": sum(n for s, n in result["statuses"].items() if int(s) != 200),
            "would_be_retried_by_calendly": sum(1 for x in lat if x > CALENDLY_TIMEOUT_S * 1000)
            + sum(n for s, n in result["statuses"].items() if int(s) != 200)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
    import django

    django.setup()
    port = free_port()
    hubspot_url = f"http://127.0.0.1:{port}"
    fake = subprocess.Popen([PY, "manage.py", "fake_hubspot", "--port", str(port), "--latency-ms", "150", "--rate-limit",
                             "100000", "--preset-properties"], cwd=ROOT, env=bench_env("x"), stdout=subprocess.DEVNULL,
                            start_new_session=True)
    time.sleep(1)
    report = {}
    try:
        bodies, _ = build_requests(args.n, seed=11)
        # (b) the seed handler: 2 sync gunicorn workers x 4 threads, like Sourcebook's web process
        seed_port = free_port()
        seed = subprocess.Popen([PY, "-m", "gunicorn", "bench.seed_handler", "-b", f"127.0.0.1:{seed_port}", "-w", "2",
                                 "--threads", "4", "-k", "gthread", "--log-level", "warning"],
                                cwd=ROOT, env={**os.environ, "HUBSPOT_API_URL": hubspot_url}, start_new_session=True)
        time.sleep(1.5)
        report["seed_handler (HubSpot inline, 150 ms)"] = summarize(run_load(f"http://127.0.0.1:{seed_port}", bodies, args.concurrency))
        os.killpg(seed.pid, signal.SIGTERM)

        for label, down in (("sourcebook", False), ("sourcebook, HubSpot down", True)):
            fresh_database(DB)
            httpx.post(f"{hubspot_url}/__fake__/config", json={"down": down})
            env = {"HUBSPOT_ACCESS_TOKEN": "fake-token", "HUBSPOT_API_URL": hubspot_url}
            worker = subprocess.Popen([PY, "-m", "celery", "-A", "project", "worker", "--concurrency", "1", "-l", "warning"],
                                      cwd=ROOT, env=bench_env(DB, **env), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True)
            with gunicorn(DB, extra_env=env) as url:
                run_load(url, bodies[:100], args.concurrency)
                report[label] = summarize(run_load(url, bodies[100:], args.concurrency))
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)
    finally:
        os.killpg(fake.pid, signal.SIGTERM)
        drop_database(DB)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
