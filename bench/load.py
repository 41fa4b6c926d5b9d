"""Load N synthetic bookings fast (COPY), with realistic skew, into a bench database."""

from __future__ import annotations

import json
import random
import time
from datetime import datetime, timedelta, timezone

import psycopg

CHANNEL_MIX = [  # (weight, utm_source, utm_medium, campaigns)
    (22, None, None, []),
    (14, "google", "cpc", ["brand_202611", "competitor_202610", "generic_202609"]),
    (10, "linkedin", "paid_social", ["launch_202611", "abm_202610"]),
    (8, "LinkedIn", "social", ["founder_posts_202611"]),
    (8, "newsletter", "email", ["weekly_202611", "weekly_202610"]),
    (7, "chatgpt.com", "referral", []),
    (4, "perplexity", "referral", []),
    (5, "facebook.com", "paid", ["retarget_202609"]),
    (4, "youtube", "video", ["walkthrough_202607"]),
    (4, "bing", "organic", []),
    (3, "g2", "referral", ["reviews_202609"]),
    (3, "website", "banner", []),
    (3, "partnerportal", "widget", []),
    (2, "saas-weekly", "podcast", ["sponsor_202610"]),
]
EVENT_TYPES = ["Product demo", "Product demo", "Intro call", "Pricing Q&A"]
COLUMNS = ("invitee_uri", "event_uri", "email", "name", "first_name", "last_name", "status", "timezone", "event_type_uri",
           "event_type_name", "start_time", "end_time", "booked_at", "canceled_at", "canceled_by", "canceler_type",
           "cancel_reason", "no_show", "no_show_marked_at", "questions_and_answers", "tracking", "rescheduled",
           "new_invitee_uri", "old_invitee_uri", "rescheduled_from_id", "last_event_at", "utm_raw", "source", "medium",
           "campaign", "content", "term", "channel", "visitor_id", "self_reported_raw", "self_reported_source",
           "attribution_flags", "rules_version", "hubspot_state", "hubspot_contact_id", "hubspot_meeting_id",
           "created_at", "updated_at")


def load_bookings(dsn: str, n: int, *, days: int = 730, seed: int = 7) -> float:
    """COPY n bookings spread over `days` (more recent = denser); attribution computed by our engine."""
    import django

    django.setup()
    from attribution.rules import attribution_compute, utm_raw
    from attribution.ruleset import ruleset_build

    rng = random.Random(seed)
    now = datetime.now(timezone.utc)
    ruleset = ruleset_build()
    weights = [w for w, *_ in CHANNEL_MIX]
    attributions = {}
    started = time.monotonic()
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY bookings_booking ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for i in range(n):
                _, source, medium, campaigns = rng.choices(CHANNEL_MIX, weights)[0]
                tracking = {}
                if source:
                    tracking = {"utm_source": source, "utm_medium": medium}
                    if campaigns:
                        tracking["utm_campaign"] = rng.choice(campaigns)
                raw = utm_raw(tracking)
                key = json.dumps(raw, sort_keys=True)
                if key not in attributions:
                    attributions[key] = attribution_compute(raw=raw, ruleset=ruleset)
                a = attributions[key]
                booked = now - timedelta(days=days * rng.random() ** 1.6, seconds=rng.randint(0, 86399))
                start = booked + timedelta(days=rng.randint(1, 14))
                canceled = rng.random() < 0.12
                no_show = not canceled and rng.random() < 0.05
                uri = f"https://api.calendly.com/scheduled_events/EV{i}/invitees/I{i}"
                person = i % (n // 2 + 1)  # two bookings per person on average, at one of 25,000 companies
                copy.write_row((
                    uri, uri.rsplit("/invitees/", 1)[0], f"p{person}@company{person % 25_000}.com", "Bench Person", "", "",
                    "canceled" if canceled else "active", "UTC", "", rng.choice(EVENT_TYPES), start, start + timedelta(minutes=30),
                    booked, booked + timedelta(hours=2) if canceled else None, "", "", "", no_show, None, "[]",
                    json.dumps(tracking), False, "", "", None, booked, json.dumps(raw), a.source, a.medium, a.campaign,
                    a.content, a.term, a.channel, a.visitor_id, "", "", list(a.flags), ruleset.version,
                    rng.choice(["synced", "synced", "synced", "pending"]), "", "", booked, booked,
                ))
        conn.commit()
        # Webhooks arrive in booking order, so a real table is laid out by booked_at; this COPY wrote them in
        # random order. Lay it out as production has it (reads of a day's bookings touch its pages, not all).
        cur.execute("CLUSTER bookings_booking USING booking_booked_at")
        cur.execute("ANALYZE bookings_booking")
        conn.commit()
    return time.monotonic() - started


REPORT_DB = "sourcebook_bench_report"


def million_booking_database(*, n: int, reuse: bool, db: str = REPORT_DB) -> None:
    """Point this process at the shared 1M-booking bench database, loading it unless --reuse."""
    import os
    import subprocess

    from bench.harness import PY, ROOT, bench_env, fresh_database

    os.environ.update(bench_env(db))
    os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
    if reuse:  # an older load may predate the latest migrations
        subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=os.environ.copy(), check=True)
    else:
        fresh_database(db)
        load_bookings(os.environ["DATABASE_URL"], n)
