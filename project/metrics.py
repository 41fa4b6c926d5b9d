"""Our Prometheus metrics (served with django-prometheus' at /metrics)."""

from prometheus_client import Counter, Histogram

DELIVERIES = Counter("sourcebook_webhook_deliveries_total", "Calendly webhook deliveries by result", ["result"])
BOOKING_EVENTS = Counter("sourcebook_booking_events_total", "Booking events applied, by Calendly event", ["event"])
HUBSPOT_REQUESTS = Counter("sourcebook_hubspot_requests_total", "HubSpot API requests by operation and status", ["operation", "status"])
HUBSPOT_REFRESH = Counter("hubspot_refresh_attempts_total", "HubSpot OAuth token refresh attempts", ["result"])
SYNC_BATCH_SECONDS = Histogram("sourcebook_hubspot_sync_batch_seconds", "Duration of one HubSpot sync batch")
BACKFILL_INVITEES = Counter("sourcebook_backfill_invitees_total", "Invitees read by the Calendly backfill", ["result"])
