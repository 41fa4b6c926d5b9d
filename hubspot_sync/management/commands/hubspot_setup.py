from django.core.management.base import BaseCommand, CommandError

from hubspot_sync.client import HubSpotError
from hubspot_sync.services.connection import connection_mode
from hubspot_sync.services.setup import hubspot_setup
from hubspot_sync.services.sync import hubspot_client


class Command(BaseCommand):
    help = "Create the Sourcebook property group and properties in HubSpot (safe to run again) and check the token's scopes."

    def handle(self, *args, **options):
        if connection_mode() == "dry_run":
            raise CommandError("No HubSpot credentials: set HUBSPOT_ACCESS_TOKEN (or the OAuth settings) first.")
        client = hubspot_client()
        try:
            for line in hubspot_setup(client=client):
                self.stdout.write(line)
        except HubSpotError as exc:
            raise CommandError(f"HubSpot refused: {exc.status} {exc.message}") from exc
        finally:
            client.close()
        self.stdout.write(self.style.SUCCESS("HubSpot is ready for Sourcebook."))
