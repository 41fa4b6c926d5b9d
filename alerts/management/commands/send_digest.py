"""`manage.py send_digest [--dry-run] [--to NAME] [--week YYYY-MM-DD]`: the weekly digest by hand."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from alerts.digest import digest_build, last_full_week, week_of
from alerts.digest_render import render_text
from alerts.models import Destination
from alerts.services.digest import digest_send
from attribution.periods import date_parse


class Command(BaseCommand):
    help = ("Queue the weekly digest (the last full Monday–Sunday week in SOURCEBOOK_TIME_ZONE, or --week) for every "
            "enabled destination subscribed to it, or one (--to); each destination gets a week's digest once. "
            "--dry-run prints it as text and records nothing.")

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="print the digest on stdout; send and record nothing")
        parser.add_argument("--to", metavar="DESTINATION_NAME", help="only this destination (its name in the admin)")
        parser.add_argument("--week", metavar="YYYY-MM-DD", help="the Monday–Sunday week holding this day "
                                                                  "(default: the last full week)")

    def handle(self, *args, dry_run=False, to=None, week=None, **options):
        period = self._week(week)
        destinations = None
        if to is not None:
            # PostgreSQL refuses a NUL in a query: no name can hold one.
            destination = None if "\x00" in to else Destination.objects.filter(name=to).first()
            if destination is None:
                names = ", ".join(Destination.objects.values_list("name", flat=True)) or "none yet (add one in the admin)"
                raise CommandError(f"No destination named {to!r}. Destinations: {names}.")
            if not (destination.enabled and destination.digest):
                raise CommandError(f"{destination.name!r} is {'disabled' if not destination.enabled else 'not subscribed to the weekly digest'}:"
                                   " change that in the admin first.")
            destinations = [destination]
        if dry_run:  # the same text for any destination; --to is checked all the same
            self.stdout.write(render_text(digest_build(period)), ending="")
            return
        if period.end > timezone.localdate():
            # Each destination gets a week's digest once: sent now, Monday's full week would be "already sent".
            raise CommandError(f"--week: the week of {period.label} has not ended yet; --dry-run shows it so far")
        result = digest_send(period, destinations=destinations)
        for row in result.queued:
            self.stdout.write(f"queued the digest of {period.label} for {row.destination.name} (notification #{row.pk})")
        for destination in result.already:
            self.stdout.write(f"{destination.name} already has the digest of {period.label}: not sent again "
                              "(see Notifications in the admin)")
        if not result.queued and not result.already:
            self.stdout.write("no enabled destination subscribes to the weekly digest: nothing queued")

    def _week(self, value):
        if value is None:
            return last_full_week()
        try:
            day = date_parse(value)
        except ValueError as exc:
            raise CommandError(f"--week: {exc}") from None
        period = week_of(day)
        if period.start > timezone.localdate():
            raise CommandError(f"--week: the week of {period.label} has not started yet")
        return period
