from django.core.management.base import BaseCommand

from bookings.models import WebhookDelivery
from bookings.services.intake import deliveries_replay
from project.cli import day_start
from project.progress import ProgressBar


class Command(BaseCommand):
    help = ("Re-derive bookings from stored raw deliveries (rejected ones stay rejected; with --rejected, those whose "
            "stored signature verifies with today's keys are processed).")

    def add_arguments(self, parser):
        parser.add_argument("--failed", action="store_true", help="Only deliveries that failed.")
        parser.add_argument("--rejected", action="store_true",
                            help="Only rejected deliveries: re-verify each stored signature against today's "
                                 "CALENDLY_WEBHOOK_SIGNING_KEYS (HMAC only, a replay is late by nature) and process "
                                 "those that verify, e.g. after restoring a key rotated out too early.")
        parser.add_argument("--since", help="Only deliveries received on or after YYYY-MM-DD.")
        parser.add_argument("--id", type=int, action="append", dest="ids", help="Only this delivery id (repeatable).")
        parser.add_argument("--invitee", help="Only deliveries of this invitee URI.")

    def handle(self, *args, failed=False, rejected=False, since=None, ids=None, invitee=None, **options):
        qs = WebhookDelivery.objects.all()
        if failed:
            qs = qs.filter(state=WebhookDelivery.State.FAILED)
        if rejected:
            qs = qs.filter(state=WebhookDelivery.State.REJECTED)
        if since:
            qs = qs.filter(received_at__gte=day_start(since, "--since"))
        if ids:
            qs = qs.filter(pk__in=ids)
        if invitee:
            qs = qs.filter(invitee_uri=invitee)
        total = (qs if rejected else qs.exclude(state=WebhookDelivery.State.REJECTED)).count()
        bar = ProgressBar(self.stdout, label="replay", unit="deliveries")
        done = {"n": 0}

        def progress(_delivery):
            done["n"] += 1
            bar.update(done["n"], total)

        counts = deliveries_replay(queryset=qs, progress=progress, reverify_rejected=rejected)
        bar.finish()
        summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "nothing to replay"
        self.stdout.write(f"Replayed {sum(counts.values())} deliveries: {summary}.")
