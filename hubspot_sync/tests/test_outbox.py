from datetime import timedelta

import pytest
from django.db import connection

from bookings import calendly
from bookings.models import Booking
from bookings.samples import invitee_payload
from hubspot_sync.models import BookingSync
from hubspot_sync.services import outbox

pytestmark = pytest.mark.django_db


def test_every_booking_change_writes_an_outbox_row(post_signed):
    post_signed(invitee_payload(invitee_id="A"))
    sync = BookingSync.objects.get()
    assert (sync.state, sync.version) == ("pending", 1)
    post_signed(invitee_payload(invitee_id="A", event=calendly.INVITEE_CANCELED))
    assert BookingSync.objects.get().version == 2


def test_a_duplicate_delivery_queues_nothing_new(post_signed):
    payload = invitee_payload(invitee_id="A")
    post_signed(payload)
    post_signed(payload)
    assert BookingSync.objects.get().version == 1


def test_a_change_during_a_sync_in_flight_is_not_lost(post_signed):
    post_signed(invitee_payload(invitee_id="A"))
    rows = outbox.sync_claim()
    assert [r.state for r in rows] == ["in_flight"]
    post_signed(invitee_payload(invitee_id="A", event=calendly.INVITEE_CANCELED))
    assert BookingSync.objects.get().state == "in_flight"  # never two syncs of one booking at once
    assert outbox.sync_claim() == []
    outbox.sync_finish_ok(rows=rows)
    sync = BookingSync.objects.get()
    assert sync.state == "pending" and sync.synced_version == 1 and sync.version == 2
    assert Booking.objects.get().hubspot_state == "pending"


def test_finish_ok_marks_synced_when_nothing_changed(post_signed):
    post_signed(invitee_payload(invitee_id="A"))
    outbox.sync_finish_ok(rows=outbox.sync_claim())
    assert BookingSync.objects.get().state == "synced"
    assert Booking.objects.get().hubspot_state == "synced"


def test_transient_failures_back_off_then_become_dead_letters(post_signed, settings):
    settings.HUBSPOT_MAX_ATTEMPTS = 3
    post_signed(invitee_payload(invitee_id="A"))
    for attempt in range(1, 3):
        rows = outbox.sync_claim()
        outbox.sync_finish_retry(rows=rows, error="HTTP 503", status=503)
        sync = BookingSync.objects.get()
        assert sync.state == "pending" and sync.attempts == attempt
        assert outbox.sync_claim() == []  # not due yet: backoff
        BookingSync.objects.update(next_attempt_at=sync.next_attempt_at - timedelta(hours=1))
    outbox.sync_finish_retry(rows=outbox.sync_claim(), error="HTTP 503", status=503, request={"inputs": []})
    sync = BookingSync.objects.get()
    assert sync.state == "dead" and "gave up after 3 attempts" in sync.last_error
    assert Booking.objects.get().hubspot_state == "failed"
    assert outbox.sync_retry_dead(booking_ids=[sync.pk]) == 1
    assert BookingSync.objects.get().state == "pending"


def test_stale_claims_of_a_killed_worker_are_swept_back(post_signed):
    post_signed(invitee_payload(invitee_id="A"))
    outbox.sync_claim()
    BookingSync.objects.update(claimed_at=BookingSync.objects.get().claimed_at - timedelta(minutes=10))
    assert outbox.sync_sweep_stale() == 1
    assert BookingSync.objects.get().state == "pending"


@pytest.mark.django_db(transaction=True)
def test_two_workers_claim_disjoint_rows(post_signed):
    import threading

    for i in range(30):
        post_signed(invitee_payload(invitee_id=f"I{i}"))
    claimed, barrier = [], threading.Barrier(2)

    def worker():
        barrier.wait()
        claimed.append([r.booking_id for r in outbox.sync_claim(size=20)])
        connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    first, second = claimed
    assert not set(first) & set(second)
    assert len(first) + len(second) == 30


def test_a_retried_and_a_dead_row_keep_what_was_sent_and_what_hubspot_answered(post_signed, settings):
    """The admin's dead-letter page shows the request and HubSpot's answer: both are stored on every failure, a
    text answer as {"text": ...}, the error cut at 4,000 characters."""
    settings.HUBSPOT_MAX_ATTEMPTS = 2
    post_signed(invitee_payload(invitee_id="A"))
    request = {"inputs": [{"id": "A", "properties": {"email": "a@example.com"}}]}
    outbox.sync_finish_retry(rows=outbox.sync_claim(), error="x" * 5000, status=502, request=request,
                             response="<html>Bad gateway</html>")
    sync = BookingSync.objects.get()
    assert (sync.state, sync.attempts, sync.last_status) == ("pending", 1, 502)
    assert sync.last_request == request and sync.last_response == {"text": "<html>Bad gateway</html>"}
    assert sync.last_error == "x" * 4000
    BookingSync.objects.update(next_attempt_at=sync.next_attempt_at - timedelta(hours=1))
    outbox.sync_finish_retry(rows=outbox.sync_claim(), error="HTTP 400", status=400, request=request,
                             response={"status": "error", "message": "Property values were not valid"})
    sync = BookingSync.objects.get()
    assert (sync.state, sync.last_status) == ("dead", 400)
    assert sync.last_request == request and sync.last_response["message"] == "Property values were not valid"
    # A dead letter without a request or response (a refusal before sending) stores none, not a JSON null.
    post_signed(invitee_payload(invitee_id="B"))
    outbox.sync_finish_dead(rows=outbox.sync_claim(), error="no email", status=None)
    b = BookingSync.objects.get(booking__invitee_uri__endswith="/B")
    assert b.state == "dead" and b.last_request is None and b.last_response is None and b.last_status is None
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_request IS NULL, last_response IS NULL FROM hubspot_sync_bookingsync WHERE booking_id = %s",
                       [b.pk])
        assert cursor.fetchone() == (True, True)
