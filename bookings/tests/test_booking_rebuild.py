"""Rebuilding a booking from its deliveries keeps what only the row knows (found by `make mutate`)."""

from datetime import datetime, timedelta, timezone

import pytest

from attribution.services import bookings_assign_attribution
from bookings import calendly
from bookings.models import Booking, WebhookDelivery
from bookings.samples import encode, invitee_payload
from bookings.services import fold
from bookings.services.fold import booking_rebuild
from bookings.services.intake import deliveries_replay, delivery_record
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


def test_replaying_a_failed_delivery_folds_it_into_the_booking(post_signed):
    """A delivery whose derivation failed is left out of every fold until a replay takes it in explicitly."""
    common = dict(invitee_id="R1", event_id="EV-R1", booked_at=T0)
    assert post_signed(invitee_payload(updated_at=T0, occurred_at=T0, **common)).status_code == 200
    cancel = delivery_record(body=encode(invitee_payload(event=calendly.INVITEE_CANCELED, updated_at=T0 + timedelta(hours=1),
                                                         **common)), headers={}, remote_addr=None, origin="backfill")
    WebhookDelivery.objects.filter(pk=cancel.pk).update(state=WebhookDelivery.State.FAILED, error="DeadlockDetected")
    assert Booking.objects.get().status == Booking.Status.ACTIVE
    assert deliveries_replay(queryset=WebhookDelivery.objects.filter(state=WebhookDelivery.State.FAILED)) == {"processed": 1}
    assert Booking.objects.get().status == Booking.Status.CANCELED


def test_a_rebuild_with_no_usable_delivery_leaves_the_booking_and_names_it(post_signed):
    """Every delivery of the invitee is out of the fold (failed, say): the booking stays as it was, and its id is
    returned, as for any rebuild."""
    post_signed(invitee_payload(invitee_id="A"))
    booking = Booking.objects.get()
    WebhookDelivery.objects.update(state=WebhookDelivery.State.FAILED)
    assert booking_rebuild(invitee_uri=booking.invitee_uri) == booking.pk
    assert Booking.objects.get().status == booking.status


def test_losing_the_first_insert_to_a_concurrent_delivery_still_folds_this_one(post_signed, monkeypatch):
    """Two first deliveries of one invitee race: the loser's INSERT finds the row already there and takes the
    locking path. Its own delivery is not stored yet, so that path must still fold it in."""
    real_insert = fold.booking_insert_queued
    calls = []

    def concurrent_winner(**kwargs):
        calls.append(1)
        if len(calls) == 1:  # another worker's insert lands first, with what it knew (less than this delivery)
            uri = kwargs["params"][0]
            Booking.objects.create(invitee_uri=uri, name="", email="", hubspot_contact_id="", hubspot_meeting_id="")
            return None
        return real_insert(**kwargs)

    monkeypatch.setattr(fold, "booking_insert_queued", concurrent_winner)
    assert post_signed(invitee_payload(invitee_id="A", name="Dana Scully", email="dana@example.com")).status_code == 200
    booking = Booking.objects.get()
    assert (booking.name, booking.email) == ("Dana Scully", "dana@example.com")
    assert WebhookDelivery.objects.get().state == WebhookDelivery.State.PROCESSED
