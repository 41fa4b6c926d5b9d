from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils.timezone import now as timezone_now

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


def _rows(*invitee_ids) -> list[BookingSync]:
    return [BookingSync.objects.get(booking__invitee_uri__endswith=f"/{i}") for i in invitee_ids]


def _dead(post_signed, *invitee_ids) -> None:
    for invitee_id in invitee_ids:
        post_signed(invitee_payload(invitee_id=invitee_id))
    outbox.sync_finish_dead(rows=outbox.sync_claim(), error="HTTP 400", status=400, request={"inputs": []},
                            response={"status": "error", "message": "Property values were not valid"})


def test_discard_stops_only_the_chosen_dead_letters(post_signed):
    _dead(post_signed, "A", "B")
    post_signed(invitee_payload(invitee_id="C"))  # pending: discard is for dead letters only
    a, b, c = _rows("A", "B", "C")
    assert outbox.sync_discard(booking_ids=[a.pk, c.pk]) == 1
    assert [r.state for r in _rows("A", "B", "C")] == ["discarded", "dead", "pending"]


def test_forget_clears_what_was_sent_and_takes_the_claim_away(post_signed):
    """A forgotten person's row keeps no request or response (they hold the email), says why it stopped, and a
    worker holding its claim can no longer finish it."""
    _dead(post_signed, "A")
    post_signed(invitee_payload(invitee_id="B"))
    [claimed] = outbox.sync_claim()
    a, b = _rows("A", "B")
    assert a.last_request is not None and a.last_response is not None
    assert outbox.sync_forget(booking_ids=[a.pk, b.pk]) == 2
    for row, before in ((_rows("A")[0], a), (_rows("B")[0], b)):
        assert (row.state, row.claim_token, row.last_request, row.last_response) == ("discarded", None, None, None)
        assert row.last_error == "person forgotten (forget_person): not synced again"
        assert row.updated_at > before.updated_at
    outbox.sync_finish_ok(rows=[claimed])
    assert _rows("B")[0].state == "discarded"


def test_requeue_queues_each_booking_once(post_signed):
    for invitee_id in ("A", "B", "C"):
        post_signed(invitee_payload(invitee_id=invitee_id))
    outbox.sync_finish_ok(rows=outbox.sync_claim())
    before = {r.pk: r.version for r in BookingSync.objects.all()}
    assert outbox.sync_requeue(booking_ids=list(before)) == 3
    after = BookingSync.objects.all()
    assert {r.pk: r.version for r in after} == {pk: version + 1 for pk, version in before.items()}
    assert {r.state for r in after} == {"pending"}


def test_a_retry_that_does_not_count_gives_the_attempt_back(post_signed):
    """A rate-limit pause is not HubSpot failing: the claim's attempt is returned, the budget stays as it was."""
    post_signed(invitee_payload(invitee_id="A"))
    BookingSync.objects.update(attempts=2)
    outbox.sync_finish_retry(rows=outbox.sync_claim(), error="HTTP 429", status=429, count_attempt=False,
                             retry_after=0)
    row = BookingSync.objects.get()
    assert (row.state, row.attempts) == ("pending", 2)
    assert [r.pk for r in outbox.sync_claim()] == [row.pk]  # retry_after 0: due again at once


def test_a_retry_finishes_each_row_it_was_given_and_no_other(post_signed, settings):
    """One batch shares a claim token: a retry of one row leaves its batch-mates in flight, and a row that
    goes dead on the way does not stop the rows after it."""
    settings.HUBSPOT_MAX_ATTEMPTS = 3
    for invitee_id in ("A", "B", "C"):
        post_signed(invitee_payload(invitee_id=invitee_id))
    BookingSync.objects.filter(booking__invitee_uri__endswith="/A").update(attempts=2)  # its last attempt
    claimed = {r.booking.invitee_uri.rsplit("/", 1)[1]: r for r in outbox.sync_claim()}
    before = timezone_now()
    outbox.sync_finish_retry(rows=[claimed["A"], claimed["B"]], error="HTTP 503", status=503)
    a, b, c = _rows("A", "B", "C")
    assert (a.state, b.state, c.state) == ("dead", "pending", "in_flight")
    assert b.updated_at >= before and b.last_error == "HTTP 503"


def test_a_retry_by_a_worker_whose_claim_was_swept_changes_nothing(post_signed):
    post_signed(invitee_payload(invitee_id="A"))
    [old] = outbox.sync_claim()
    BookingSync.objects.update(claimed_at=old.claimed_at - timedelta(minutes=10))
    assert outbox.sync_sweep_stale() == 1
    outbox.sync_finish_retry(rows=[old], error="HTTP 503 (late)", status=503)
    swept = BookingSync.objects.get()
    assert (swept.state, swept.last_error, swept.attempts) == ("pending", "", 1)  # as the sweep left it
    [new] = outbox.sync_claim()
    outbox.sync_finish_retry(rows=[old], error="HTTP 503 (late)", status=503)
    row = BookingSync.objects.get()
    assert (row.state, row.claim_token, row.last_error) == ("in_flight", new.claim_token, "")


def test_what_is_kept_of_a_long_answer_and_a_long_error_is_cut(post_signed):
    post_signed(invitee_payload(invitee_id="A"))
    outbox.sync_finish_retry(rows=outbox.sync_claim(), error="e", status=502, response="y" * 20000)
    assert BookingSync.objects.get().last_response == {"text": "y" * 10000}
    BookingSync.objects.update(next_attempt_at=BookingSync.objects.get().next_attempt_at - timedelta(hours=1))
    outbox.sync_finish_dead(rows=outbox.sync_claim(), error="z" * 5000, status=400)
    assert BookingSync.objects.get().last_error == "z" * 4000


def _stored_nulls(booking_id: int) -> tuple[bool, bool]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_request IS NULL, last_response IS NULL FROM hubspot_sync_bookingsync"
                       " WHERE booking_id = %s", [booking_id])
        return cursor.fetchone()


def test_a_synced_row_keeps_what_was_sent_and_hubspots_answer_or_sql_null(post_signed):
    post_signed(invitee_payload(invitee_id="A"))
    post_signed(invitee_payload(invitee_id="B"))
    a, b = sorted(outbox.sync_claim(), key=lambda r: r.booking.invitee_uri)
    request, response = {"inputs": [{"id": "A"}]}, {"status": "COMPLETE", "results": [{"id": "901"}]}
    outbox.sync_finish_ok(rows=[a], request=request, response=response)
    outbox.sync_finish_ok(rows=[b])  # nothing sent (a dry run): no JSON null either
    row = BookingSync.objects.get(pk=a.pk)
    assert (row.state, row.last_request, row.last_response) == ("synced", request, response)
    assert _stored_nulls(a.pk) == (False, False) and _stored_nulls(b.pk) == (True, True)


@pytest.mark.django_db(transaction=True)
def test_a_claim_skips_a_row_being_changed_instead_of_waiting_for_it(post_signed):
    """A booking change holds its outbox row's lock until it commits: the drain takes the other rows at once."""
    import threading

    post_signed(invitee_payload(invitee_id="A"))
    post_signed(invitee_payload(invitee_id="B"))
    locked, release, done = threading.Event(), threading.Event(), threading.Event()
    busy = BookingSync.objects.get(booking__invitee_uri__endswith="/A").pk

    def change_in_progress():
        with transaction.atomic():
            list(BookingSync.objects.select_for_update().filter(pk=busy))
            locked.set()
            release.wait(10)
        connection.close()
        done.set()

    thread = threading.Thread(target=change_in_progress)
    thread.start()
    try:
        assert locked.wait(10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")  # waiting instead of skipping would fail here
        claimed = outbox.sync_claim()
        assert [r.booking.invitee_uri.rsplit("/", 1)[1] for r in claimed] == ["B"]
    finally:
        release.set()
        thread.join()
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")
