from datetime import datetime, timedelta, timezone

import pytest

from attribution.models import ReattributeJob
from attribution.services import reattribute_job_run
from bookings import calendly
from bookings.samples import invitee_payload

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def book(post_signed):
    """Create a booking through the real webhook endpoint."""
    counter = {"n": 0}

    def make(*, days=0, utm=None, answer=None, canceled=False, no_show=False, event_type="Product demo", email=None, **extra):
        counter["n"] += 1
        n = counter["n"]
        at = T0 + timedelta(days=days, minutes=n)
        qa = [{"question": "How did you hear about us?", "answer": answer, "position": 0}] if answer else []
        common = dict(invitee_id=f"I{n}", booked_at=at, tracking=utm or {}, questions_and_answers=qa,
                      event_type_name=event_type, email=email or f"p{n}@example.com", **extra)
        assert post_signed(invitee_payload(**common)).status_code == 200
        if canceled:
            assert post_signed(invitee_payload(event=calendly.INVITEE_CANCELED, updated_at=at + timedelta(hours=1), **common)).status_code == 200
        if no_show:
            assert post_signed(invitee_payload(event=calendly.NO_SHOW_CREATED, occurred_at=at + timedelta(days=3), **common)).status_code == 200
        return f"https://api.calendly.com/scheduled_events/EV-I{n}/invitees/I{n}"

    return make


def run_queued_reattribute() -> None:
    """Do what the Celery worker does with a queued re-attribution job (tests never run a broker consumer)."""
    for job_id in ReattributeJob.objects.filter(state__in=ReattributeJob.ACTIVE_STATES).values_list("pk", flat=True):
        reattribute_job_run(job_id=job_id)


def assign_confirmed(client, data: dict, *, url: str = "/dashboard/direct/", **kwargs):
    """An assignment as the backlog makes it: POST → the preview → POST its confirm (the values it previewed)."""
    preview = client.post(url, data, **kwargs)
    assert preview.status_code == 200, preview.status_code
    signature = preview.context["preview"]["signature"]
    assert signature, preview.context["preview"]["form"].errors
    return client.post(url, {**data, "confirm": "1", "previewed": signature}, **kwargs)
