"""Work the journeys services hand to a worker, enqueued by task name after commit.

The tasks are named, never imported, so services never import tasks (tasks import services).
"""

from __future__ import annotations

import logging

from django.db import transaction

from project.celery import app

logger = logging.getLogger("sourcebook.journeys")

REFOLD_TASK = "journeys.bookings_refold"


def bookings_refold_on_commit(*, visitor_id: str) -> None:
    """After commit, so the worker sees the touch; a broker outage never fails /collect/ or /l/ (the booking
    keeps its attribution until its next delivery or a reattribute re-folds it)."""

    def enqueue():
        try:
            # By name: the registered task when this process imported it (a worker; eager mode in tests), else send_task.
            app.signature(REFOLD_TASK, kwargs={"visitor_id": visitor_id}).apply_async()
        except Exception:  # noqa: BLE001 - capture must not fail because the broker is down
            logger.warning("could not enqueue the re-fold of a visitor's bookings")

    transaction.on_commit(enqueue)
