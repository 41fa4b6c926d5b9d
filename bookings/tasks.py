from celery import shared_task

from bookings.services import deliveries_process_stuck


@shared_task(name="bookings.process_stuck_deliveries", ignore_result=True)
def process_stuck_deliveries_task() -> int:
    """A delivery stored but not processed (process died mid-request) is processed here."""
    return deliveries_process_stuck()


@shared_task(name="bookings.calendly_subscription_check", ignore_result=True)
def calendly_subscription_check_task() -> dict | None:
    """Beat: notice a disabled, missing or silent subscription (raised in /healthz and logs)."""
    from django.conf import settings

    from bookings.calendly_client import CalendlyClient
    from bookings.services import subscription_check

    if not settings.CALENDLY_TOKEN:
        return None
    client = CalendlyClient.from_settings()
    try:
        me = client.me()
        # Both scopes: a subscription made with `calendly_webhooks create --user-scope` is only in the user's list.
        return subscription_check(client=client, organization=me["current_organization"], user=me["uri"])
    finally:
        client.close()
