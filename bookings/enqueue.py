"""Work the bookings services hand to a worker, enqueued by task name after commit.

The tasks are named, never imported, so services never import tasks (tasks import services).
"""

from __future__ import annotations

import logging

from django.db import transaction

from project.celery import app

logger = logging.getLogger("sourcebook.calendly")

EVENT_FETCH_TASK = "bookings.booking_event_fetch"


def booking_event_fetch_on_commit(*, booking_id: int) -> None:
    """After commit, so the worker sees the booking; a broker outage never fails the webhook."""

    def enqueue():
        try:
            # By name: the registered task when this process imported it (a worker; eager mode in tests), else send_task.
            app.signature(EVENT_FETCH_TASK, kwargs={"booking_id": booking_id}).apply_async()
        except Exception:  # noqa: BLE001 - the booking is stored; replay_deliveries or a backfill completes it later
            logger.warning("could not enqueue the scheduled-event fetch", extra={"booking_id": booking_id})

    transaction.on_commit(enqueue)
