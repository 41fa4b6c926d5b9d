"""HubSpot sync throughput: 10,000 bookings through the fake HubSpot at its 100-requests-per-10-s limit.

With the field mapping's defaults: every batch first reads the contacts' current values of the only-if-empty
fields (first/last name, phone, owner), so a batch of 100 is three requests (read, upsert, meeting create) and
bookings/s includes the reads. One person in ten already exists in HubSpot with a first name a rep typed: it must
survive the run (only-if-empty), and half the bookings carry a phone.

Compares Sourcebook's batched, rate-limited outbox drain with the seed article's handler shape
(one contact upsert + one meeting create per booking) in the same run. Checks the fake's final
state: every booking is one meeting, every person one contact, nothing duplicated.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import bench_env, fresh_database, machine  # noqa: E402

DB = "sourcebook_bench_sync"


def _worker(env: dict, seconds: float) -> None:
    os.environ.update(env)
    import django

    django.setup()
    from hubspot_sync.services.sync import sync_drain

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        report = sync_drain(max_seconds=deadline - time.monotonic())
        if report.claimed == 0:
            from hubspot_sync.models import BookingSync

            if not BookingSync.objects.filter(state__in=["pending", "in_flight"]).exists():
                return
            time.sleep(0.5)  # rows waiting for their backoff


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--fail-rate", type=float, default=0.0)
    parser.add_argument("--naive", type=int, default=200, help="Bookings sent the one-request-per-contact way.")
    parser.add_argument("--limit", type=int, default=100, help="Fake HubSpot requests per 10 s.")
    parser.add_argument("--db", default=DB, help="Throwaway database (dropped and recreated).")
    parser.add_argument("--limiter-share", type=float, default=0.95,
                        help="Our shared limiter's budget as a share of the fake's limit (production default: 90 of 100).")
    args = parser.parse_args()

    env = bench_env(args.db, HUBSPOT_ACCESS_TOKEN="fake-token", HUBSPOT_RATE_LIMIT=str(int(args.limit * args.limiter_share)), HUBSPOT_TIMEOUT_SECONDS="2",
                    HUBSPOT_MAX_ATTEMPTS="50", HUBSPOT_RETRY_MAX_SECONDS="5",
                    HUBSPOT_UNCERTAIN_CREATE_RETRY_SECONDS="2")  # the fake's search has no index lag
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
    fresh_database(args.db)
    from bench.load import load_bookings

    load_bookings(os.environ["DATABASE_URL"], args.n, days=60)
    import django

    django.setup()
    import httpx

    from bookings.models import Booking
    from fakes.hubspot import FakeConfig, FakeHubSpotServer
    from hubspot_sync.models import BookingSync
    from hubspot_sync.ratelimit import RateLimiter
    from hubspot_sync.services.outbox import sync_requeue

    # Distinct people so "contacts" = bookings (the loader reuses emails; make them unique here).
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("UPDATE bookings_booking SET email = 'b' || id || '@example.com', phone = CASE WHEN id % 2 = 0"
                       " THEN '+1 555 ' || id ELSE '' END")
    server = FakeHubSpotServer(port=0, config=FakeConfig(rate_limit=args.limit, fail_rate=args.fail_rate, seed=3),
                               preset_properties=True).start()
    env["HUBSPOT_API_URL"] = server.url
    os.environ["HUBSPOT_API_URL"] = server.url
    from django.conf import settings

    settings.HUBSPOT_API_URL = server.url
    RateLimiter().reset()

    # --- the seed article's way: one upsert and one meeting create per booking, inline ---
    naive_ids = list(Booking.objects.order_by("id").values_list("id", flat=True)[: args.naive])
    from hubspot_sync.client import HubSpotClient, HubSpotError
    from hubspot_sync.services.payloads import contact_properties, meeting_properties

    client = HubSpotClient(base_url=server.url, token="fake-token", timeout=5)
    started = time.monotonic()
    naive_429 = 0
    for booking in Booking.objects.filter(id__in=naive_ids):
        # The handler's shape: upsert this contact, then create its meeting; a 429 makes it wait and retry.
        contact_id = None
        while contact_id is None:
            try:
                result = client.contacts_batch_upsert([{"idProperty": "email", "id": booking.email,
                                                        "properties": contact_properties(bookings=[booking])}])
                contact_id = result.results[0]["id"]
            except HubSpotError as exc:
                naive_429 += exc.kind == "rate_limit"
                time.sleep(exc.retry_after or 1)
        while True:
            try:
                client.meetings_batch_create([{"properties": meeting_properties(booking=booking), "associations": [
                    {"to": {"id": contact_id}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 200}]}]}])
                break
            except HubSpotError as exc:
                naive_429 += exc.kind == "rate_limit"
                time.sleep(exc.retry_after or 1)
    naive_seconds = time.monotonic() - started
    client.close()
    httpx.post(f"{server.url}/__fake__/reset")
    RateLimiter().reset()
    time.sleep(10)  # let the fake's rolling window empty

    # --- Sourcebook: queue everything, drain with N workers ---
    # One person in ten is already a HubSpot contact whose first name a rep typed (only-if-empty must keep it).
    rep_typed = [e for e in Booking.objects.order_by("id").values_list("email", flat=True)][::10]
    with server.fake.lock:
        for email in rep_typed:
            server.fake.contacts[email] = {"id": server.fake._id(), "properties": {"email": email, "firstname": "RepTyped"}}
    sync_requeue(booking_ids=list(Booking.objects.values_list("id", flat=True)))
    started = time.monotonic()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(env, 900)) for _ in range(args.workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    elapsed = time.monotonic() - started
    state = httpx.get(f"{server.url}/__fake__/state").json()
    server.stop()

    bookings = Booking.objects.count()
    requests = sum(n for k, n in state["requests"].items())
    contacts, meetings = len(state["contacts"]), len(state["meetings"])
    window_s = 10
    kept = sum(1 for e in rep_typed if state["contacts"].get(e, {}).get("firstname") == "RepTyped")
    per_batch = 3  # the only-if-empty read, the contact upsert, the meeting create
    ceiling = args.limit / window_s * 100 / per_batch
    report = {
        "machine": machine(), "bookings": bookings, "workers": args.workers, "fail_rate": args.fail_rate,
        "seconds": round(elapsed, 1), "bookings_per_s": round(bookings / elapsed, 1),
        "requests_per_s": round(requests / elapsed, 2), "request_ceiling_per_s": args.limit / window_s,
        "request_budget_used": round(requests / elapsed / (args.limit / window_s), 3),
        "contact_reads": state["contact_reads"],
        "ceiling_bookings_per_s_with_reads": round(ceiling, 1),
        "bookings_per_s_vs_ceiling": round(bookings / elapsed / ceiling, 3),
        "rep_first_names_kept": f"{kept}/{len(rep_typed)}",
        "phones_written": sum(1 for c in state["contacts"].values() if c.get("phone")),
        "contact_ceiling_per_s": args.limit * 100 / window_s,
        "contacts_per_s_vs_ceiling": round(contacts / elapsed / (args.limit * 100 / window_s), 3),
        "throttled_429": state["throttled"], "requests": state["requests"],
        "contacts": contacts, "meetings": meetings,
        "duplicate_meetings": len(state["duplicate_meetings"]), "lost": bookings - meetings,
        "not_synced": BookingSync.objects.exclude(state="synced").count(),
        "naive_one_request_per_contact": {"bookings": len(naive_ids), "seconds": round(naive_seconds, 1),
                                         "bookings_per_s": round(len(naive_ids) / naive_seconds, 2), "429s": naive_429},
    }
    print(json.dumps(report, indent=2))
    ok = (report["lost"] == 0 and report["duplicate_meetings"] == 0 and report["not_synced"] == 0 and contacts == bookings
          and kept == len(rep_typed))
    print(f"{'PASS' if ok else 'FAIL'}: 0 lost, 0 duplicated, rep values kept {kept}/{len(rep_typed)}; "
          f"{report['bookings_per_s']} bookings/s with the reads = {report['bookings_per_s_vs_ceiling']:.0%} of the "
          f"{ceiling:.0f}/s ceiling; request budget used {report['request_budget_used']:.0%}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
