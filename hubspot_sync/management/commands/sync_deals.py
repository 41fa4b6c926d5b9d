from datetime import datetime, time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date

from hubspot_sync.client import HubSpotError
from hubspot_sync.enqueue import deals_credit_push_soon
from hubspot_sync.services.connection import connection_mode
from hubspot_sync.services.deal_credit import deals_credit_all
from hubspot_sync.services.deal_read import deals_read, search_limiter
from hubspot_sync.services.sync import hubspot_client


class Command(BaseCommand):
    help = ("Backfill deals from HubSpot: every deal modified since DATE whose contact booked, then deletions. "
            "Safe to run while beat reads deals too; the cursor never moves back.")

    def add_arguments(self, parser):
        parser.add_argument("--since", required=True, help="YYYY-MM-DD: read deals modified since this day (TIME_ZONE).")

    def handle(self, *args, since, **options):
        day = parse_date(since) if since else None
        if day is None:
            raise CommandError(f"--since must be a date like 2026-01-31, got {since!r}")
        if connection_mode() == "dry_run":
            raise CommandError("No HubSpot credentials (dry run): set HUBSPOT_ACCESS_TOKEN or connect OAuth first.")
        start = timezone.make_aware(datetime.combine(day, time.min))

        def progress(report, up_to):
            self.stdout.write(f"up to {up_to:%Y-%m-%d %H:%M}: {report.seen} deals read, {report.kept} kept, "
                              f"{report.splits} window splits, {report.requests} requests")

        started = timezone.now()
        client = hubspot_client()
        client.before_search = search_limiter().acquire
        try:
            report = deals_read(client=client, since=start, progress=progress)
        except HubSpotError as exc:
            raise CommandError(f"HubSpot refused: {exc.message}") from exc
        finally:
            client.close()
        credited = deals_credit_all(progress=lambda last, changed: self.stdout.write(
            f"credit: deals up to id {last} checked, {changed} changed"))
        self.stdout.write(self.style.SUCCESS(
            f"done: {report.seen} deals read, {report.kept} kept, {report.dropped} without a booked contact, "
            f"{report.archived} marked deleted, {report.requests} requests ({report.rate_limited} rate limited); "
            f"{credited} deals' credit changed by the full pass"))
        if report.kept:  # the credited booking's channel, source and campaign onto those deals, by a worker
            deals_credit_push_soon(since_iso=started.isoformat())
            self.stdout.write("queued: writing the credited booking's channel, source and campaign onto those deals")
