import time

from django.core.management.base import BaseCommand

from attribution.services import bookings_reattribute
from project.cli import day_start
from project.progress import ProgressBar


class Command(BaseCommand):
    help = "Recompute attribution of existing bookings with the current rules and report who moved where."

    def add_arguments(self, parser):
        parser.add_argument("--since", help="Only bookings booked on or after this date (YYYY-MM-DD).")
        parser.add_argument("--dry-run", action="store_true", help="Show what would move; change nothing.")

    def handle(self, *args, since=None, dry_run=False, **options):
        since_dt = day_start(since, "--since") if since else None
        started = time.monotonic()
        bar = ProgressBar(self.stdout, label="reattribute", unit="ids")
        result = bookings_reattribute(since=since_dt, dry_run=dry_run, progress=bar.update)
        bar.finish()
        elapsed = time.monotonic() - started
        verb = "would change" if dry_run else "changed"
        self.stdout.write(
            f"{result.examined} bookings examined with rules v{result.rules_version}, "
            f"{result.changed} {verb} in {elapsed:.1f}s"
        )
        if not result.moves:
            self.stdout.write("No booking moved between channels.")
        for (old, new), count in sorted(result.moves.items(), key=lambda kv: -kv[1]):
            self.stdout.write(f"  {old or '(none)':>16} → {new:<16} {count}")
