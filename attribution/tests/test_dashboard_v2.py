"""The dashboard answers a marketer's questions on one screen: any dimension, calendar periods and comparisons,
what counts as a demo, held meetings and an honest no-show rate, a continuous chart, CSVs named after what
they hold. Bookings arrive through the real webhook endpoint; the clock is frozen where periods matter."""

import csv
import io
from datetime import date, datetime, timedelta, timezone as dt_timezone

import pytest
from django.utils import timezone
from hypothesis import given, strategies as st

from attribution.dashboard import buckets, channel_color, chart_data
from attribution.models import DemoEventType
from attribution.rollup import rollup_rebuild, upcoming_compact
from attribution.tests.test_dashboard import roles  # noqa: F401  (fixture)
from bookings import calendly
from bookings.samples import invitee_payload

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 18, 15, 0, tzinfo=dt_timezone.utc)  # a Wednesday in the middle of November


@pytest.fixture
def frozen(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    return NOW


@pytest.fixture
def marketer(client, roles):  # noqa: F811
    client.force_login(roles("m", "Marketing"))
    return client


def book(post_signed, n, *, on, campaign="", source="linkedin", medium="paid_social", start=None, event_type="Product demo",
         said=None):
    answers = [{"question": "How did you hear about us?", "answer": said}] if said else []
    tracking = {"utm_source": source, "utm_medium": medium, "utm_campaign": campaign} if source else {}
    for i in range(n):
        invitee = f"{on:%m%d}-{source}-{campaign}-{event_type[:3]}-{i}-{start.isoformat() if start else ''}"
        response = post_signed(invitee_payload(invitee_id=invitee, email=f"{invitee}@example.com", tracking=tracking,
                                               booked_at=on, start_time=start or on + timedelta(hours=2),
                                               event_type_name=event_type, questions_and_answers=answers))
        assert response.status_code == 200


def at(day):
    return datetime.combine(day, datetime.min.time(), tzinfo=dt_timezone.utc) + timedelta(hours=10)


def test_which_campaign_booked_most_last_month_compared_with_the_month_before(marketer, post_signed, frozen):
    book(post_signed, 5, on=at(date(2026, 10, 3)), campaign="launch_202610")
    book(post_signed, 2, on=at(date(2026, 10, 20)), campaign="abm_202610")
    book(post_signed, 3, on=at(date(2026, 9, 10)), campaign="launch_202610")
    book(post_signed, 4, on=at(date(2026, 9, 30)), campaign="summer_202609")  # only in the month before
    book(post_signed, 9, on=at(date(2026, 11, 2)), campaign="abm_202610")  # this month: not in the answer

    response = marketer.get("/dashboard/?dim=campaign&range=last_month")
    context, page = response.context, response.content.decode()
    rows = [(r["campaign"], r["bookings"], r["previous"], r["delta"]) for r in context["data"]["rows"]]
    assert rows == [("launch_202610", 5, 3, 2), ("abm_202610", 2, 0, 2), ("summer_202609", 0, 4, -4)]
    assert context["period"].label == "1 Oct 2026 – 31 Oct 2026"
    assert context["previous_period"].label == "1 Sep 2026 – 30 Sep 2026"  # the calendar month before
    assert "<strong>launch_202610</strong> booked the most demos in this period: 5 (71.4 %), 3 in 1 Sep 2026 – 30 Sep 2026 (+2)" in page
    # The Previous column adds up to the comparison's headline number, rows booked only then included.
    assert sum(r[2] for r in rows) == context["data"]["previous_kpis"]["bookings"] == 7
    assert 'id="previous-total">7<' in page


@pytest.mark.parametrize("compare, previous", [("year", 1), ("previous", 3), ("none", None)])
def test_the_comparison_can_be_the_period_before_a_year_before_or_none(marketer, post_signed, frozen, compare, previous):
    book(post_signed, 2, on=at(date(2026, 10, 5)), campaign="a")
    book(post_signed, 3, on=at(date(2026, 9, 5)), campaign="a")
    book(post_signed, 1, on=at(date(2025, 10, 7)), campaign="a")
    context = marketer.get(f"/dashboard/?range=last_month&compare={compare}").context
    if previous is None:
        assert context["data"]["previous_kpis"] is None and "previous" not in context["data"]["rows"][0]
        assert "no comparison" in marketer.get(f"/dashboard/?range=last_month&compare={compare}").content.decode()
    else:
        assert context["data"]["previous_kpis"]["bookings"] == previous


def test_held_excludes_meetings_still_ahead_and_the_no_show_rate_counts_only_meetings_due(marketer, post_signed):
    # The real clock: the trigger that counts meetings still ahead reads the database's.
    now = datetime.now(dt_timezone.utc).replace(microsecond=0)
    past = now - timedelta(days=3)
    utm = {"utm_source": "linkedin", "utm_medium": "paid_social"}
    book(post_signed, 3, on=past, campaign="held")  # met two hours after booking
    book(post_signed, 2, on=past, campaign="ahead", start=now + timedelta(days=2))  # booked, not held yet
    book(post_signed, 1, on=past, campaign="ahead", start=now + timedelta(minutes=30))  # later today (or just after)
    post_signed(invitee_payload(invitee_id="GONE", email="gone@example.com", booked_at=past, start_time=now + timedelta(days=1),
                                tracking=utm, event=calendly.INVITEE_CANCELED))
    post_signed(invitee_payload(invitee_id="NS", email="ns@example.com", booked_at=past, start_time=past + timedelta(hours=2),
                                tracking=utm))
    post_signed(invitee_payload(invitee_id="NS", email="ns@example.com", booked_at=past, start_time=past + timedelta(hours=2),
                                tracking=utm, event=calendly.NO_SHOW_CREATED, occurred_at=past + timedelta(hours=3)))

    def check():
        kpis = marketer.get("/dashboard/?range=30d").context["data"]["kpis"]
        assert (kpis["bookings"], kpis["held"], kpis["canceled"], kpis["no_show"]) == (8, 3, 1, 1)
        assert kpis["no_show_rate"] == pytest.approx(1 / 4)  # over the 4 meetings due, not the 8 bookings
        rows = {r["campaign"]: r for r in marketer.get("/dashboard/?range=30d&dim=campaign").context["data"]["rows"]}
        assert rows["ahead"]["held"] == 0 and rows["ahead"]["no_show_rate"] is None and rows["held"]["held"] == 3

    check()
    upcoming_compact()  # beat folds the meetings-ahead rows: same numbers
    check()
    rollup_rebuild()  # and a rebuild recounts them
    check()
    # The meeting ahead is marked a no-show (Calendly allows it any time): it leaves "ahead", joins no-shows.
    first_ahead = f"{past:%m%d}-linkedin-ahead-Pro-0-{(now + timedelta(days=2)).isoformat()}"
    post_signed(invitee_payload(invitee_id=first_ahead, email=f"{first_ahead}@example.com", booked_at=past,
                                start_time=now + timedelta(days=2), tracking={**utm, "utm_campaign": "ahead"},
                                event=calendly.NO_SHOW_CREATED, occurred_at=now))
    kpis = marketer.get("/dashboard/?range=30d").context["data"]["kpis"]
    assert (kpis["held"], kpis["no_show"]) == (3, 2)


def test_the_event_types_that_count_as_demos_are_a_setting_and_the_heading_names_them(marketer, post_signed, frozen):
    book(post_signed, 2, on=at(date(2026, 11, 10)), event_type="Product demo")
    book(post_signed, 5, on=at(date(2026, 11, 10)), event_type="Support call")
    assert marketer.get("/dashboard/?range=30d").context["data"]["kpis"]["bookings"] == 7
    DemoEventType.objects.create(name="Product demo")
    response = marketer.get("/dashboard/?range=30d")
    assert response.context["data"]["kpis"]["bookings"] == 2
    assert "Demos booked (Product demo)" in response.content.decode()
    # The event-type filter still reaches the others.
    other = marketer.get("/dashboard/?range=30d&event_type=Support+call")
    assert other.context["data"]["kpis"]["bookings"] == 5 and "Support call bookings" in other.content.decode()


def test_status_filter_and_a_secondary_dimension(marketer, post_signed, frozen):
    book(post_signed, 2, on=at(date(2026, 11, 10)), campaign="x")
    book(post_signed, 1, on=at(date(2026, 11, 11)), source="google", medium="cpc", campaign="y")
    post_signed(invitee_payload(invitee_id="C1", email="c1@example.com", booked_at=at(date(2026, 11, 12)),
                                tracking={"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "y"},
                                event=calendly.INVITEE_CANCELED))
    data = marketer.get("/dashboard/?range=30d&dim=channel&dim2=campaign").context["data"]
    assert [(r["channel"], r["campaign"], r["bookings"]) for r in data["rows"]] == [
        ("Paid Search", "y", 2), ("Paid Social", "x", 2)]
    canceled = marketer.get("/dashboard/?range=30d&status=canceled").context["data"]
    assert [(r["channel"], r["bookings"]) for r in canceled["rows"]] == [("Paid Search", 1)]


def test_the_direct_row_opens_the_backlog_for_the_same_period_and_drilled_tiles_hide(marketer, post_signed, frozen):
    book(post_signed, 2, on=at(date(2026, 11, 10)), source=None)
    book(post_signed, 1, on=at(date(2026, 11, 10)), campaign="x")
    book(post_signed, 1, on=at(date(2026, 11, 10)), source="facebook", medium="paid_social", campaign="z")
    response = marketer.get("/dashboard/?range=last_month&compare=none")
    assert response.context["data"]["kpis"]["bookings"] == 0
    response = marketer.get("/dashboard/?range=month")
    direct = next(r for r in response.context["data"]["rows"] if r["channel"] == "Direct")
    assert direct["drill_url"] == "/dashboard/direct/?range=month"
    assert 'data-kpi="direct"' in response.content.decode()
    drilled = marketer.get("/dashboard/?range=month&channel=Paid+Social&dim=source")
    assert 'data-kpi="direct"' not in drilled.content.decode() and 'data-kpi="unassigned"' not in drilled.content.decode()
    assert [r["source"] for r in drilled.context["data"]["rows"]] == ["facebook", "linkedin"]


def test_csv_files_are_named_after_their_dimension_and_range_with_shares_in_percent(marketer, post_signed, frozen):
    book(post_signed, 3, on=at(date(2026, 10, 1)), campaign="a")  # a Thursday: its week began in September
    book(post_signed, 1, on=at(date(2026, 10, 20)), campaign="b")
    response = marketer.get("/dashboard/?range=last_month&dim=campaign&export=table")
    assert 'filename="bookings-by-campaign-2026-10-01_2026-10-31.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["campaign"], r["bookings"], r["share_pct"]) for r in rows] == [("a", "3", "75.0"), ("b", "1", "25.0")]
    weekly = marketer.get("/dashboard/?range=last_month&dim=campaign&interval=week&export=timeseries")
    assert "bookings-over-time-by-campaign-2026-10-01_2026-10-31.csv" in weekly["Content-Disposition"]
    periods = [r["period"] for r in csv.DictReader(io.StringIO(weekly.content.decode()))]
    assert min(periods) == "2026-10-01"  # the week of 28 September, clipped to the period


def test_the_chart_has_a_continuous_axis_and_one_colour_per_channel(marketer, post_signed, frozen):
    book(post_signed, 1, on=at(date(2026, 11, 2)), campaign="a")
    book(post_signed, 2, on=at(date(2026, 11, 9)), source="google", medium="cpc")
    chart = marketer.get("/dashboard/?range=month&interval=day").context["chart"]
    assert chart["labels"][0] == "2026-11-01" and chart["labels"][-1] == "2026-11-18" and len(chart["labels"]) == 18
    social = next(d for d in chart["datasets"] if d["label"] == "Paid Social")
    assert social["data"][1] == 1 and sum(social["data"]) == 1  # 2 November; zeros elsewhere
    search = next(d for d in chart["datasets"] if d["label"] == "Paid Search")
    assert social["backgroundColor"] == channel_color("Paid Social") != search["backgroundColor"]
    # The colour stays when the rank changes.
    book(post_signed, 3, on=at(date(2026, 11, 3)), campaign="b")
    again = marketer.get("/dashboard/?range=month").context["chart"]
    assert next(d for d in again["datasets"] if d["label"] == "Paid Social")["backgroundColor"] == social["backgroundColor"]


@given(start=st.dates(date(2020, 1, 1), date(2030, 1, 1)), length=st.integers(1, 400),
       interval=st.sampled_from(["day", "week", "month"]))
def test_buckets_cover_the_period_without_gaps(start, length, interval):
    end = start + timedelta(days=length)
    axis = buckets(start, end, interval)
    assert axis[0] == start and all(start <= b < end for b in axis) and axis == sorted(set(axis))
    step = {"day": 1, "week": 7, "month": 31}[interval]
    assert all((b - a).days <= step for a, b in zip(axis, axis[1:]))
    series = [{"period": b, "channel": "X", "bookings": 1} for b in axis]
    assert sum(chart_data(series, "channel", ["X"], start, end, interval)["datasets"][0]["data"]) == len(axis)


@pytest.mark.parametrize("query", ["dim=../etc", "dim2=channel&dim=channel", "compare=yesterday", "range=last_century",
                                   "status=deleted", "interval=hour", "dim=landing_page", "dim=first_touch_channel",
                                   "dim=self_reported&dim2=landing_page", "event_type=" + "x" * 300])
def test_odd_parameters_fall_back_to_defaults(marketer, post_signed, frozen, query):
    book(post_signed, 1, on=at(date(2026, 11, 10)), said="LinkedIn")
    response = marketer.get(f"/dashboard/?{query}")
    assert response.status_code == 200
    assert response.context["data"]["kpis"]["bookings"] in (0, 1)


def test_the_filter_forms_empty_choices_filter_nothing(marketer, post_signed, frozen):
    """The form sends every field: an empty event type or status means all of them."""
    book(post_signed, 2, on=at(date(2026, 10, 12)), campaign="x")
    response = marketer.get("/dashboard/?dim=campaign&dim2=&range=last_month&start=2026-10-30&end=2026-11-18"
                            "&compare=previous&event_type=&status=&interval=day")
    assert response.context["data"]["kpis"]["bookings"] == 2


def test_the_backlog_says_when_the_dashboard_counts_only_some_event_types(marketer, post_signed, frozen):
    book(post_signed, 1, on=at(date(2026, 11, 10)), source=None, event_type="Support call")
    assert "counted-note" not in marketer.get("/dashboard/direct/").content.decode()
    DemoEventType.objects.create(name="Product demo")
    page = marketer.get("/dashboard/direct/").content.decode()
    assert 'id="counted-note"' in page and "(Product demo)" in page


def test_the_landing_page_is_a_rollup_dimension_kept_by_changes_and_rebuilds(marketer, post_signed, frozen):
    from bookings.models import Booking

    book(post_signed, 3, on=at(date(2026, 11, 10)), campaign="x")
    book(post_signed, 1, on=at(date(2026, 11, 11)), source=None)
    ids = list(Booking.objects.order_by("id").values_list("id", flat=True))
    Booking.objects.filter(id__in=ids[:2]).update(first_touch_landing_path="/pricing")  # the journey's landing page

    def rows():
        data = marketer.get("/dashboard/?range=30d&dim=landing_page&dim2=channel").context["data"]
        return sorted((r["landing_page"], r["channel"], r["bookings"]) for r in data["rows"])

    expected = [("", "Direct", 1), ("", "Paid Social", 1), ("/pricing", "Paid Social", 2)]
    assert rows() == expected
    rollup_rebuild()
    assert rows() == expected
    page = marketer.get("/dashboard/?range=30d&dim=landing_page").content.decode()
    assert "/pricing" in page and "(not set)" in page


def test_the_answer_names_a_real_campaign_not_the_untagged_ones(marketer, post_signed, frozen):
    book(post_signed, 5, on=at(date(2026, 10, 3)), source="linkedin", campaign="")  # tagged, no campaign: "(not set)"
    book(post_signed, 2, on=at(date(2026, 10, 4)), campaign="launch_202610")
    response = marketer.get("/dashboard/?dim=campaign&range=last_month")
    assert response.context["data"]["rows"][0]["campaign"] == "(not set)"  # the table keeps it first
    assert response.context["top"]["campaign"] == "launch_202610"  # the answer names a campaign
