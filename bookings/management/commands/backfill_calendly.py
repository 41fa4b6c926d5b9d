import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from bookings.calendly_client import CalendlyClient, CalendlyError
from bookings.services.backfill import backfill_run
from project.cli import day_start


class Command(BaseCommand):
    help = ("Load bookings from the Calendly API (scheduled events with start time in the window, active and canceled) "
            "through the same derivation as webhooks. Interrupted? Run it again: it continues from its checkpoint.")

    def add_arguments(self, parser):
        parser.add_argument("--since", required=True, help="Meetings starting on or after YYYY-MM-DD.")
        parser.add_argument("--until", help="Meetings starting before YYYY-MM-DD.")
        scope = parser.add_mutually_exclusive_group()
        scope.add_argument("--user", help="A user URI (default: the token's own user when not --organization).")
        scope.add_argument("--organization", action="store_true", help="The whole organization (needs an admin token).")
        parser.add_argument("--dry-run", action="store_true", help="Read and count; store nothing.")

    def handle(self, *args, since, until=None, user=None, organization=False, dry_run=False, **options):
        if not settings.CALENDLY_TOKEN:
            raise CommandError("CALENDLY_TOKEN is not set: create a personal access token in Calendly (Integrations → API).")
        since_dt, until_dt = day_start(since, "--since"), (day_start(until, "--until") if until else None)
        client = CalendlyClient.from_settings()
        started = time.monotonic()
        try:
            me = client.me()
            org = me["current_organization"]
            user_uri = None if organization else (user or me["uri"])

            def progress(run):
                elapsed = max(time.monotonic() - started, 1e-6)
                self.stdout.write(f"\revents {run.events}  invitees {run.invitees}  ({run.invitees / elapsed:,.0f}/s, "
                                  f"{client.stats.calls} API calls, {client.stats.waits_429} rate-limit waits)", ending="")
                self.stdout.flush()

            run = backfill_run(client=client, since=since_dt, until=until_dt, organization=org, user=user_uri,
                               dry_run=dry_run, progress=progress)
        except CalendlyError as exc:
            self.stdout.write("")
            raise CommandError(f"backfill stopped: {exc}\nThe run is recorded as failed with this reason; run the same "
                               f"command again to continue from its checkpoint.") from exc
        except KeyboardInterrupt:
            self.stdout.write("\ninterrupted — run the same command again to continue from the checkpoint")
            raise SystemExit(130)
        finally:
            client.close()
        self.stdout.write("")
        verb = "would create/update" if dry_run else "created/updated"
        self.stdout.write(
            f"{'DRY RUN: ' if dry_run else ''}{run.events} events, {run.invitees} invitees: {run.created} new, "
            f"{run.updated} updated, {run.unchanged} unchanged ({verb}); {client.stats.calls} API calls, "
            f"{client.stats.waits_429} rate-limit waits ({client.stats.waited_seconds:.0f}s) in {time.monotonic() - started:.1f}s")
