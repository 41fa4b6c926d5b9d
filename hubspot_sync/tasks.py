"""Celery entry points: thin, idempotent by state."""

from celery import shared_task

from hubspot_sync.services import outbox
from hubspot_sync.services.sync import sync_drain


@shared_task(name="hubspot_sync.drain", ignore_result=True)
def hubspot_drain_task() -> dict:
    """Drain the outbox; safe to run any number of times in parallel (claims use SKIP LOCKED)."""
    report = sync_drain()
    return {"claimed": report.claimed, "synced": report.synced, "retried": report.retried, "dead": report.dead}


@shared_task(name="hubspot_sync.sweep", ignore_result=True)
def hubspot_sweep_task() -> None:
    """Beat: recover rows of a killed worker, then drain anything a lost task message left behind."""
    outbox.sync_sweep_stale()
    hubspot_drain_task.delay()
