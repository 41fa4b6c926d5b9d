"""HubSpot's owners, cached so a Calendly host's email finds its owner without a request per contact; beat
refreshes the cache daily (hubspot_sync.owners_refresh)."""

from __future__ import annotations

import logging

from hubspot_sync.client import HubSpotClient, HubSpotError
from hubspot_sync.services.connection import connection_mode
from hubspot_sync.services.mapping import owners_store
from hubspot_sync.services.sync import hubspot_client

logger = logging.getLogger("sourcebook.hubspot")


def owners_refresh(*, client: HubSpotClient | None = None) -> dict:
    """Read every page of the owners API (through the shared rate limiter) and replace the cache. A failure keeps
    the cache as it was (tomorrow's run tries again) and is logged."""
    if client is None and connection_mode() == "dry_run":
        return {"skipped": "dry run (no HubSpot credentials)"}
    own = client is None
    client = client or hubspot_client()
    try:
        return {"owners": owners_store(owners=client.owners())}
    except (HubSpotError, TimeoutError) as exc:
        message = exc.message if isinstance(exc, HubSpotError) else str(exc)
        logger.warning("could not read HubSpot's owners (the cache stays as it was): %s", message)
        return {"failed": message}
    finally:
        if own:
            client.close()
