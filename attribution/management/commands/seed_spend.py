"""Demo spend for `make run` (called by seed_demo): a spend CSV for the demo's paid campaigns, imported through the
same service as the admin's upload (attribution.services.spend_csv_import). Daily cost for the ad platforms, a
month's cost for the newsletter and the podcast sponsorship; the last two days and one day a month ago have no
data, as exports from ad platforms arrive late, so the dashboard shows how missing days are marked."""

import csv
import io
import random
from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from attribution.models import Spend
from attribution.services import spend_csv_import

# (source as an ad platform exports it, medium, campaign, usual cost a day): spellings differ from the bookings'
# UTMs on purpose (case, spaces): the import normalizes them the way UTMs are.
DAILY = [
    ("Google", "cpc", "brand_search_202609", 45),
    ("google", "CPC", "competitor_202610", 70),
    ("LinkedIn ", "paid_social", "spring_launch_202606", 120),
    ("facebook.com", "paid", "retarget_202608", 30),
    ("youtube", "video", "demo_walkthrough_202607", 25),
]
MONTHLY = [("newsletter", "email", "weekly_digest_202610", 400), ("saas-weekly", "podcast", "sponsor_202610", 1500)]
DAYS = 120
CURRENCY = "USD"  # the fake HubSpot portal's company currency: cost and won revenue compare directly


def demo_spend_csv(*, today: date, seed: int = 42) -> bytes:
    rng = random.Random(seed)
    gap = today - timedelta(days=30)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["date", "month", "source", "medium", "campaign", "cost", "currency"])
    for back in range(DAYS, 1, -1):  # up to the day before yesterday
        day = today - timedelta(days=back)
        if day == gap:
            continue
        for source, medium, campaign, usual in DAILY:
            writer.writerow([day.isoformat(), "", source, medium, campaign, f"{usual * rng.uniform(0.6, 1.4):.2f}", CURRENCY])
    months = sorted({(today - timedelta(days=back)).replace(day=1) for back in range(DAYS)})
    for month in months[:-1]:  # the running month isn't billed yet
        for source, medium, campaign, cost in MONTHLY:
            writer.writerow(["", f"{month:%Y-%m}", source, medium, campaign, f"{cost:.2f}", CURRENCY])
    return out.getvalue().encode()


class Command(BaseCommand):
    help = "Load demo spend (a CSV through the spend import). Skipped if spend exists."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Import even if spend exists (replaces the same rows).")
        parser.add_argument("--seed", type=int, default=42)

    def handle(self, *args, force=False, seed=42, **options):
        if Spend.objects.exists() and not force:
            self.stdout.write("demo spend already present (use --force to import it again)")
            return
        outcome = spend_csv_import(content=demo_spend_csv(today=timezone.localdate(), seed=seed),
                                   file_name="demo_spend.csv")
        if not outcome.ok:
            raise CommandError(f"demo spend not imported: {outcome.errors[:3]}")
        self.stdout.write(f"imported {outcome.new + outcome.replaced} demo spend rows (upload #{outcome.batch_id})")
