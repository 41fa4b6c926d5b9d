"""The demo's sales team (`make run` without real HubSpot credentials): it works the fake HubSpot as reps would.

Every minute it looks at the demo contacts Sourcebook has synced, and for some of the people who held their
meeting a rep opens a deal in HubSpot through the public API (the same client and paths as production), some of
which are won or lost. Then it runs the deal read, so the dashboard shows money from the first minute instead of
after beat's first 15-minute read. Deterministic: the same booking always gets the same deal (or none).
"""

from __future__ import annotations

import hashlib
import time

from django.core.management.base import BaseCommand
from django.utils import timezone

from bookings.counting import COUNTABLE
from bookings.models import Booking
from hubspot_sync.client import HubSpotError
from hubspot_sync.services.deal_read import deal_read_run
from hubspot_sync.services.sync import hubspot_client

AMOUNTS = [6000, 9000, 12000, 18000, 24000, 36000, 48000]
# (share of deals, stage): won, lost, open.
STAGES = [(0.4, "closedwon"), (0.25, "closedlost"), (0.2, "presentationscheduled"), (0.15, "contractsent")]


def _roll(text: str) -> float:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def _stage(roll: float) -> str:
    total = 0.0
    for share, stage in STAGES:
        total += share
        if roll < total:
            return stage
    return STAGES[-1][1]


def _patiently(call, *args):
    """A rate-limited answer waits its Retry-After and asks again (a round is ~2 requests per deal)."""
    for _ in range(10):
        try:
            return call(*args)
        except HubSpotError as exc:
            if exc.kind != "rate_limit" or exc.daily:
                raise
            time.sleep(exc.retry_after or 1.0)
    return call(*args)


class Command(BaseCommand):
    help = "Demo only: open, win and lose HubSpot deals for held demo meetings in the fake HubSpot, then read them."

    def add_arguments(self, parser):
        parser.add_argument("--share", type=float, default=0.45, help="Share of held meetings that get a deal.")
        parser.add_argument("--every", type=float, default=60.0, help="Seconds between rounds.")
        parser.add_argument("--once", action="store_true", help="One round, then exit.")

    def handle(self, *args, share, every, once, **options):
        opened: set[str] = set()
        while True:
            try:
                made = self.round(share=share, opened=opened)
                if made:
                    self.stdout.write(f"demo sales: {made} deals opened in HubSpot")
                if opened:  # every round: the read asks only for deals older than HUBSPOT_DEAL_READ_LAG_SECONDS
                    report = deal_read_run(force=True)
                    if report.get("kept"):
                        self.stdout.write(f"demo sales: {report['kept']} deals read back")
            except (HubSpotError, OSError) as exc:  # the fake may still be starting
                self.stdout.write(f"demo sales: HubSpot not ready ({exc}); retrying")
            if once:
                return
            time.sleep(every)

    def round(self, *, share: float, opened: set[str]) -> int:
        held = (Booking.objects.filter(COUNTABLE, status="active", no_show=False, start_time__lt=timezone.now())
                .exclude(hubspot_contact_id="").order_by("booked_at").values_list("hubspot_contact_id", "email", "name"))
        made = 0
        client = hubspot_client()
        try:
            for contact_id, email, name in held:
                if contact_id in opened or _roll(f"deal:{email}") >= share:
                    continue
                opened.add(contact_id)
                if _patiently(client.deals_for_contact, contact_id):
                    continue  # opened in an earlier run
                roll = _roll(f"stage:{email}")
                _patiently(client.deal_create, {
                    "dealname": f"{name or email} – Sourcebook demo", "pipeline": "default", "dealstage": _stage(roll),
                    "amount": str(AMOUNTS[int(_roll(f"amount:{email}") * len(AMOUNTS)) % len(AMOUNTS)]),
                    "deal_currency_code": "EUR" if roll > 0.9 else "USD",
                }, contact_id)
                made += 1
        finally:
            client.close()
        return made
