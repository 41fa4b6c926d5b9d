import time

from django.core.management.base import BaseCommand, CommandError

from attribution.services import ReattributeBusy, bookings_reattribute, reattribute_job_start, reattribute_preview
from project.cli import day_start
from project.progress import ProgressBar


class Command(BaseCommand):
    help = ("Recompute attribution of existing bookings with the current rules and report who moved where "
            "(as a re-attribution job: batch by batch, resumable, visible in the admin and on the dashboard).")

    def add_arguments(self, parser):
        parser.add_argument("--since", help="Only bookings booked on or after this date (YYYY-MM-DD).")
        parser.add_argument("--dry-run", action="store_true", help="Show what would move; change nothing.")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--wait", action="store_true", help="Run the job in this process with progress (default).")
        mode.add_argument("--background", action="store_true", help="Only queue the job for a Celery worker.")

    def handle(self, *args, since=None, dry_run=False, background=False, **options):
        since_dt = day_start(since, "--since") if since else None
        started = time.monotonic()
        if dry_run:
            result = reattribute_preview(since=since_dt)
        elif background:
            job, created = reattribute_job_start(since=since_dt)
            if not created:
                raise CommandError(str(ReattributeBusy(job)))
            self.stdout.write(f"Re-attribution #{job.pk} queued; a worker runs it (progress: admin › Re-attribution jobs).")
            return
        else:
            bar = ProgressBar(self.stdout, label="reattribute", unit="bookings")
            try:
                result = bookings_reattribute(since=since_dt, progress=bar.update)
            except ReattributeBusy as exc:
                raise CommandError(str(exc)) from exc
            except RuntimeError as exc:
                raise CommandError(str(exc)) from exc
            finally:
                bar.finish()
        elapsed = time.monotonic() - started
        verb = "would change" if dry_run else "changed"
        job = f" (job #{result.job_id})" if result.job_id else ""
        self.stdout.write(
            f"{result.examined} bookings examined with rules v{result.rules_version}, "
            f"{result.changed} {verb} in {elapsed:.1f}s{job}"
        )
        if not result.moves:
            self.stdout.write("No booking moved between channels.")
        for (old, new), count in sorted(result.moves.items(), key=lambda kv: -kv[1]):
            self.stdout.write(f"  {old or '(none)':>16} → {new:<16} {count}")
