"""Celery entry points for journeys (thin)."""

from celery import shared_task

from journeys.services import touches_purge


@shared_task(name="journeys.purge_touches", ignore_result=True)
def purge_touches_task() -> int:
    """Beat, daily: touches older than JOURNEY_RETENTION_DAYS are deleted."""
    return touches_purge()
