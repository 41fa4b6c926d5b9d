"""Backfill throughput: 100,000 invitees from the fake Calendly at its configured rate limit.

Calendly allows 500 requests per user per minute; a backfill is bounded by that, not by our
code. Reports the fraction of the limit used (target >= 90 %) and checks every invitee became
one booking. Use --window-seconds to compress the minute (same requests-per-window shape).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import ROOT, bench_env, free_port, fresh_database, machine  # noqa: E402

DB = "sourcebook_bench_backfill"


def _wait_listening(url: str, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"fake Calendly exited with {proc.returncode}")
        try:
            httpx.get(f"{url}/users/me", timeout=1)  # any answer (even 401) means it listens
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("fake Calendly did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--invitees", type=int, default=100_000)
    parser.add_argument("--per-event", type=int, default=10, help="Invitees per scheduled event (group events).")
    parser.add_argument("--rate-limit", type=int, default=500, help="Requests per window.")
    parser.add_argument("--window-seconds", type=float, default=60.0)
    args = parser.parse_args()
    os.environ.update(bench_env(DB))
    os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
    fresh_database(DB)
    import django

    django.setup()
    from bookings.calendly_client import CalendlyClient
    from bookings.models import Booking
    from bookings.services.backfill import backfill_run

    events = args.invitees // args.per_event
    # Its own process, as Calendly is remote: it must not share our interpreter's GIL.
    port = free_port()
    fake = subprocess.Popen([sys.executable, "manage.py", "fake_calendly", "--port", str(port), "--events", str(events),
                             "--invitees-per-event", str(args.per_event), "--rate-limit", str(args.rate_limit),
                             "--window-seconds", str(args.window_seconds)], cwd=ROOT, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    client = CalendlyClient(base_url=url, token="fake-calendly-token")
    try:
        _wait_listening(url, fake)
        started = time.monotonic()
        run = backfill_run(client=client, since=datetime.now(timezone.utc) - timedelta(days=365), organization="org")
        elapsed = time.monotonic() - started
    finally:
        fake.terminate()
        fake.wait()
    calls = client.stats.calls
    allowed = args.rate_limit * elapsed / args.window_seconds
    report = {
        "machine": machine(), "invitees": run.invitees, "events": run.events, "seconds": round(elapsed, 1),
        "invitees_per_s": round(run.invitees / elapsed, 1), "api_calls": calls, "waits_429": client.stats.waits_429,
        "limit": f"{args.rate_limit} requests / {args.window_seconds:g} s",
        "fraction_of_limit_used": round(calls / allowed, 3), "bookings": Booking.objects.count(),
    }
    print(json.dumps(report, indent=2))
    ok = report["bookings"] == args.invitees
    print(f"{'PASS' if ok else 'FAIL'}: {report['bookings']} bookings; limit used {report['fraction_of_limit_used']:.0%} (target >= 90 %)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
