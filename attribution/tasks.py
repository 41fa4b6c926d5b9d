from celery import shared_task

from attribution.services import bookings_reattribute


@shared_task(name="attribution.reattribute")
def reattribute_task() -> dict:
    result = bookings_reattribute()
    return {"examined": result.examined, "changed": result.changed}


@shared_task(name="attribution.rollup_compact", ignore_result=True)
def rollup_compact_task() -> int:
    from attribution.rollup import rollup_compact

    return rollup_compact()
