"""Demo journeys for `make run` (called by seed_demo): visitors who land from a LinkedIn ad, from Google
(organic, then an AI assistant), or from a newsletter's tracked link, browse, and then book with their visitor
id in the booking's tracking. Touches go through the journeys services (the same code /collect/ and /l/<slug>
run, with a past time); the bookings are signed webhooks through the real endpoint, like seed_demo's."""

import random
from datetime import datetime, timedelta, timezone

from django.conf import settings
from django.core.management.base import BaseCommand
from django.test import Client

from bookings.samples import encode, invitee_payload, signed_headers
from journeys import services
from journeys.models import Touch, TrackedLink

SITE = "https://www.acme-analytics.example"
PEOPLE = [("Mei", "Tanaka"), ("Jonas", "Berg"), ("Priya", "Haddad"), ("Luca", "Silva"), ("Ava", "Okafor"),
          ("Omar", "Rossi"), ("Ines", "Nguyen"), ("Noah", "Kowalska"), ("Zoe", "Schmidt"), ("Sam", "Reyes"),
          ("Alex", "Tanaka"), ("Dana", "Berg")]
LINKEDIN_AD = f"{SITE}/blog/lost-utms?utm_source=linkedin&utm_medium=paid_social&utm_campaign=spring_launch_202606&li_fat_id=demo"
NEWSLETTER = {"source": "newsletter", "medium": "email", "campaign": "weekly_digest_202610"}


class Command(BaseCommand):
    help = "Load demo journeys (touches, a tracked-link click) and the bookings they lead to. Skipped if touches exist."

    def add_arguments(self, parser):
        parser.add_argument("--people", type=int, default=12, help="Number of visitors who book (default 12).")
        parser.add_argument("--force", action="store_true", help="Seed even if touches already exist.")
        parser.add_argument("--seed", type=int, default=42)

    def handle(self, *args, people=12, force=False, seed=42, **options):
        if Touch.objects.exists() and not force:
            self.stdout.write("demo journeys already present (use --force to add more)")
            return
        rng = random.Random(seed)
        now = datetime.now(timezone.utc)
        key = settings.CALENDLY_WEBHOOK_SIGNING_KEYS[0]
        client = Client(SERVER_NAME="localhost")
        link = (TrackedLink.objects.filter(destination=f"{SITE}/webinar", utm_campaign=NEWSLETTER["campaign"]).first()
                or services.tracked_link_create(destination=f"{SITE}/webinar", **NEWSLETTER)[0])
        failed = touches = 0

        def touch(vid, at, url, ref="", kind="session"):
            nonlocal touches
            services.touch_collect(touch=services.CollectedTouch(visitor_id=vid, url=url, referrer=ref, client_at=at,
                                                                 kind=kind), ip="203.0.113.7", at=at)
            touches += 1

        for i in range(people):
            first, last = PEOPLE[i % len(PEOPLE)]
            vid = services.visitor_id_new()
            booked_at = now - timedelta(days=rng.uniform(1, 45), minutes=rng.randint(0, 600))
            story = i % 3
            if story == 0:  # a LinkedIn ad lands them on a blog post; they come back directly and book
                touch(vid, booked_at - timedelta(days=rng.uniform(3, 12)), LINKEDIN_AD, "https://www.linkedin.com/")
                touch(vid, booked_at - timedelta(minutes=rng.randint(5, 90)), f"{SITE}/pricing")
                tracking = {"utm_term": vid}
            elif story == 1:  # Google organic, later an AI assistant's answer, then they book
                touch(vid, booked_at - timedelta(days=rng.uniform(5, 20)), f"{SITE}/", "https://www.google.com/")
                touch(vid, booked_at - timedelta(hours=rng.randint(2, 40)), f"{SITE}/compare", "https://chatgpt.com/")
                tracking = {"utm_term": vid}
            else:  # a Google ad first; then a click on the newsletter's tracked link, and the site's Calendly link
                touch(vid, booked_at - timedelta(days=rng.uniform(10, 30)), f"{SITE}/?gclid=demo-{i}", "https://www.google.com/")
                clicked = booked_at - timedelta(minutes=rng.randint(10, 120))
                services.tracked_link_click(link=link, visitor_id=vid, referrer="", ip="203.0.113.7", at=clicked)
                touches += 1
                touch(vid, clicked + timedelta(seconds=2), services.tracked_link_url(link=link, visitor_id=vid))
                tracking = {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": NEWSLETTER["campaign"],
                            "utm_term": vid}
            payload = invitee_payload(invitee_id=f"demo{seed}-journey-{i}", email=f"{first}.{last}.{i}@example.com".lower(),
                                      name=f"{first} {last}", booked_at=booked_at, event_type_name="Product demo",
                                      start_time=booked_at + timedelta(days=rng.randint(1, 7)), tracking=tracking)
            body = encode(payload)
            headers = {k: v for k, v in signed_headers(body, key=key).items() if k != "Content-Type"}
            response = client.post("/webhooks/calendly/", data=body, content_type="application/json", headers=headers)
            failed += response.status_code != 200
        self.stdout.write(f"seeded {people} demo journeys: {touches} touches and clicks, {people} bookings "
                          f"({failed} not accepted)")
