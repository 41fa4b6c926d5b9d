"""Completing bookings from the Calendly API when a webhook did not carry everything.

Older webhook payloads have no embedded `scheduled_event` (only `event` as a URI), so the booking
has no start time and no event type. A Celery task (never the webhook request) fetches the scheduled
event and the invitee from the API and stores them as an API snapshot delivery (origin `backfill`,
exactly what `backfill_calendly` stores), so the fold reads it like any delivery: a replay of every
stored delivery keeps the fetched fields, and a later backfill of the same invitee dedupes with it.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction

from bookings import calendly
from bookings.models import Booking

logger = logging.getLogger("sourcebook.calendly")

EVENT_FIELDS = ("start_time", "end_time", "event_type_uri", "event_type_name")


def booking_event_fetch_needed(*, fields: dict, events: list) -> bool:
    """A fold that lacks the scheduled event's details and has never asked the API: fetch them.

    Once an API snapshot of the invitee is stored, the API has answered; asking again would loop."""
    if not settings.CALENDLY_TOKEN or not fields.get("event_uri"):
        return False
    if all(fields.get(name) for name in EVENT_FIELDS):
        return False
    return not any(event.kind == calendly.INVITEE_SNAPSHOT for event in events)


def booking_event_fetch_enqueue(*, booking_id: int) -> None:
    """After commit, so the worker sees the booking; a broker outage never fails the webhook."""

    def enqueue():
        from bookings.tasks import booking_event_fetch_task

        try:
            booking_event_fetch_task.delay(booking_id=booking_id)
        except Exception:  # noqa: BLE001 - the booking is stored; replay_deliveries or a backfill completes it later
            logger.warning("could not enqueue the scheduled-event fetch", extra={"booking_id": booking_id})

    transaction.on_commit(enqueue)


def booking_event_fetch(*, client, booking_id: int) -> str:
    """Fill a booking's start/end time and event type from the API when they are still empty.

    Returns what happened: 'gone', 'complete' (nothing to do), 'no event' or the backfill outcome
    ('created' | 'updated' | 'unchanged'). CalendlyError propagates (the task decides on retry)."""
    from bookings.services import backfill_invitee

    booking = Booking.objects.filter(pk=booking_id).values("invitee_uri", "event_uri", *EVENT_FIELDS).first()
    if booking is None:
        return "gone"
    if all(booking[name] for name in EVENT_FIELDS):
        return "complete"
    if not booking["event_uri"]:
        return "no event"
    event = client.scheduled_event(booking["event_uri"])
    invitee = client.invitee(booking["invitee_uri"])
    outcome = backfill_invitee(invitee=invitee, event=event)
    logger.info("scheduled event fetched", extra={"booking_id": booking_id, "invitee_uri": booking["invitee_uri"],
                                                 "result": outcome})
    return outcome
