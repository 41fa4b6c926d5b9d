"""Celery entry points for journeys (thin)."""

from celery import shared_task

from journeys.services import bookings_refold_for_visitor, touches_purge


@shared_task(name="journeys.purge_touches", ignore_result=True)
def purge_touches_task() -> int:
    """Beat, daily: touches older than JOURNEY_RETENTION_DAYS are deleted."""
    return touches_purge()


# Enqueued by name (journeys/enqueue.py REFOLD_TASK): keep the two in step.
@shared_task(name="journeys.bookings_refold", ignore_result=True)
def bookings_refold_task(visitor_id: str) -> int:
    """A touch arrived after its visitor booked: re-fold those bookings so their journey includes it."""
    return bookings_refold_for_visitor(visitor_id=visitor_id)
