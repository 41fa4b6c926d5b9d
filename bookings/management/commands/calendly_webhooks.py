from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from bookings.calendly_client import CalendlyClient, CalendlyError
from bookings.services.subscriptions import (callback_url, subscription_check, subscription_create, subscription_repair,
                                             subscriptions_list, subscriptions_ours)


class Command(BaseCommand):
    help = "Manage the Calendly webhook subscription that points at this Sourcebook: create, list, delete, check [--repair]."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["create", "list", "delete", "check"])
        parser.add_argument("--user-scope", action="store_true",
                            help="create (and check --repair of a missing one): subscribe only the token's user "
                                 "(default: organization). list/delete/check always see both scopes.")
        parser.add_argument("--uri", help="Subscription URI to delete (default: ours).")
        parser.add_argument("--repair", action="store_true", help="With check: recreate a missing/disabled one and backfill the gap.")

    def handle(self, *args, action, user_scope=False, uri=None, repair=False, **options):
        if not settings.CALENDLY_TOKEN:
            raise CommandError("CALENDLY_TOKEN is not set: create a personal access token in Calendly (Integrations → API).")
        client = CalendlyClient.from_settings()
        try:
            me = client.me()
            # `me` is the token's user: list/delete/check look at its user-scoped subscriptions as well as the
            # organization's; create (and repairing a missing one) uses the user scope only with --user-scope.
            org = me["current_organization"]
            getattr(self, f"_{action}")(client, org, me["uri"], user_scope=user_scope, uri=uri, repair=repair)
        except CalendlyError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            client.close()

    def _print_key(self, resource, key):
        self.stdout.write(self.style.SUCCESS(f"subscribed {resource['callback_url']} ({resource['uri']})"))
        self.stdout.write(f"signing key (shown once): {key}")
        self.stdout.write("Add it to CALENDLY_WEBHOOK_SIGNING_KEYS (comma-separated, keep the old key until the switch is done) "
                          "and restart the web processes.")

    def _create(self, client, org, me, user_scope=False, **_):
        resource, key = subscription_create(client=client, organization=org, user=me if user_scope else None)
        self._print_key(resource, key)

    def _list(self, client, org, me, **_):
        subs = subscriptions_list(client=client, organization=org, user=me)
        if not subs:
            self.stdout.write("no webhook subscriptions")
        for s in subs:
            mark = "  ← this Sourcebook" if s.get("callback_url") == callback_url() else ""
            self.stdout.write(f"{s.get('state'):<9} {s.get('scope'):<12} {s.get('callback_url')}  {s['uri']}{mark}")

    def _delete(self, client, org, me, uri=None, **_):
        if not uri:
            ours = subscriptions_ours(client=client, organization=org, user=me)
            if not ours:
                raise CommandError(f"no subscription for {callback_url()}")
            uri = ours[0]["uri"]
        client.webhook_subscription_delete(uri)
        self.stdout.write(f"deleted {uri}")

    def _check(self, client, org, me, user_scope=False, repair=False, **_):
        report = subscription_check(client=client, organization=org, user=me)
        scope = f" ({report['scope']} scope)" if report.get("scope") else ""
        self.stdout.write(f"subscription: {report['state']}{scope}" + (f" — {report['problem']}" if report["problem"] else ""))
        if report["state"] in ("missing", "disabled") and repair:
            resource, key, run = subscription_repair(client=client, organization=org, user=me if user_scope else None,
                                                     report=report)
            self._print_key(resource, key)
            self.stdout.write(f"backfilled the gap: {run.invitees} invitees ({run.created} new, {run.updated} updated)")
        elif report["problem"]:
            raise SystemExit(1)
