"""Rules of the fold that a plausible bug would break (each test here failed on a planted mutant)."""

from datetime import datetime, timedelta, timezone
from itertools import permutations

import pytest

from bookings import calendly
from bookings.models import Booking
from bookings.samples import encode, invitee_payload
from bookings.services.intake import delivery_process, delivery_record

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=timezone.utc)
URI = "https://api.calendly.com/scheduled_events/EV-F/invitees/F"

pytestmark = pytest.mark.django_db


def _event(kind, at):
    return invitee_payload(event=kind, invitee_id="F", event_id="EV-F", booked_at=T0, updated_at=at, occurred_at=at)


def _deliver_all(payloads):
    for payload in payloads:
        delivery_process(delivery=delivery_record(body=encode(payload), headers={}, remote_addr=None, origin="backfill"))
    return Booking.objects.get(invitee_uri=URI)


@pytest.mark.parametrize("order", list(permutations(range(3))))
def test_a_cancel_is_final_even_when_a_no_show_statement_comes_after_it(order):
    """A no-show marked after the cancel (Calendly allows marking any past meeting) is news about
    the no-show flag only: it never makes a canceled booking active again."""
    history = [_event(calendly.INVITEE_CREATED, T0), _event(calendly.INVITEE_CANCELED, T0 + timedelta(days=1)),
               _event(calendly.NO_SHOW_CREATED, T0 + timedelta(days=4))]
    booking = _deliver_all([history[i] for i in order])
    assert booking.status == Booking.Status.CANCELED
    assert booking.no_show is True


@pytest.mark.parametrize("unmark_first", [False, True])
def test_mark_and_unmark_at_the_same_instant_leave_the_booking_unmarked(unmark_first):
    """A no-show can only be deleted after it was created: at equal timestamps the unmark is the later
    statement, whatever order the two deliveries arrive in."""
    at = T0 + timedelta(days=4)
    mark, unmark = _event(calendly.NO_SHOW_CREATED, at), _event(calendly.NO_SHOW_DELETED, at)
    pair = [unmark, mark] if unmark_first else [mark, unmark]
    booking = _deliver_all([_event(calendly.INVITEE_CREATED, T0), *pair])
    assert booking.no_show is False
    assert booking.no_show_marked_at is None
