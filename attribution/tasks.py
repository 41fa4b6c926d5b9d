from celery import shared_task

from attribution.services import bookings_reattribute


@shared_task(name="attribution.reattribute")
def reattribute_task() -> dict:
    result = bookings_reattribute()
    return {"examined": result.examined, "changed": result.changed}
