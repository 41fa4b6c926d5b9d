"""Fault injection: a stream of signed deliveries and HubSpot sync under broken conditions, then the
final state in PostgreSQL and in the fake HubSpot is compared with what was sent.

Scenarios (each on its own database, local processes only):
  worker-kill   kill -9 of the Celery worker in the middle of draining, then a restart
  redis-restart Redis restarted while the worker drains
  pg-restart    PostgreSQL restarted during ingest (503 while down; the sender retries like Calendly)
  hubspot-30    the fake HubSpot answers 30 % errors (429, 500, timeouts)
  dup-reorder   20 % duplicated and reordered deliveries during load
  forged        forged, stale and oversized requests mixed into valid traffic
Prints one line per scenario and "N passed, N failed". Exit status 1 if any failed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
import psycopg  # noqa: E402

from bench.harness import PY, ROOT, bench_env, drop_database, fresh_database, free_port, gunicorn  # noqa: E402

KEY = "bench-key"
REDIS_START = ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379", "--save", "",
               "--appendonly", "no", "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log"]


def pg_cluster() -> list[str]:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    return ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main"]


class Stack:
    """gunicorn + Celery worker + fake HubSpot for one scenario database."""

    def __init__(self, db: str, *, fail_rate=0.0, rate_429=0.0, timeout_rate=0.0, latency_ms=0):
        self.db = db
        self.hubspot_port = free_port()
        self.env = bench_env(db, HUBSPOT_ACCESS_TOKEN="fake-token", HUBSPOT_API_URL=f"http://127.0.0.1:{self.hubspot_port}",
                             HUBSPOT_RATE_LIMIT="1000", HUBSPOT_TIMEOUT_SECONDS="1", HUBSPOT_MAX_ATTEMPTS="100",
                             HUBSPOT_CLAIM_TIMEOUT_SECONDS="5", HUBSPOT_BATCH_SIZE="50",
                             HUBSPOT_RETRY_MAX_SECONDS="5",
                             HUBSPOT_UNCERTAIN_CREATE_RETRY_SECONDS="2")  # the fake's search has no index lag
        self.fake = subprocess.Popen(
            [PY, "manage.py", "fake_hubspot", "--port", str(self.hubspot_port), "--preset-properties", "--rate-limit", "1000",
             "--fail-rate", str(fail_rate), "--429-rate", str(rate_429), "--timeout-rate", str(timeout_rate),
             "--timeout-sleep", "1.5", "--seed", "5", "--latency-ms", str(latency_ms)], cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, start_new_session=True)
        self.worker = None
        time.sleep(1.0)

    @property
    def hubspot(self) -> str:
        return f"http://127.0.0.1:{self.hubspot_port}"

    def start_worker(self):
        self.worker = subprocess.Popen([PY, "-m", "celery", "-A", "project", "worker", "--concurrency", "2", "-l", "warning"],
                                       cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       start_new_session=True)

    def kill_worker(self, sig=signal.SIGKILL):
        if self.worker:
            os.killpg(self.worker.pid, sig)
            self.worker.wait(timeout=30)
            self.worker = None

    def beat(self):
        """What beat does: sweep stale claims and enqueue a drain."""
        subprocess.run([PY, "-c", "import django,os;django.setup();"
                        "from hubspot_sync.services.outbox import sync_sweep_stale;sync_sweep_stale();"
                        "from hubspot_sync.tasks import hubspot_drain_task;hubspot_drain_task.delay()"],
                       cwd=ROOT, env={**self.env, "DJANGO_SETTINGS_MODULE": "project.settings"}, check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self):
        self.kill_worker(signal.SIGTERM)
        os.killpg(self.fake.pid, signal.SIGTERM)
        self.fake.wait(timeout=10)


def build_stream(n: int, seed: int):
    """(bodies, expected) — created, some canceled, some no-shows; distinct emails."""
    from datetime import datetime, timedelta, timezone

    from bookings import calendly
    from bookings.samples import encode, invitee_payload

    rng = random.Random(seed)
    now = datetime.now(timezone.utc)
    bodies, expected = [], {}
    for i in range(n):
        inv = f"f{seed}-{i}"
        utm = rng.choice([{}, {"utm_source": "google", "utm_medium": "cpc"}, {"utm_source": "linkedin", "utm_medium": "paid"}])
        common = dict(invitee_id=inv, email=f"{inv}@example.com", booked_at=now - timedelta(minutes=i), tracking=utm)
        bodies.append(encode(invitee_payload(**common)))
        state = "SCHEDULED"
        roll = rng.random()
        if roll < 0.15:
            bodies.append(encode(invitee_payload(event=calendly.INVITEE_CANCELED, updated_at=common["booked_at"] + timedelta(hours=1), **common)))
            state = "CANCELED"
        elif roll < 0.22:
            bodies.append(encode(invitee_payload(event=calendly.NO_SHOW_CREATED, occurred_at=common["booked_at"] + timedelta(days=1), **common)))
            state = "NO_SHOW"
        expected[f"https://api.calendly.com/scheduled_events/EV-{inv}/invitees/{inv}"] = state
    return bodies, expected


def send_all(url: str, bodies: list[bytes], *, retry_seconds: float = 120, during=None) -> dict:
    """Like Calendly: any non-2xx or connection error is retried with backoff (bounded)."""
    from bookings.samples import signed_headers

    import threading

    counts = {"sent": 0, "retries": 0, "gave_up": 0}
    fault = None
    with httpx.Client(timeout=10) as http:
        for i, body in enumerate(bodies):
            if during and i == len(bodies) // 3:  # the fault happens while deliveries keep coming
                fault = threading.Thread(target=during)
                fault.start()
            deadline, delay = time.monotonic() + retry_seconds, 0.2
            while True:
                try:
                    response = http.post(f"{url}/webhooks/calendly/", content=body, headers=signed_headers(body, key=KEY))
                    if response.status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    counts["gave_up"] += 1
                    break
                counts["retries"] += 1
                time.sleep(delay)
                delay = min(delay * 2, 5)
            counts["sent"] += 1
    if fault:
        fault.join()
    return counts


def wait_synced(stack: Stack, db: str, *, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with psycopg.connect(f"postgres://postgres@127.0.0.1:5432/{db}") as conn:
            left = conn.execute("SELECT count(*) FROM hubspot_sync_bookingsync WHERE state NOT IN ('synced', 'dead')").fetchone()[0]
        if left == 0:
            return
        stack.beat()
        time.sleep(2)


def verify(stack: Stack, db: str, expected: dict, sent: int) -> dict:
    with psycopg.connect(f"postgres://postgres@127.0.0.1:5432/{db}") as conn:
        stored = conn.execute("SELECT count(*) FROM bookings_webhookdelivery WHERE signature_valid").fetchone()[0]
        rows = dict(conn.execute("SELECT invitee_uri, CASE WHEN status = 'canceled' THEN 'CANCELED' WHEN no_show THEN 'NO_SHOW'"
                                 " ELSE 'SCHEDULED' END FROM bookings_booking").fetchall())
        synced = conn.execute("SELECT count(*) FROM hubspot_sync_bookingsync WHERE state = 'synced'").fetchone()[0]
        dead = conn.execute("SELECT count(*) FROM hubspot_sync_bookingsync WHERE state = 'dead'").fetchone()[0]
    state = httpx.get(f"{stack.hubspot}/__fake__/state", timeout=10).json()
    meetings = {}
    for m in state["meetings"]:
        uri = m["properties"].get("sourcebook_booking_uri")
        meetings.setdefault(uri, []).append(m["properties"].get("hs_meeting_outcome"))
    lost = sum(1 for uri in expected if uri not in rows)
    wrong_db = sum(1 for uri, s in expected.items() if rows.get(uri) not in (None, s))
    duplicates = sum(len(v) - 1 for v in meetings.values() if len(v) > 1)
    wrong_hubspot = sum(1 for uri, s in expected.items() if meetings.get(uri, [None])[0] != s)
    return {"sent": sent, "stored": stored, "booked": len(rows), "synced": synced, "dead": dead, "duplicates": duplicates,
            "lost": lost, "wrong_state_db": wrong_db, "wrong_state_hubspot": wrong_hubspot,
            "contacts": len(state["contacts"]), "throttled": state["throttled"]}


def scenario(name: str, n: int, *, hubspot=None, during_ingest=None, during_drain=None, mutate=None, extra=None) -> dict:
    db = f"sourcebook_faults_{name.replace('-', '_')}"
    fresh_database(db)
    stack = Stack(db, **(hubspot or {}))
    bodies, expected = build_stream(n, seed=hash(name) % 1000)
    if mutate:
        bodies = mutate(bodies)
    try:
        with gunicorn(db, extra_env=stack.env) as url:
            stack.start_worker()
            result = send_all(url, bodies, during=(lambda: during_ingest(stack)) if during_ingest else None)
            if extra:
                result.update(extra(url))
            if during_drain:
                time.sleep(1.5)
                during_drain(stack)
            wait_synced(stack, db)
            report = verify(stack, db, expected, sent=result["sent"])
            report.update({k: v for k, v in result.items() if k != "sent"})
    finally:
        stack.stop()
        drop_database(db)
    ok = (report["lost"] == 0 and report["duplicates"] == 0 and report["wrong_state_db"] == 0
          and report["wrong_state_hubspot"] == 0 and report["dead"] == 0 and report["booked"] == n and report["contacts"] == n)
    report["ok"] = ok
    return report


def kill_and_restart(stack: Stack):
    stack.kill_worker(signal.SIGKILL)
    time.sleep(1)
    stack.start_worker()


def restart_redis(stack: Stack):
    subprocess.run(["redis-cli", "-h", "127.0.0.1", "shutdown", "nosave"], check=False, capture_output=True)
    time.sleep(2)
    subprocess.run(REDIS_START, check=True, capture_output=True)
    time.sleep(1)


def restart_postgres(stack: Stack):
    subprocess.run([*pg_cluster(), "stop", "-m", "fast"], check=True, capture_output=True)
    time.sleep(3)  # the endpoint answers 503 meanwhile; the sender keeps retrying
    subprocess.run([*pg_cluster(), "start"], check=True, capture_output=True)


def dup_reorder(bodies: list[bytes]) -> list[bytes]:
    rng = random.Random(9)
    out = list(bodies) + rng.sample(bodies, k=len(bodies) // 5)
    for i in range(0, len(out), 10):  # shuffle within windows: cancels may arrive before creates
        window = out[i:i + 10]
        rng.shuffle(window)
        out[i:i + 10] = window
    return out


def forged_burst(url: str) -> dict:
    from bookings.samples import encode, invitee_payload, signed_headers

    codes = {}
    with httpx.Client(timeout=10) as http:
        for i in range(150):
            body = encode(invitee_payload(invitee_id=f"evil-{i}"))
            kind = i % 3
            if kind == 0:
                headers = signed_headers(body, key="attacker")
            elif kind == 1:
                headers = signed_headers(body, key=KEY, timestamp=int(time.time()) - 3600)
            else:
                body = b"{" + b" " * (1024 * 1024 + 10) + b"}"
                headers = signed_headers(body, key=KEY)
            try:
                status = http.post(f"{url}/webhooks/calendly/", content=body, headers=headers).status_code
            except httpx.HTTPError:  # a 413 may close the connection while the client is still sending
                status = "closed"
            codes[status] = codes.get(status, 0) + 1
    return {"forged_responses": codes}


SCENARIOS = {
    # HubSpot answers slowly here so batches are in flight when the worker dies / Redis goes away.
    "worker-kill": dict(hubspot={"latency_ms": 300}, during_ingest=kill_and_restart),
    "redis-restart": dict(hubspot={"latency_ms": 300}, during_ingest=restart_redis),
    "pg-restart": dict(during_ingest=restart_postgres),
    "hubspot-30": dict(hubspot={"fail_rate": 0.15, "rate_429": 0.1, "timeout_rate": 0.05}),
    "dup-reorder": dict(mutate=dup_reorder),
    "forged": dict(extra=forged_burst),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300, help="Invitees per scenario.")
    parser.add_argument("--only", action="append", choices=list(SCENARIOS))
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    os.environ.update(bench_env("sourcebook_faults"))
    import django

    django.setup()
    passed = failed = 0
    for name in args.only or SCENARIOS:
        started = time.monotonic()
        r = scenario(name, args.n, **SCENARIOS[name])
        passed, failed = passed + r["ok"], failed + (not r["ok"])
        extras = {k: v for k, v in r.items() if k not in ("ok", "sent", "stored", "booked", "synced", "duplicates", "lost")}
        print(f"{'PASS' if r['ok'] else 'FAIL'} {name:<14} sent={r['sent']} stored={r['stored']} booked={r['booked']} "
              f"synced={r['synced']} duplicates={r['duplicates']} lost={r['lost']} ({time.monotonic() - started:.0f}s) "
              f"{json.dumps(extras)}", flush=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
