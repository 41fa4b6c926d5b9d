"""Demo data sent as signed webhooks through the real endpoint, so the demo exercises the real path."""

import random
from datetime import datetime, timedelta, timezone

from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.test import Client

from bookings import calendly
from bookings.models import Booking
from bookings.samples import encode, invitee_payload, signed_headers

# (weight, tracking) — realistic mess: mixed case, aliases, banned values, an id-only utm_term.
SOURCES = [
    (14, {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "brand_search_202609"}),
    (8, {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "competitor_202610"}),
    (10, {"utm_source": "linkedin", "utm_medium": "paid_social", "utm_campaign": "spring_launch_202606"}),
    (6, {"utm_source": "LinkedIn", "utm_medium": "social", "utm_campaign": "founder_posts_202609"}),
    (3, {"utm_source": "lnkd.in", "utm_medium": "social", "utm_campaign": "founder_posts_202609"}),
    (8, {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "weekly_digest_202610"}),
    (6, {"utm_source": "chatgpt.com", "utm_medium": "referral"}),
    (4, {"utm_source": "perplexity", "utm_medium": "referral"}),
    (4, {"utm_source": "facebook.com", "utm_medium": "paid", "utm_campaign": "retarget_202608"}),
    (2, {"utm_source": "Facebook", "utm_medium": "Paid", "utm_campaign": "retarget_202608"}),
    (3, {"utm_source": "youtube", "utm_medium": "video", "utm_campaign": "demo_walkthrough_202607"}),
    (3, {"utm_source": "bing", "utm_medium": "organic"}),
    (3, {"utm_source": "g2", "utm_medium": "referral", "utm_campaign": "reviews_202609"}),
    (2, {"utm_source": "saas-weekly", "utm_medium": "podcast", "utm_campaign": "sponsor_202610"}),
    (2, {"utm_source": "website", "utm_medium": "banner"}),
    (2, {"utm_source": "partnerportal", "utm_medium": "widget"}),
    (2, {"utm_term": "vid-4f9a2c"}),
    (25, {}),
]
ANSWERS = ["ChatGPT", "A friend", "LinkedIn", "Podcast", "Google search", "Perplexity", "Conference", "", "", ""]
EVENT_TYPES = ["Product demo", "Product demo", "Intro call", "Pricing Q&A"]
FIRST = ["Dana", "Sam", "Alex", "Priya", "Jonas", "Mei", "Luca", "Ava", "Noah", "Zoe", "Omar", "Ines"]
LAST = ["Reyes", "Okafor", "Schmidt", "Tanaka", "Rossi", "Nguyen", "Silva", "Kowalska", "Haddad", "Berg"]


class Command(BaseCommand):
    help = "Load demo bookings by sending signed sample webhooks through /webhooks/calendly/."

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, default=300, help="Number of bookings (default 300).")
        parser.add_argument("--force", action="store_true", help="Send even if bookings already exist.")
        parser.add_argument("--seed", type=int, default=42)

    def handle(self, *args, count=300, force=False, seed=42, **options):
        if Booking.objects.exists() and not force:
            self.stdout.write("demo data already present (use --force to add more)")
            self._journeys(seed=seed)  # an older demo database gains its journeys once
            self._spend(seed=seed)  # and its spend
            return
        import logging

        logging.getLogger("sourcebook.intake").setLevel(logging.WARNING)  # 300 "processed" lines help nobody
        rng = random.Random(seed)
        key = settings.CALENDLY_WEBHOOK_SIGNING_KEYS[0]
        client = Client(SERVER_NAME="localhost")
        now = datetime.now(timezone.utc)
        weights, trackings = zip(*SOURCES)
        sent = failed = 0

        def send(payload):
            nonlocal sent, failed
            body = encode(payload)
            headers = {k: v for k, v in signed_headers(body, key=key).items() if k != "Content-Type"}
            response = client.post("/webhooks/calendly/", data=body, content_type="application/json", headers=headers)
            sent += 1
            failed += response.status_code != 200

        for i in range(count):
            booked_at = now - timedelta(days=rng.triangular(0, 120, 10), minutes=rng.randint(0, 1439))
            first, last = rng.choice(FIRST), rng.choice(LAST)
            answer = rng.choice(ANSWERS)
            common = dict(
                invitee_id=f"demo{seed}-{i}", email=f"{first}.{last}{i}@example.com".lower(), name=f"{first} {last}",
                booked_at=booked_at, start_time=booked_at + timedelta(days=rng.randint(1, 10), hours=rng.randint(0, 8)),
                event_type_name=rng.choice(EVENT_TYPES), tracking=rng.choices(trackings, weights)[0],
                questions_and_answers=[{"question": "How did you hear about us?", "answer": answer, "position": 0}] if answer else [],
            )
            send(invitee_payload(**common))
            roll = rng.random()
            if roll < 0.12:
                send(invitee_payload(event=calendly.INVITEE_CANCELED, updated_at=booked_at + timedelta(hours=rng.randint(1, 48)),
                                     cancel_reason=rng.choice(["Scheduling conflict", "No longer needed", ""]), **common))
            elif roll < 0.15:
                send(invitee_payload(event=calendly.NO_SHOW_CREATED, occurred_at=common["start_time"] + timedelta(minutes=15), **common))

        # One reschedule: the old invitee is canceled (rescheduled) and a new one is created.
        old = dict(invitee_id=f"demo{seed}-resched-old", event_id=f"EV-demo{seed}-old", email="dana.reyes@example.com",
                   name="Dana Reyes", booked_at=now - timedelta(days=6), event_type_name="Product demo",
                   tracking={"utm_source": "linkedin", "utm_medium": "paid_social", "utm_campaign": "spring_launch_202606"})
        new_uri = f"https://api.calendly.com/scheduled_events/EV-demo{seed}-new/invitees/demo{seed}-resched-new"
        old_uri = f"https://api.calendly.com/scheduled_events/EV-demo{seed}-old/invitees/demo{seed}-resched-old"
        send(invitee_payload(**old))
        send(invitee_payload(event=calendly.INVITEE_CANCELED, rescheduled=True, new_invitee=new_uri,
                             updated_at=now - timedelta(days=5), cancel_reason="Moved to next week", **old))
        send(invitee_payload(invitee_id=f"demo{seed}-resched-new", event_id=f"EV-demo{seed}-new", email="dana.reyes@example.com",
                             name="Dana Reyes", booked_at=now - timedelta(days=5), event_type_name="Product demo",
                             old_invitee=old_uri))
        self.stdout.write(f"sent {sent} signed webhooks ({failed} not accepted); {Booking.objects.count()} bookings now")
        self._journeys(seed=seed)
        self._spend(seed=seed)

    def _spend(self, *, seed):
        # Demo spend belongs to the attribution app, which imports bookings: called by name, like the journeys.
        if apps.is_installed("attribution"):
            call_command("seed_spend", seed=seed, stdout=self.stdout)

    def _journeys(self, *, seed):
        # Demo journeys belong to the journeys app, which imports bookings (never the other way): its command is
        # called by name, so this module imports nothing of it. It skips itself once touches exist.
        if apps.is_installed("journeys"):
            call_command("seed_journeys", seed=seed, stdout=self.stdout)
