from celery import shared_task

from project.health import heartbeat_write


@shared_task(name="project.heartbeat", ignore_result=True)
def heartbeat_task() -> None:
    heartbeat_write()
