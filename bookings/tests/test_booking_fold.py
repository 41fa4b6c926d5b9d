"""The fold on its own: normalized events in, booking fields out (no database). Pins what `make mutate` found loose.

Import `booking_fold` from `bookings.services` (re-exported there if the fold moves to `bookings/services/`).
"""

from datetime import datetime, timedelta, timezone

from bookings import calendly
from bookings.calendly import InviteeEvent
from bookings.models import Booking
from bookings.services.fold import booking_fold

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=timezone.utc)
URI = "https://api.calendly.com/scheduled_events/EV-1/invitees/I-1"


def event(kind=calendly.INVITEE_CREATED, *, at=T0, updated=None, **fields):
    return InviteeEvent(kind=kind, invitee_uri=URI, occurred_at=at, updated_at=at if updated is None else updated, **fields)


def test_an_empty_history_is_the_model_defaults():
    fields = booking_fold(events=[])
    assert fields["status"] == Booking.Status.ACTIVE and fields["email"] == "" and fields["tracking"] == {}
    assert (fields["canceled_at"], fields["canceled_by"], fields["canceler_type"], fields["cancel_reason"]) == (None, "", "", "")
    assert (fields["rescheduled"], fields["new_invitee_uri"], fields["old_invitee_uri"]) == (False, "", "")
    assert (fields["last_event_at"], fields["no_show"], fields["no_show_marked_at"]) == (None, False, None)


def test_each_detail_comes_from_the_newest_version_that_has_it():
    old = event(email="old@example.com", name="Old", timezone="UTC", questions_and_answers=[{"q": 1}], at=T0)
    new = event(calendly.INVITEE_SNAPSHOT, email="new@example.com", name="", timezone=None, questions_and_answers=[],
                at=T0 + timedelta(hours=1))
    for events in ([old, new], [new, old]):
        fields = booking_fold(events=events)
        assert (fields["email"], fields["name"], fields["timezone"]) == ("new@example.com", "Old", "UTC")
        assert fields["questions_and_answers"] == [{"q": 1}]


def test_the_invitee_version_orders_before_the_event_time_then_the_kind():
    newer_version = event(email="v2@example.com", at=T0, updated=T0 + timedelta(days=1))
    later_event = event(email="v1@example.com", at=T0 + timedelta(days=2), updated=T0)
    assert booking_fold(events=[newer_version, later_event])["email"] == "v2@example.com"
    assert booking_fold(events=[later_event, newer_version])["email"] == "v2@example.com"
    # Same version: the later event wins.
    a, b = event(email="a@example.com", at=T0, updated=T0), event(email="b@example.com", at=T0 + timedelta(1), updated=T0)
    assert booking_fold(events=[b, a])["email"] == "b@example.com"
    # Same version and time: the kind's rank (a cancel after a creation).
    created = event(calendly.INVITEE_CREATED, email="created@example.com")
    canceled = event(calendly.INVITEE_CANCELED, email="canceled@example.com", status="canceled")
    assert booking_fold(events=[canceled, created])["email"] == "canceled@example.com"
    # No timestamps at all sort first (as 1970), never crash.
    undated = InviteeEvent(kind=calendly.INVITEE_CREATED, invitee_uri=URI, occurred_at=None, updated_at=None, email="u@x.io")
    assert booking_fold(events=[created, undated])["email"] == "created@example.com"
    assert booking_fold(events=[undated])["last_event_at"] is None


def test_tracking_without_utm_never_replaces_tracking_with_utm():
    tagged = event(tracking={"utm_source": "google"}, at=T0)
    untagged_later = event(calendly.INVITEE_SNAPSHOT, tracking={"salesforce_uuid": "x"}, at=T0 + timedelta(hours=1))
    retagged_later = event(calendly.INVITEE_SNAPSHOT, tracking={"utm_source": "bing"}, at=T0 + timedelta(hours=2))
    assert booking_fold(events=[tagged, untagged_later])["tracking"] == {"utm_source": "google"}
    assert booking_fold(events=[tagged, untagged_later, retagged_later])["tracking"] == {"utm_source": "bing"}
    assert booking_fold(events=[untagged_later])["tracking"] == {"salesforce_uuid": "x"}


def test_cancel_details_come_from_the_last_cancel():
    first = event(calendly.INVITEE_CANCELED, at=T0 + timedelta(hours=1), canceled_at=T0 + timedelta(hours=1),
                  canceled_by="Ann", canceler_type="host", cancel_reason="ill")
    second = event(calendly.INVITEE_CANCELED, at=T0 + timedelta(hours=2), canceled_by="Bob", canceler_type="invitee",
                   cancel_reason="")
    fields = booking_fold(events=[event(), second, first])
    assert fields["status"] == Booking.Status.CANCELED
    assert fields["canceled_at"] == T0 + timedelta(hours=1)  # the last cancel that says when
    assert (fields["canceled_by"], fields["canceler_type"], fields["cancel_reason"]) == ("Bob", "invitee", "")
    snapshot_canceled = event(calendly.INVITEE_SNAPSHOT, status="canceled", at=T0 + timedelta(hours=3))
    assert booking_fold(events=[event(), snapshot_canceled])["status"] == Booking.Status.CANCELED


def test_reschedule_links_take_the_newest_non_empty_value():
    old_side = event(calendly.INVITEE_CANCELED, at=T0 + timedelta(hours=1), rescheduled=True, new_invitee_uri="new-1")
    later = event(calendly.INVITEE_SNAPSHOT, at=T0 + timedelta(hours=2), new_invitee_uri="", old_invitee_uri="")
    fields = booking_fold(events=[old_side, event(old_invitee_uri="older"), later])
    assert (fields["rescheduled"], fields["new_invitee_uri"], fields["old_invitee_uri"]) == (True, "new-1", "older")
    two = [event(new_invitee_uri="n1", old_invitee_uri="o1"),
           event(calendly.INVITEE_SNAPSHOT, at=T0 + timedelta(1), new_invitee_uri="n2", old_invitee_uri="o2")]
    assert (booking_fold(events=two)["new_invitee_uri"], booking_fold(events=two)["old_invitee_uri"]) == ("n2", "o2")
    assert booking_fold(events=[event()])["rescheduled"] is False


def test_last_event_at_is_the_latest_event_time():
    events = [event(at=T0 + timedelta(days=2), updated=T0), event(calendly.INVITEE_SNAPSHOT, at=T0, updated=T0 + timedelta(1))]
    assert booking_fold(events=events)["last_event_at"] == T0 + timedelta(days=2)


def test_the_latest_no_show_statement_wins_by_event_time():
    mark = event(calendly.NO_SHOW_CREATED, at=T0 + timedelta(days=1), updated=T0, no_show=True, no_show_at=T0 + timedelta(hours=30))
    unmark = event(calendly.NO_SHOW_DELETED, at=T0 + timedelta(days=2), updated=T0, no_show=False)
    remark = event(calendly.NO_SHOW_CREATED, at=T0 + timedelta(days=3), updated=T0, no_show=True)
    fields = booking_fold(events=[mark])
    assert fields["no_show"] is True and fields["no_show_marked_at"] == T0 + timedelta(hours=30)  # Calendly's own time
    assert booking_fold(events=[unmark, mark])["no_show"] is False
    fields = booking_fold(events=[remark, unmark, mark])
    assert fields["no_show"] is True and fields["no_show_marked_at"] == T0 + timedelta(days=3)  # else the event time
    silent = event(calendly.INVITEE_SNAPSHOT, at=T0 + timedelta(days=5), updated=T0 + timedelta(days=5), no_show=None)
    assert booking_fold(events=[mark, silent])["no_show"] is True  # a payload that says nothing changes nothing


def test_no_show_statements_without_event_time_order_by_version_then_kind():
    mark = InviteeEvent(kind=calendly.NO_SHOW_CREATED, invitee_uri=URI, occurred_at=None, updated_at=T0 + timedelta(1),
                        no_show=True)
    unmark = InviteeEvent(kind=calendly.NO_SHOW_DELETED, invitee_uri=URI, occurred_at=None, updated_at=T0, no_show=False)
    assert booking_fold(events=[unmark, mark])["no_show"] is True
    assert booking_fold(events=[mark, unmark])["no_show_marked_at"] is None  # no time known: marked, but when is unknown
    same_mark = event(calendly.NO_SHOW_CREATED, at=T0, updated=T0 + timedelta(1), no_show=True)
    same_unmark = event(calendly.NO_SHOW_DELETED, at=T0, updated=T0, no_show=False)
    assert booking_fold(events=[same_mark, same_unmark])["no_show"] is False  # same instant: the unmark ranks later


def test_two_statements_at_the_same_instant_fold_the_same_in_either_order():
    """Same kind, same timestamps, different content (two API snapshots taken in one second): the last tie-break
    is the event itself, so arrival order still cannot matter."""
    a = event(calendly.INVITEE_SNAPSHOT, name="Dana Reyes", email="dana@example.com")
    b = event(calendly.INVITEE_SNAPSHOT, name="Dana Reyes-Kim", email="dana@example.com")
    assert booking_fold(events=[a, b]) == booking_fold(events=[b, a])
