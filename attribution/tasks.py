from celery import shared_task

from attribution.rollup import rollup_compact, upcoming_compact
from django.utils.dateparse import parse_datetime

from attribution.services import deals_credit_push, reattribute_job_run, reattribute_job_start, reattribute_job_sweep


@shared_task(name="attribution.reattribute_job", ignore_result=True)
def reattribute_job_task(*, job_id: int) -> None:
    """Run or resume one re-attribution job (a runner that finds it taken returns)."""
    reattribute_job_run(job_id=job_id)


@shared_task(name="attribution.reattribute_job_sweep", ignore_result=True)
def reattribute_job_sweep_task() -> list[int]:
    return reattribute_job_sweep()


@shared_task(name="attribution.reattribute", ignore_result=True)
def reattribute_task() -> int:
    """Kept for schedules that name it: queues a job (or finds the active one)."""
    job, _ = reattribute_job_start()
    return job.pk


@shared_task(name="attribution.rollup_compact", ignore_result=True)
def rollup_compact_task() -> int:
    return rollup_compact()


@shared_task(name="attribution.upcoming_compact", ignore_result=True)
def upcoming_compact_task() -> int:
    return upcoming_compact()


# Enqueued by name after each deal read (hubspot_sync/enqueue.py DEALS_CREDIT_TASK): keep the two in step.
@shared_task(name="attribution.deals_credit_push", ignore_result=True)
def deals_credit_push_task(*, since_iso: str | None = None) -> dict:
    """The credited booking's channel, source and campaign onto the HubSpot deals read since `since_iso`."""
    report = deals_credit_push(since=parse_datetime(since_iso) if since_iso else None)
    return report.__dict__
