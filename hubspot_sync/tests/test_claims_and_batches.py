"""Claim fencing and batch sizing against the fake HubSpot (each test failed on a planted mutant)."""

import pytest

from bookings.models import Booking
from bookings.samples import invitee_payload
from hubspot_sync.models import BookingSync
from hubspot_sync.services import outbox
from hubspot_sync.services.sync import sync_drain

from .conftest import fake_state

pytestmark = pytest.mark.django_db


def test_a_worker_whose_claim_was_swept_cannot_finish_the_new_owners_row(post_signed):
    post_signed(invitee_payload(invitee_id="A"))
    stale = outbox.sync_claim(size=10)
    assert [r.state for r in stale] == ["in_flight"]
    # The first worker stalls past the claim timeout: the sweeper hands the row to another worker.
    assert outbox.sync_sweep_stale(older_than_seconds=-1) == 1
    fresh = outbox.sync_claim(size=10)
    assert fresh and fresh[0].claim_token != stale[0].claim_token
    # The stalled worker wakes up and reports success for what it sent (an older version).
    assert outbox.sync_finish_ok(rows=stale) == set()
    row = BookingSync.objects.get()
    assert (row.state, row.claim_token) == ("in_flight", fresh[0].claim_token)
    assert Booking.objects.get().hubspot_state == Booking.HubspotState.PENDING
    assert outbox.sync_finish_ok(rows=fresh) == {fresh[0].booking_id}
    assert BookingSync.objects.get().state == "synced"


def test_more_bookings_than_one_hubspot_batch_all_sync_with_the_default_batch_size(post_signed, fake_hubspot):
    """HubSpot refuses batches of more than 100 inputs; the default batch size must respect that."""
    for i in range(130):
        post_signed(invitee_payload(invitee_id=f"B{i}", email=f"lead{i}@example.com"))
    report = sync_drain(max_seconds=60)
    assert (report.synced, report.dead) == (130, 0)
    assert len(fake_state(fake_hubspot)["contacts"]) == 130
    assert not BookingSync.objects.exclude(state="synced").exists()
