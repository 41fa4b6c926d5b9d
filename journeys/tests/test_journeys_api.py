"""GET /api/journeys/: a person's touches, clicks and bookings in time order, stitched by email."""

import datetime as dt

import pytest
from django.utils import timezone

from bookings.tests.factories import BookingFactory
from journeys.selectors import journey_for_visitor_ids, touches_first_and_last_non_direct
from journeys.services import touches_purge, visitor_id_new
from journeys.tests.factories import TouchFactory

pytestmark = pytest.mark.django_db
URL = "/api/journeys/"


def test_it_needs_a_login(client):
    assert client.get(URL, {"email": "a@example.com"}).status_code in (401, 403)


def test_no_parameter_is_400(marketing):
    assert marketing.get(URL).status_code == 400


def test_an_unknown_email_is_200_with_empty_lists(marketing):
    response = marketing.get(URL, {"email": "nobody@example.com"})
    assert response.status_code == 200
    assert response.json() == {"email": "nobody@example.com", "visitor_ids": [], "events": []}


def test_the_person_behind_an_email_is_every_visitor_id_that_booked(marketing):
    now = timezone.now()
    laptop, phone, other = visitor_id_new(), visitor_id_new(), visitor_id_new()
    # laptop: a lone utm_term (the fold filled visitor_id); phone: id in utm_term beside other UTMs.
    BookingFactory(email="ann@example.com", visitor_id=laptop, booked_at=now - dt.timedelta(days=3),
                   tracking={"utm_term": laptop}, invitee_uri="https://api.calendly.com/x/invitees/A1")
    BookingFactory(email="ann@example.com", booked_at=now - dt.timedelta(days=1), manual_utm={"source": "event"},
                   source="event", tracking={"utm_source": "linkedin", "utm_medium": "social", "utm_term": phone},
                   invitee_uri="https://api.calendly.com/x/invitees/A2")
    TouchFactory(visitor_id=laptop, at=now - dt.timedelta(days=5), source="linkedin", medium="paid_social",
                 campaign="spring_202606", channel="Paid Social", landing_path="/blog", referrer_host="linkedin.com")
    TouchFactory(visitor_id=phone, at=now - dt.timedelta(days=2), kind="click", channel="Organic Social")
    TouchFactory(visitor_id=other, at=now - dt.timedelta(days=2))
    data = marketing.get(URL, {"email": "ann@example.com"}).json()
    assert data["email"] == "ann@example.com"
    assert set(data["visitor_ids"]) == {laptop, phone}
    assert [e["type"] for e in data["events"]] == ["touch", "booking", "click", "booking"]
    first = data["events"][0]
    assert {k: first[k] for k in ("source", "medium", "campaign", "channel", "landing_path", "referrer_host")} == {
        "source": "linkedin", "medium": "paid_social", "campaign": "spring_202606", "channel": "Paid Social",
        "landing_path": "/blog", "referrer_host": "linkedin.com"}
    booking = data["events"][1]
    assert booking["invitee_uri"].endswith("/A1") and booking["status"] == "active"
    assert booking["attribution"]["attributed_by"] == "booking"
    assert data["events"][3]["attribution"]["attributed_by"] == "manual"
    assert dt.datetime.fromisoformat(booking["at"])  # ISO-8601
    assert [e["at"] for e in data["events"]] == sorted(e["at"] for e in data["events"])


def test_a_visitor_id_finds_the_person_and_their_other_ids(marketing):
    laptop, phone = visitor_id_new(), visitor_id_new()
    BookingFactory(email="bo@example.com", visitor_id=laptop, tracking={"utm_term": laptop})
    # as the fold stores it: the id rode in salesforce_uuid beside a UTM (attribution.rules.visitor_id_in)
    BookingFactory(email="bo@example.com", visitor_id=phone, tracking={"utm_source": "x", "salesforce_uuid": phone})
    TouchFactory(visitor_id=phone)
    data = marketing.get(URL, {"visitor_id": phone}).json()
    assert data["email"] == "bo@example.com" and set(data["visitor_ids"]) == {laptop, phone}


def test_a_visitor_who_never_booked_has_their_touches(marketing):
    vid = visitor_id_new()
    TouchFactory(visitor_id=vid)
    data = marketing.get(URL, {"visitor_id": vid}).json()
    assert data["visitor_ids"] == [vid] and [e["type"] for e in data["events"]] == ["touch"]


def test_first_and_last_non_direct_within_the_lookback():
    now = timezone.now()
    vid = visitor_id_new()
    TouchFactory(visitor_id=vid, at=now - dt.timedelta(days=120), channel="Paid Search")  # outside 90 days
    first = TouchFactory(visitor_id=vid, at=now - dt.timedelta(days=30), channel="Organic Search")
    last = TouchFactory(visitor_id=vid, at=now - dt.timedelta(days=3), channel="Paid Social")
    TouchFactory(visitor_id=vid, at=now - dt.timedelta(days=1))  # direct
    TouchFactory(visitor_id=vid, at=now + dt.timedelta(days=1), channel="Email")  # after the booking
    found = touches_first_and_last_non_direct([vid], before=now, lookback_days=90)
    assert (found.first.id, found.last_non_direct.id, found.count) == (first.id, last.id, 3)
    assert len(journey_for_visitor_ids([vid], until=now)) == 4
    assert touches_first_and_last_non_direct([], before=now).first is None


def test_touches_past_retention_are_purged(settings):
    settings.JOURNEY_RETENTION_DAYS = 395
    old = TouchFactory(at=timezone.now() - dt.timedelta(days=400))
    kept = TouchFactory(at=timezone.now() - dt.timedelta(days=300))
    from journeys.tasks import purge_touches_task

    assert purge_touches_task() == 1
    from journeys.models import Touch

    assert list(Touch.objects.values_list("id", flat=True)) == [kept.id]
    assert not Touch.objects.filter(id=old.id).exists()
    settings.JOURNEY_RETENTION_DAYS = 0
    assert touches_purge() == 0


def test_purge_runs_daily_from_beat(settings):
    assert settings.CELERY_BEAT_SCHEDULE["purge-touches"]["task"] == "journeys.purge_touches"
