"""Marketing alerts, counted like the reports (full Monday–Sunday weeks in SOURCEBOOK_TIME_ZONE, countable bookings
through attribution's selectors): the (direct) share jump, a new Unassigned value, a campaign that stops booking."""

import itertools
import json
from datetime import datetime, timedelta, timezone
from unittest import mock

import pytest
import time_machine

from alerts.checks import campaign_dropped_check, direct_share_jump_check, full_week_bounds, unassigned_value_check
from alerts.channels import Message, deliver, normalize
from alerts.models import AlertState, Notification
from alerts.services.alerts import alerts_evaluate
from alerts.services.outbox import send_due
from bookings.models import Booking
from journeys.models import Touch, TrackedLink

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 18, 10, 0, tzinfo=timezone.utc)  # a Wednesday
LAST_WEEK = datetime(2026, 11, 9, tzinfo=timezone.utc)  # its last full week: Monday 9 – Sunday 15 November
_n = itertools.count()


def book(at, *, channel="Paid Search", source="google", medium="cpc", campaign="(not set)", count=1, **extra):
    for _ in range(count):
        n = next(_n)
        Booking.objects.create(invitee_uri=f"https://api.calendly.com/invitees/M{n}", booked_at=at, channel=channel,
                               source=source, medium=medium, campaign=campaign, **extra)


def direct(at, count):
    book(at, channel="Direct", source="(direct)", medium="(none)", count=count)


@pytest.fixture
def marketing(destination, webhook_receiver):
    destination("marketing", ops=False, digest=False)

    def titles():
        send_due()
        return [p["payload"]["title"] for p in webhook_receiver.received]

    return titles


def test_last_full_week_is_monday_to_monday():
    assert full_week_bounds(NOW) == (LAST_WEEK, LAST_WEEK + timedelta(days=7))
    assert full_week_bounds(NOW, back=1)[0] == LAST_WEEK - timedelta(days=7)
    assert full_week_bounds(datetime(2026, 11, 16, 0, 0, tzinfo=timezone.utc))[0] == LAST_WEEK  # Monday 00:00


def test_direct_share_jump_fires_past_the_set_points(settings):
    settings.ALERTS_DIRECT_JUMP_POINTS, settings.ALERTS_DIRECT_MIN_BOOKINGS = 10, 20
    before = LAST_WEEK - timedelta(days=5)
    book(before, count=16), direct(before, 4)  # 20 %
    book(LAST_WEEK + timedelta(days=2), count=14), direct(LAST_WEEK + timedelta(days=6, hours=23), 6)  # 30 %
    finding = direct_share_jump_check(NOW)
    assert not finding.firing  # exactly 10 points is not "more than"
    direct(LAST_WEEK + timedelta(days=3), 1)  # 7 of 21 = 33.3 %
    finding = direct_share_jump_check(NOW)
    assert finding.firing and finding.title == "(direct) share jumped 13.3 points week over week"
    assert "33.3% of 21 bookings" in finding.detail
    direct(LAST_WEEK + timedelta(days=7), 50)  # this week's bookings are not in the last full week
    assert direct_share_jump_check(NOW).title == finding.title


def test_a_share_of_a_handful_of_bookings_is_not_an_alert(settings):
    settings.ALERTS_DIRECT_MIN_BOOKINGS = 20
    book(LAST_WEEK - timedelta(days=3), count=2)
    direct(LAST_WEEK + timedelta(days=1), 2)  # 0 % → 100 %, but of 2 bookings
    assert not direct_share_jump_check(NOW).firing


def test_direct_share_cycle_does_not_repeat_by_default_and_resolves_next_week(marketing, settings):
    settings.ALERTS_DIRECT_MIN_BOOKINGS = 5
    book(LAST_WEEK - timedelta(days=3), count=10)
    direct(LAST_WEEK + timedelta(days=1), 10)
    with time_machine.travel(NOW, tick=False) as clock:
        alerts_evaluate()
        assert marketing() == ["[Sourcebook] (direct) share jumped 100.0 points week over week"]
        clock.shift(timedelta(days=3))  # ALERTS_MARKETING_REPEAT_HOURS = 0: a week's fact is told once
        alerts_evaluate()
        assert len(marketing()) == 1
        clock.shift(timedelta(days=4))  # next week: the last full week has no bookings, nothing to compare
        alerts_evaluate()
        assert marketing()[1:] == ["[Sourcebook] Resolved: (direct) share jumped 100.0 points week over week"]


def test_a_new_unassigned_value_fires_once_and_names_where_it_came_from(marketing, settings):
    settings.ALERTS_NEW_VALUE_DAYS, settings.ALERTS_NEW_VALUE_LOOKBACK_DAYS = 7, 90
    book(NOW - timedelta(days=40), channel="Unassigned", source="oldie", medium="web")  # known for weeks
    book(NOW - timedelta(days=2), channel="Unassigned", source="oldie", medium="web")
    book(NOW - timedelta(days=1), channel="Unassigned", source="tiktok-ads", medium="social-x", count=2,
         visitor_id="sbv_abc")
    book(NOW - timedelta(days=1), channel="Paid Search")  # matched by a rule: not Unassigned
    TrackedLink.objects.create(slug="tt-fall", destination="https://example.com/fall", utm_source="tiktok-ads",
                               utm_medium="social-x", utm_campaign="fall_202611")
    Touch.objects.create(visitor_id="sbv_abc", at=NOW - timedelta(days=1, hours=1), kind="session",
                         source="tiktok-ads", medium="social-x", landing_path="/pricing")
    [finding] = unassigned_value_check(NOW)
    assert finding.key == "unassigned_value:tiktok-ads / social-x"
    assert "2 booking(s)" in finding.detail
    assert "tracked link /l/tt-fall → https://example.com/fall" in finding.detail and "landing page /pricing" in finding.detail
    with time_machine.travel(NOW, tick=False) as clock:
        alerts_evaluate()
        alerts_evaluate()
        assert marketing() == ["[Sourcebook] New Unassigned value: tiktok-ads / social-x"]
        clock.shift(timedelta(days=8))  # it has been around for a week: a known value now
        book(NOW + timedelta(days=7), channel="Unassigned", source="tiktok-ads", medium="social-x")
        alerts_evaluate()
        assert marketing()[1:] == ["[Sourcebook] Resolved: New Unassigned value: tiktok-ads / social-x"]
    assert AlertState.objects.get(key="unassigned_value:tiktok-ads / social-x").detail.startswith("No longer new")


def test_a_campaign_that_booked_every_week_and_stopped(marketing, settings):
    settings.ALERTS_CAMPAIGN_WEEKS = 4
    for weeks in range(1, 5):
        monday = LAST_WEEK - timedelta(weeks=weeks)
        book(monday + timedelta(days=2), campaign="spring_202611", count=weeks)
        if weeks != 3:
            book(monday + timedelta(days=3), campaign="gappy_202611")  # missed a week: not "every week"
        book(monday + timedelta(days=1), campaign="steady_202611")
    book(LAST_WEEK + timedelta(days=4), campaign="steady_202611")  # still booking
    book(LAST_WEEK + timedelta(days=4), campaign="(not set)")
    [finding] = campaign_dropped_check(NOW)
    assert finding.key == "campaign_dropped:spring_202611"
    assert "each of the 4 weeks before (4, 3, 2, 1)" in finding.detail
    assert finding.link.startswith("/dashboard/?start=2026-10-12&end=2026-11-15&campaign=spring_202611")
    with time_machine.travel(NOW, tick=False) as clock:
        alerts_evaluate()
        assert marketing() == ["[Sourcebook] Campaign “spring_202611” had no bookings last week"]
        book(LAST_WEEK + timedelta(days=8), campaign="spring_202611")  # it books again this week
        book(LAST_WEEK + timedelta(days=9), campaign="steady_202611")
        clock.shift(timedelta(days=7))
        alerts_evaluate()
        assert marketing()[1:] == ["[Sourcebook] Resolved: Campaign “spring_202611” had no bookings last week"]


def test_marketing_alerts_go_to_marketing_destinations_only(destination, webhook_receiver, settings):
    destination("ops only", marketing=False, digest=False)
    settings.ALERTS_DIRECT_MIN_BOOKINGS = 5
    book(LAST_WEEK - timedelta(days=3), count=10)
    direct(LAST_WEEK + timedelta(days=1), 10)
    alerts_evaluate()
    send_due()
    assert webhook_receiver.received == []


SLACK_URL = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"


def _slack_text(notification) -> str:
    """The mrkdwn apprise's Slack plugin would post for this notification."""
    response = mock.Mock(status_code=200, content=b"ok", text="ok")
    response.json.return_value = {}
    with mock.patch("requests.request", return_value=response) as request:
        deliver(normalize(SLACK_URL), Message(subject=notification.subject, text=notification.text,
                                              markdown=notification.markdown, html=notification.html))
    [call] = request.call_args_list
    return json.dumps(json.loads(call.kwargs["data"])["attachments"][0]["blocks"][1:])


def test_hostile_values_stay_text_in_a_slack_alert(destination):
    """A source, medium or campaign is whatever a link said: in an alert it must not mention @channel in Slack nor
    become a link, whether it reaches the title or the detail (unassigned value, dropped campaign)."""
    destination("marketing", ops=False, digest=False)
    hostile = "<!channel> <http://evil.example|click> [x](http://evil2.example)"
    book(NOW - timedelta(days=1), channel="Unassigned", source=hostile, medium="*bold*")
    for weeks in range(1, 5):
        book(LAST_WEEK - timedelta(weeks=weeks) + timedelta(days=1), campaign=hostile)
    with time_machine.travel(NOW, tick=False):
        alerts_evaluate()
    rows = Notification.objects.filter(topic="marketing")
    assert rows.count() == 2
    for row in rows:
        text = _slack_text(row)
        assert "<!channel>" not in text and "<http://evil" not in text and "|x>" not in text, text
        assert "&lt;!channel&gt;" in text


def test_an_alert_of_a_long_hostile_value_still_fits_slacks_section(destination):
    """apprise turns each & into &amp; (and \\< into &lt;): a 255-character source of them, shown in the title and
    the detail, would make a section Slack refuses (over 3000 characters), so the alert never arrived."""
    destination("marketing", ops=False, digest=False)
    book(NOW - timedelta(days=1), channel="Unassigned", source="&" * 255, medium="<" * 255)
    with time_machine.travel(NOW, tick=False):
        alerts_evaluate()
    row = Notification.objects.get(topic="marketing")
    section = json.loads(_slack_text(row))[0]["text"]["text"]
    assert len(section) <= 3000 and "Silence this alert" in section, len(section)


def test_values_with_slashes_are_two_alerts_not_one():
    from alerts.checks import _key_part

    one = f"unassigned_value:{_key_part('a / b')} / {_key_part('c')}"
    other = f"unassigned_value:{_key_part('a')} / {_key_part('b / c')}"
    assert one != other and _key_part("tiktok-ads") == "tiktok-ads"
