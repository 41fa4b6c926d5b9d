from celery import shared_task

from alerts.services.outbox import send_due, send_sweep


@shared_task(name="alerts.send", ignore_result=True)
def send_task() -> None:
    send_due()


@shared_task(name="alerts.sweep", ignore_result=True)
def sweep_task() -> None:
    send_sweep()



# --- Weekly digest ------------------------------------------------------------------------------

from alerts.services.digest import digest_due  # noqa: E402 - this block is appended to the module


@shared_task(name="alerts.digest_due", ignore_result=True)
def digest_due_task() -> None:
    digest_due()
