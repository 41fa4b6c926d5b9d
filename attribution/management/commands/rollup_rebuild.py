"""Recount the report rollup from the bookings and the money rollup from the deals' credit rows (after
SOURCEBOOK_TIME_ZONE changed, or to check them)."""

import time

from django.conf import settings
from django.core.management.base import BaseCommand

from attribution.rollup import rollup_rebuild, rollup_time_zone


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, **options):
        before = rollup_time_zone()
        self.stdout.write(f"Rebuilding the report and money rollups in {settings.TIME_ZONE}"
                          + (f" (it was in {before})" if before and before != settings.TIME_ZONE else "")
                          + "; bookings wait for it (a table lock), about 1 minute per 10M bookings …")
        started = time.monotonic()
        rollup_rebuild()
        self.stdout.write(self.style.SUCCESS(f"Done in {time.monotonic() - started:.1f} s."))
