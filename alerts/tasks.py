"""Thin Celery tasks: beat's entries (project/settings.py) call the services."""

from celery import shared_task

from alerts.services.alerts import alerts_evaluate
from alerts.services.digest import digest_due
from alerts.services.outbox import send_due, send_sweep


@shared_task(name="alerts.send", ignore_result=True)
def send_task() -> None:
    send_due()


@shared_task(name="alerts.sweep", ignore_result=True)
def sweep_task() -> None:
    send_sweep()


@shared_task(name="alerts.evaluate", ignore_result=True)
def evaluate_task() -> None:
    alerts_evaluate()


@shared_task(name="alerts.digest_due", ignore_result=True)
def digest_due_task() -> None:
    digest_due()
