"""The seam every booking change goes through (bookings/services/changes.py): sync state and outbox."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bookings import calendly
from bookings.models import Booking, Suppression
from bookings.samples import invitee_payload
from bookings.services.changes import bookings_changed, bookings_sync_state
from bookings.suppression import email_hash
from hubspot_sync.models import BookingSync
from hubspot_sync.services import outbox

pytestmark = pytest.mark.django_db


def _synced(post_signed, invitee_id: str) -> Booking:
    post_signed(invitee_payload(invitee_id=invitee_id))
    outbox.sync_finish_ok(rows=outbox.sync_claim())
    return Booking.objects.get(invitee_uri__endswith=f"/{invitee_id}")


def test_a_change_sets_the_booking_pending_and_bumps_its_outbox_row(post_signed):
    booking = _synced(post_signed, "A")
    assert (booking.hubspot_state, booking.sync.state, booking.sync.version) == ("synced", "synced", 1)
    bookings_changed(booking_ids=[booking.pk])
    booking = Booking.objects.select_related("sync").get()
    assert (booking.hubspot_state, booking.sync.state, booking.sync.version) == ("pending", "pending", 2)


def test_a_change_is_one_statement_whatever_the_sync_state(post_signed, django_capture_on_commit_callbacks):
    """The webhook's hot path: setting the state and upserting the outbox row cost one round trip."""
    booking = _synced(post_signed, "A")
    for _ in range(2):  # from synced, then from pending (no write of the state then)
        with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks() as callbacks:
            bookings_changed(booking_ids=[booking.pk])
        assert len(queries) == 1 and len(callbacks) == 1  # the drain is enqueued on commit
    assert BookingSync.objects.get().version == 3


def test_a_webhook_changing_a_synced_booking_costs_no_extra_round_trip(post_signed):
    _synced(post_signed, "A")
    post_signed(invitee_payload(invitee_id="B"))
    Booking.objects.filter(invitee_uri__endswith="/B").update(hubspot_state="pending")
    counts = {}
    for invitee_id in ("A", "B"):  # A is synced, B pending: the same statements
        with CaptureQueriesContext(connection) as queries:
            assert post_signed(invitee_payload(invitee_id=invitee_id, event=calendly.INVITEE_CANCELED)).status_code == 200
        counts[invitee_id] = len(queries)
    assert counts["A"] == counts["B"]
    assert set(Booking.objects.values_list("hubspot_state", flat=True)) == {"pending"}


def _statements(queries) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]


def test_a_first_delivery_writes_its_booking_and_outbox_row_in_one_statement(post_signed,
                                                                             django_capture_on_commit_callbacks):
    """The webhook's commonest change: lock, read the deliveries (and the suppression list), write the booking
    with its outbox row, store the raw row. Four statements; the outbox row is there, pending, and a drain is
    enqueued on commit."""
    post_signed(invitee_payload(invitee_id="warm"))  # the ruleset is loaded once per process, not per webhook
    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks() as callbacks:
        assert post_signed(invitee_payload(invitee_id="A")).status_code == 200
    statements = _statements(queries)
    assert len(statements) == 4, statements
    assert sum("bookings_suppression" in sql for sql in statements) == 1
    booking = Booking.objects.select_related("sync").get(invitee_uri__endswith="/A")
    assert (booking.hubspot_state, booking.sync.state, booking.sync.version, booking.sync.attempts) == (
        "pending", "pending", 1, 0)
    assert len(callbacks) == 1


def test_a_forgotten_persons_delivery_writes_neither_booking_nor_outbox_row(post_signed):
    Suppression.objects.create(email_hash=email_hash("Gone@Example.com "))
    post_signed(invitee_payload(invitee_id="warm"))  # the ruleset is loaded once per process, not per webhook
    with CaptureQueriesContext(connection) as queries:
        assert post_signed(invitee_payload(invitee_id="A", email="gone@example.com")).status_code == 200
    assert not Booking.objects.filter(invitee_uri__endswith="/A").exists()
    assert BookingSync.objects.count() == 1  # the warm-up's
    assert len(_statements(queries)) == 3  # lock, the read that finds the suppression row, the redacted raw row


def test_the_finish_states_are_the_only_ones_written_without_the_outbox():
    with pytest.raises(ValueError):
        bookings_sync_state(booking_ids=[1], state="pending")


def test_retry_dead_leaves_bookings_it_did_not_requeue_alone(post_signed, settings):
    settings.HUBSPOT_MAX_ATTEMPTS = 1
    synced = _synced(post_signed, "A")
    post_signed(invitee_payload(invitee_id="B"))
    outbox.sync_finish_retry(rows=outbox.sync_claim(), error="HTTP 503", status=503)  # B: a dead letter
    dead = Booking.objects.get(invitee_uri__endswith="/B")
    assert (dead.hubspot_state, dead.sync.state) == ("failed", "dead")

    assert outbox.sync_retry_dead(booking_ids=[synced.pk, dead.pk]) == 1
    states = {b.pk: (b.hubspot_state, b.sync.state) for b in Booking.objects.select_related("sync")}
    assert states == {synced.pk: ("synced", "synced"), dead.pk: ("pending", "pending")}


def test_a_resync_queues_synced_bookings_again(post_signed):
    booking = _synced(post_signed, "A")
    assert outbox.sync_requeue(booking_ids=[booking.pk]) == 1
    booking = Booking.objects.select_related("sync").get()
    assert (booking.hubspot_state, booking.sync.state, booking.sync.version) == ("pending", "pending", 2)
