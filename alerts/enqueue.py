"""Asking a worker to send the notification outbox: the one place services enqueue it (by name, so services
never import tasks). A lost message only delays: beat's sweep sends what is due."""

from __future__ import annotations

import logging

from django.db import transaction

from project.celery import app

logger = logging.getLogger("sourcebook.alerts")

SEND_TASK = "alerts.send"


def send_soon() -> None:
    try:
        app.signature(SEND_TASK).apply_async()
    except Exception:  # noqa: BLE001 - broker down: the rows are safe in PostgreSQL, beat sweeps them later
        logger.warning("could not enqueue the notification send; beat will sweep")


def send_on_commit() -> None:
    transaction.on_commit(send_soon)
