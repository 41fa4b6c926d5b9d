"""Our Prometheus metrics (served with django-prometheus' at /metrics)."""

import hmac
import os

from django.conf import settings
from django.db.models import Count, Q
from django.http import HttpResponse, HttpResponseForbidden
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily

from alerts.models import Notification
from bookings.models import WebhookDelivery
from hubspot_sync.models import BookingSync
from project.clientip import client_ip

DELIVERIES = Counter("sourcebook_webhook_deliveries_total", "Calendly webhook deliveries by result", ["result"])
# The webhook is served without django-prometheus' middleware (project/wsgi.py): its latency is measured here.
WEBHOOK_SECONDS = Histogram("sourcebook_webhook_seconds", "Time to verify, derive and store one Calendly delivery",
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5))
BOOKING_EVENTS = Counter("sourcebook_booking_events_total", "Booking events applied, by Calendly event", ["event"])
HUBSPOT_REQUESTS = Counter("sourcebook_hubspot_requests_total", "HubSpot API requests by operation and status", ["operation", "status"])
HUBSPOT_REFRESH = Counter("hubspot_refresh_attempts_total", "HubSpot OAuth token refresh attempts", ["result"])
SYNC_BATCH_SECONDS = Histogram("sourcebook_hubspot_sync_batch_seconds", "Duration of one HubSpot sync batch")
JOURNEY_REQUESTS = Counter("sourcebook_journey_requests_total", "Journey capture requests (/collect/, /l/) by result: "
                           "touch, click, bot, malformed, too_large, forbidden", ["result"])
BACKFILL_INVITEES = Counter("sourcebook_backfill_invitees_total", "Invitees read by the Calendly backfill", ["result"])


class QueueCollector:
    """Gauges read at scrape time: outbox depth, dead letters, deliveries stuck in `received`, unsent messages."""

    def describe(self):
        return []  # registering must not query the database (it happens at app start-up)

    def collect(self):
        try:
            queue = BookingSync.objects.aggregate(
                depth=Count("pk", filter=Q(state__in=["pending", "in_flight"])), dead=Count("pk", filter=Q(state="dead")))
            stuck = WebhookDelivery.objects.filter(state__in=["received", "failed"]).values("state").annotate(n=Count("id"))
            messages = Notification.objects.aggregate(
                pending=Count("pk", filter=Q(state__in=["pending", "in_flight"])), dead=Count("pk", filter=Q(state="dead")))
        except Exception:  # noqa: BLE001 - a scrape must not fail because the DB is down
            return
        yield GaugeMetricFamily("sourcebook_hubspot_outbox_depth", "Bookings waiting for HubSpot", value=queue["depth"])
        yield GaugeMetricFamily("sourcebook_hubspot_dead_letters", "HubSpot dead letters", value=queue["dead"])
        deliveries = GaugeMetricFamily("sourcebook_deliveries_unprocessed", "Deliveries not processed, by state", labels=["state"])
        for row in stuck:
            deliveries.add_metric([row["state"]], row["n"])
        yield deliveries
        notifications = GaugeMetricFamily("sourcebook_notifications", "Alert and digest messages not sent, by state",
                                          labels=["state"])
        for state in ("pending", "dead"):
            notifications.add_metric([state], messages[state])
        yield notifications


def metrics_registry():
    """The registry to export: in Prometheus multiprocess mode (gunicorn.conf.py sets
    PROMETHEUS_MULTIPROC_DIR) every worker's counters, summed, plus the scrape-time queue gauges."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(QueueCollector())
    return registry


def metrics_view(request):
    """Prometheus exposition behind an IP allow list or a bearer token (METRICS_* settings).

    With DEBUG off the allow-list is empty unless METRICS_ALLOWED_IPS is set (settings.py): behind a
    proxy on this host every visitor would be 127.0.0.1. The address is our trusted-proxy client IP.
    """
    token = settings.METRICS_TOKEN
    auth = request.headers.get("Authorization", "")
    allowed = client_ip(request) in settings.METRICS_ALLOWED_IPS
    if token and hmac.compare_digest(auth, f"Bearer {token}"):
        allowed = True
    if not allowed:
        return HttpResponseForbidden("metrics: not allowed from here (set METRICS_TOKEN and send Authorization: Bearer <token>)")
    return HttpResponse(generate_latest(metrics_registry()), content_type=CONTENT_TYPE_LATEST)


_registered = {"done": False}


def register_collectors():
    if _registered["done"]:
        return
    REGISTRY.register(QueueCollector())
    _registered["done"] = True
