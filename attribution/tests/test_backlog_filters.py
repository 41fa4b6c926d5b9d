"""The (direct) backlog's filters: event type and month narrow the list; a month that can't be read is an error next
to its field and ignored (the whole period shows)."""

from datetime import datetime, timezone

import pytest

from attribution import selectors
from bookings.tests.factories import BookingFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def backlog():
    def make(email, event_type, month, day=10, year=2026):
        return BookingFactory(email=email, event_type_name=event_type, channel="Direct",
                              booked_at=datetime(year, month, day, 12, tzinfo=timezone.utc))
    make("demo-june@example.com", "Product demo", 6)  # made first: the newest is not the highest id
    make("demo-may@example.com", "Product demo", 5)
    make("intro-may@example.com", "Intro call", 5, day=11)
    make("demo-may-last-year@example.com", "Product demo", 5, year=2025)
    BookingFactory(email="tagged@example.com", channel="Email", source="newsletter",
                   booked_at=datetime(2026, 5, 10, tzinfo=timezone.utc))  # not in the backlog


def emails(qs):
    return sorted(b.email for b in qs)


def test_the_backlog_lists_only_untagged_bookings_newest_first(backlog):
    assert [b.email for b in selectors.direct_backlog_bookings()] == [
        "demo-june@example.com", "intro-may@example.com", "demo-may@example.com", "demo-may-last-year@example.com"]


def test_event_type_and_month_narrow_the_backlog(backlog):
    assert emails(selectors.direct_backlog_bookings(event_type="Product demo")) == [
        "demo-june@example.com", "demo-may-last-year@example.com", "demo-may@example.com"]
    assert emails(selectors.direct_backlog_bookings(month="2026-05")) == ["demo-may@example.com", "intro-may@example.com"]
    assert emails(selectors.direct_backlog_bookings(event_type="Product demo", month="2026-06")) == ["demo-june@example.com"]


def test_a_month_that_cannot_be_read_is_ignored(backlog):
    assert len(selectors.direct_backlog_bookings(month="May")) == 4


def test_the_page_says_it_ignored_a_bad_month_next_to_the_field(login_as, backlog):
    client = login_as("mkt", perms=("view_dashboard",))
    page = client.get("/dashboard/direct/", {"range": "all", "month": "2026-13"}).content.decode()
    assert 'id="month-error">&#x27;2026-13&#x27; is not a month between 1900 and 2100: showing every month' in page
    assert "demo-june@example.com" in page
    narrowed = client.get("/dashboard/direct/", {"range": "all", "event_type": "Intro call"}).content.decode()
    assert "intro-may@example.com" in narrowed and "demo-june@example.com" not in narrowed
