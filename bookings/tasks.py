"""Celery entry points: thin; they call services (services never import this module)."""

import logging
import random

from celery import shared_task
from django.conf import settings

from bookings.calendly_client import CalendlyClient, CalendlyError
from bookings.services.backfill import booking_event_fetch
from bookings.services.intake import deliveries_process_stuck, deliveries_purge_rejected
from bookings.services.subscriptions import subscription_check

logger = logging.getLogger("sourcebook.calendly")


@shared_task(name="bookings.process_stuck_deliveries", ignore_result=True)
def process_stuck_deliveries_task() -> int:
    """A delivery stored but not processed (process died mid-request) is processed here."""
    return deliveries_process_stuck()


@shared_task(name="bookings.purge_rejected_deliveries", ignore_result=True)
def purge_rejected_deliveries_task() -> int:
    """Beat, daily: rejected deliveries past WEBHOOK_REJECTED_RETENTION_DAYS are deleted."""
    return deliveries_purge_rejected()


@shared_task(name="bookings.calendly_subscription_check", ignore_result=True)
def calendly_subscription_check_task() -> dict | None:
    """Beat: notice a disabled, missing or silent subscription (raised in /healthz and logs)."""
    if not settings.CALENDLY_TOKEN:
        return None
    client = CalendlyClient.from_settings()
    try:
        me = client.me()
        # Both scopes: a subscription made with `calendly_webhooks create --user-scope` is only in the user's list.
        return subscription_check(client=client, organization=me["current_organization"], user=me["uri"])
    finally:
        client.close()


# Enqueued by name (bookings/enqueue.py EVENT_FETCH_TASK): keep the two in step.
@shared_task(name="bookings.booking_event_fetch", bind=True, ignore_result=True, max_retries=8)
def booking_event_fetch_task(self, booking_id: int) -> str | None:
    """An older payload had no scheduled_event: fetch it (start time, event type) from the Calendly API.
    Transient errors (network, 429, 5xx) retry with backoff and jitter; a 401/403/404 is logged and dropped."""
    if not settings.CALENDLY_TOKEN:
        return None
    # Short rate-limit waits here: a worker should not sleep for minutes; Celery's retry waits instead.
    client = CalendlyClient.from_settings(max_rate_limit_wait_seconds=min(60.0, settings.CALENDLY_RATE_LIMIT_MAX_WAIT_SECONDS))
    try:
        return booking_event_fetch(client=client, booking_id=booking_id)
    except CalendlyError as exc:
        if exc.transient and self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=min(3600, 30 * 2 ** self.request.retries) * random.uniform(0.5, 1.0))
        logger.error("could not fetch the scheduled event: %s", exc, extra={"booking_id": booking_id})
        return f"failed: {exc}"
    finally:
        client.close()
