from celery import shared_task

from bookings.services import deliveries_process_stuck


@shared_task(name="bookings.process_stuck_deliveries", ignore_result=True)
def process_stuck_deliveries_task() -> int:
    """A delivery stored but not processed (process died mid-request) is processed here."""
    return deliveries_process_stuck()
