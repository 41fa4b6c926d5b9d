"""Celery entry points: thin, idempotent by state. They call services; services never import this module
(they enqueue the drain by name through hubspot_sync/enqueue.py)."""

from celery import shared_task

from django.utils import timezone

from hubspot_sync.enqueue import deals_credit_push_soon
from hubspot_sync.services import erasure, money_rollup, outbox
from hubspot_sync.services.deal_credit import deals_credit_all
from hubspot_sync.services.deal_read import deal_read_run
from hubspot_sync.services.owners import owners_refresh
from hubspot_sync.services.sync import sync_drain


# Enqueued by name (hubspot_sync/enqueue.py DRAIN_TASK): keep the two in step.
@shared_task(name="hubspot_sync.drain", ignore_result=True)
def hubspot_drain_task() -> dict:
    """Drain the outbox; safe to run any number of times in parallel (claims use SKIP LOCKED)."""
    report = sync_drain()
    return {"claimed": report.claimed, "synced": report.synced, "retried": report.retried, "dead": report.dead}


@shared_task(name="hubspot_sync.sweep", ignore_result=True)
def hubspot_sweep_task() -> None:
    """Beat: recover rows of a killed worker, then drain anything a lost task message left behind."""
    outbox.sync_sweep_stale()
    erasure.erasure_sweep_stale()
    hubspot_drain_task.delay()
    hubspot_erasure_drain_task.delay()


# Enqueued by name (hubspot_sync/enqueue.py ERASURE_DRAIN_TASK): keep the two in step.
@shared_task(name="hubspot_sync.erasure_drain", ignore_result=True)
def hubspot_erasure_drain_task() -> dict:
    """Send queued GDPR deletes (privacy's forget_person); safe in parallel (claims use SKIP LOCKED)."""
    report = erasure.erasure_drain()
    return {"claimed": report.claimed, "done": report.done, "retried": report.retried, "dead": report.dead}


@shared_task(name="hubspot_sync.deal_read", ignore_result=True)
def hubspot_deal_read_task() -> dict:
    """Beat, every 15 minutes: deals modified since the cursor (a failure backs off and shows in /healthz); then the
    credited booking's channel, source and campaign are written onto the deals it read (attribution's task)."""
    started = timezone.now()
    result = deal_read_run()
    if result.get("kept"):
        deals_credit_push_soon(since_iso=started.isoformat())
    return result


@shared_task(name="hubspot_sync.owners_refresh", ignore_result=True)
def hubspot_owners_refresh_task() -> dict:
    """Beat, daily: HubSpot's owners, so a Calendly host's email finds its owner (the contact owner mapping)."""
    return owners_refresh()


@shared_task(name="hubspot_sync.deal_credit_all", ignore_result=True)
def hubspot_deal_credit_all_task() -> int:
    """Beat, daily: recompute every deal's credited bookings (repairs a change the sync did not see)."""
    return deals_credit_all()


@shared_task(name="hubspot_sync.money_compact", ignore_result=True)
def money_compact_task() -> int:
    """Beat, every 10 s: fold the money rollup's pending deltas (safe in parallel: an advisory lock, try-only)."""
    return money_rollup.money_compact()
