from celery import shared_task

from bookings.services import deliveries_process_stuck, deliveries_purge_rejected


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
    from django.conf import settings

    from bookings.calendly_client import CalendlyClient
    from bookings.services import subscription_check

    if not settings.CALENDLY_TOKEN:
        return None
    client = CalendlyClient(base_url=settings.CALENDLY_API_URL, token=settings.CALENDLY_TOKEN)
    try:
        me = client.me()
        return subscription_check(client=client, organization=me["current_organization"], user=None)
    finally:
        client.close()
