"""Rebuilding a booking from its deliveries keeps what only the row knows (found by `make mutate`)."""

from datetime import datetime, timedelta, timezone

import pytest

from attribution.services import bookings_assign_attribution
from bookings import calendly
from bookings.models import Booking
from bookings.samples import invitee_payload
from bookings.tests.factories import staff_user

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=timezone.utc)

pytestmark = pytest.mark.django_db


def test_a_later_delivery_keeps_marketings_manual_assignment(post_signed):
    common = dict(invitee_id="M1", event_id="EV-M1", booked_at=T0, tracking={})
    assert post_signed(invitee_payload(updated_at=T0, occurred_at=T0, **common)).status_code == 200
    booking = Booking.objects.get()
    assert booking.channel == "Direct"
    bookings_assign_attribution(booking_ids=[booking.pk], source="newsletter", medium="email", campaign="",
                                user=staff_user("marketer"))
    later = T0 + timedelta(days=2)
    assert post_signed(invitee_payload(event=calendly.NO_SHOW_CREATED, updated_at=later, occurred_at=later,
                                       **common)).status_code == 200
    booking.refresh_from_db()
    assert booking.no_show is True  # the delivery was folded in ...
    assert (booking.source, booking.medium, booking.channel) == ("newsletter", "email", "Email")  # ... the assignment kept
