import time

from django.core.management.base import BaseCommand, CommandError

from bookings.models import Booking
from hubspot_sync.services.outbox import sync_requeue
from hubspot_sync.services.sync import sync_drain
from project.cli import day_start
from project.progress import ProgressBar


class Command(BaseCommand):
    help = "Queue bookings for HubSpot again (e.g. after fixing properties or a long outage)."

    def add_arguments(self, parser):
        parser.add_argument("--since", help="Bookings booked on or after YYYY-MM-DD.")
        parser.add_argument("--email", help="Only this person's bookings.")
        parser.add_argument("--all", action="store_true", help="Every booking.")
        parser.add_argument("--dry-run", action="store_true", help="Count what would be queued; change nothing.")
        parser.add_argument("--now", action="store_true", help="Drain here instead of leaving it to the Celery worker.")

    def handle(self, *args, since=None, email=None, all=False, dry_run=False, now=False, **options):
        if not (since or email or all):
            raise CommandError("Say what to resync: --since DATE, --email E or --all.")
        qs = Booking.objects.all()
        if since:
            qs = qs.filter(booked_at__gte=day_start(since, "--since"))
        if email:
            qs = qs.filter(email=email.strip().lower())
        ids = list(qs.values_list("id", flat=True))
        if dry_run:
            self.stdout.write(f"{len(ids)} bookings would be queued for HubSpot.")
            return
        bar = ProgressBar(self.stdout, label="queue", unit="bookings")
        for start in range(0, len(ids), 5000):
            sync_requeue(booking_ids=ids[start:start + 5000])
            bar.update(min(start + 5000, len(ids)), len(ids))
        bar.finish()
        self.stdout.write(f"{len(ids)} bookings queued for HubSpot.")
        if now:
            started = time.monotonic()
            report = sync_drain(max_seconds=3600)
            self.stdout.write(f"synced {report.synced}, retrying {report.retried}, dead {report.dead}, "
                              f"skipped (dry run) {report.skipped}, {report.requests} requests in {time.monotonic() - started:.1f}s")
