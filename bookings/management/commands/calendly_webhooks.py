from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from bookings.calendly_client import CalendlyClient, CalendlyError
from bookings.services import callback_url, subscription_check, subscription_create, subscription_repair


class Command(BaseCommand):
    help = "Manage the Calendly webhook subscription that points at this Sourcebook: create, list, delete, check [--repair]."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["create", "list", "delete", "check"])
        parser.add_argument("--user-scope", action="store_true", help="Subscribe only the token's user (default: organization).")
        parser.add_argument("--uri", help="Subscription URI to delete (default: ours).")
        parser.add_argument("--repair", action="store_true", help="With check: recreate a missing/disabled one and backfill the gap.")

    def handle(self, *args, action, user_scope=False, uri=None, repair=False, **options):
        if not settings.CALENDLY_TOKEN:
            raise CommandError("CALENDLY_TOKEN is not set: create a personal access token in Calendly (Integrations → API).")
        client = CalendlyClient(base_url=settings.CALENDLY_API_URL, token=settings.CALENDLY_TOKEN)
        try:
            me = client.me()
            org, user = me["current_organization"], (me["uri"] if user_scope else None)
            getattr(self, f"_{action}")(client, org, user, uri=uri, repair=repair)
        except CalendlyError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            client.close()

    def _print_key(self, resource, key):
        self.stdout.write(self.style.SUCCESS(f"subscribed {resource['callback_url']} ({resource['uri']})"))
        self.stdout.write(f"signing key (shown once): {key}")
        self.stdout.write("Add it to CALENDLY_WEBHOOK_SIGNING_KEYS (comma-separated, keep the old key until the switch is done) "
                          "and restart the web processes.")

    def _create(self, client, org, user, **_):
        resource, key = subscription_create(client=client, organization=org, user=user)
        self._print_key(resource, key)

    def _list(self, client, org, user, **_):
        subs = client.webhook_subscriptions(organization=org, user=user)
        if not subs:
            self.stdout.write("no webhook subscriptions")
        for s in subs:
            mark = "  ← this Sourcebook" if s.get("callback_url") == callback_url() else ""
            self.stdout.write(f"{s.get('state'):<9} {s.get('scope'):<12} {s.get('callback_url')}  {s['uri']}{mark}")

    def _delete(self, client, org, user, uri=None, **_):
        if not uri:
            ours = [s for s in client.webhook_subscriptions(organization=org, user=user) if s.get("callback_url") == callback_url()]
            if not ours:
                raise CommandError(f"no subscription for {callback_url()}")
            uri = ours[0]["uri"]
        client.webhook_subscription_delete(uri)
        self.stdout.write(f"deleted {uri}")

    def _check(self, client, org, user, repair=False, **_):
        report = subscription_check(client=client, organization=org, user=user)
        self.stdout.write(f"subscription: {report['state']}" + (f" — {report['problem']}" if report["problem"] else ""))
        if report["state"] in ("missing", "disabled") and repair:
            resource, key, run = subscription_repair(client=client, organization=org, user=user, report=report)
            self._print_key(resource, key)
            self.stdout.write(f"backfilled the gap: {run.invitees} invitees ({run.created} new, {run.updated} updated)")
        elif report["problem"]:
            raise SystemExit(1)
