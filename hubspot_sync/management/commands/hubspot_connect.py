from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from hubspot_sync.services.connection import ReconnectFailed, connection_reconnect


class Command(BaseCommand):
    help = ("Reconnect HubSpot after the connection broke (e.g. BAD_REFRESH_TOKEN): store a new OAuth token pair from a "
            "refresh token or an authorization code, or re-check the private app token. Nothing to edit by hand.")

    def add_arguments(self, parser):
        parser.add_argument("--refresh-token", help="A new OAuth refresh token (default: $HUBSPOT_REFRESH_TOKEN).")
        parser.add_argument("--code", help="An OAuth authorization code from re-authorizing the app.")
        parser.add_argument("--redirect-uri", help="The redirect URI the code was issued for.")

    def handle(self, *args, refresh_token=None, code=None, redirect_uri=None, **options):
        if not settings.HUBSPOT_ACCESS_TOKEN and not code and not refresh_token:
            refresh_token = settings.HUBSPOT_REFRESH_TOKEN
            if refresh_token:
                self.stdout.write("using HUBSPOT_REFRESH_TOKEN from the environment")
        try:
            conn = connection_reconnect(refresh_token=refresh_token or "", code=code or "", redirect_uri=redirect_uri or "")
        except ReconnectFailed as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"HubSpot connection is {conn.state} again."))
