"""Asking a worker to drain the HubSpot outbox: the one place services enqueue it.

The task is named, never imported, so services never import tasks (tasks import services).
"""

from __future__ import annotations

import logging
import threading
import time

from django.db import transaction

from project.celery import app

logger = logging.getLogger("sourcebook.hubspot")

DRAIN_TASK = "hubspot_sync.drain"
KICK_WINDOW_SECONDS = 1.0
_kick = {"at": 0.0}
_kick_lock = threading.Lock()


def drain_soon() -> None:
    """Enqueue a drain soon; at most one enqueue per second per process (beat sweeps the rest)."""
    now = time.monotonic()
    with _kick_lock:
        if now - _kick["at"] < KICK_WINDOW_SECONDS:
            return
        _kick["at"] = now
    try:
        # By name: the registered task when this process imported it (a worker; eager mode in tests), else send_task.
        app.signature(DRAIN_TASK).apply_async(countdown=KICK_WINDOW_SECONDS)
    except Exception:  # noqa: BLE001 - broker down: the row is safe in PostgreSQL, beat sweeps it later
        logger.warning("could not enqueue HubSpot drain; beat will sweep")


def drain_on_commit() -> None:
    """After commit, so the worker sees the rows; a rolled-back change enqueues nothing."""
    transaction.on_commit(drain_soon)


ERASURE_DRAIN_TASK = "hubspot_sync.erasure_drain"


def erasure_drain_soon() -> None:
    """Enqueue a drain of the GDPR-delete outbox (beat's sweep catches what a lost message leaves)."""
    try:
        app.signature(ERASURE_DRAIN_TASK).apply_async(countdown=KICK_WINDOW_SECONDS)
    except Exception:  # noqa: BLE001 - broker down: the row is safe in PostgreSQL, beat sweeps it later
        logger.warning("could not enqueue HubSpot erasure drain; beat will sweep")


def erasure_drain_on_commit() -> None:
    transaction.on_commit(erasure_drain_soon)


DEALS_CREDIT_TASK = "attribution.deals_credit_push"  # attribution owns the credit rule: enqueued by name, never imported


def deals_credit_push_soon(*, since_iso: str) -> None:
    """After a deal read: write the credited booking's values onto the deals it read (attribution's task). The next
    read (15 minutes) enqueues again, so a lost message only delays the write."""
    try:
        app.signature(DEALS_CREDIT_TASK, kwargs={"since_iso": since_iso}).apply_async()
    except Exception:  # noqa: BLE001 - broker down: the next deal read enqueues it again
        logger.warning("could not enqueue the deal credit write; the next deal read will")
