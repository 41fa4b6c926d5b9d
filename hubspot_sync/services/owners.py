"""HubSpot's owners, cached so a Calendly host's email finds its owner without a request per contact; beat
refreshes the cache daily (hubspot_sync.owners_refresh)."""

from __future__ import annotations

from hubspot_sync.client import HubSpotClient
from hubspot_sync.services.connection import connection_mode
from hubspot_sync.services.mapping import owners_store
from hubspot_sync.services.sync import hubspot_client


def owners_refresh(*, client: HubSpotClient | None = None) -> dict:
    """Read every page of the owners API (through the shared rate limiter) and replace the cache."""
    if client is None and connection_mode() == "dry_run":
        return {"skipped": "dry run (no HubSpot credentials)"}
    own = client is None
    client = client or hubspot_client()
    try:
        return {"owners": owners_store(owners=client.owners())}
    finally:
        if own:
            client.close()
