import sys

from django.core.management.base import BaseCommand, CommandError

from privacy.services import ForgetError, person_forget


class Command(BaseCommand):
    help = ("Forget a person (GDPR erasure): delete their journey touches, blank the personal fields of their bookings "
            "(attribution and counts stay), redact their raw deliveries, keep a hashed suppression entry so no webhook, "
            "replay or backfill brings them back, and queue HubSpot's GDPR delete of their contact. Exit code 0 when "
            "done (or already forgotten), 1 when nothing is held for that email (nothing is written) or it is not an email.")

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True, help="The person's email (case and surrounding spaces ignored).")
        parser.add_argument("--dry-run", action="store_true", help="Report what would be removed; change nothing.")
        parser.add_argument("--note", default="", help="Why (e.g. a ticket number), kept on the suppression entry. "
                                                       "Never personal data.")

    def handle(self, *args, email, dry_run=False, note="", **options):
        try:
            report = person_forget(email=email, dry_run=dry_run, note=note)
        except ForgetError as exc:
            raise CommandError(str(exc)) from exc
        if not report.known:
            self.stderr.write("No data held for this email and it was never forgotten: nothing erased, nothing "
                              "suppressed.")
            sys.exit(1)
        prefix = "Dry run — would remove" if dry_run else "Removed"
        self.stdout.write(f"{prefix}:")
        labels = {"bookings": "bookings blanked (personal fields)", "visitor_ids": "visitor ids",
                  "touches": "journey touches and clicks deleted", "deliveries": "raw deliveries redacted",
                  "hubspot_syncs": "HubSpot sync rows stopped and emptied"}
        for key, value in report.counts().items():
            self.stdout.write(f"  {labels[key]}: {value}")
        if report.already_suppressed:
            self.stdout.write("  suppression: already on the list")
        else:
            self.stdout.write(f"  suppression: {'would be added' if dry_run else 'added'} "
                              f"(hash {report.email_hash[:16]}…)")
        if report.hubspot_erasure_queued:
            self.stdout.write(f"  HubSpot GDPR delete: {'would be queued' if dry_run else 'queued'} "
                              "(sent by a worker; see admin › HubSpot contact erasures)")
        else:
            self.stdout.write("  HubSpot GDPR delete: not queued again (nothing new found)")
