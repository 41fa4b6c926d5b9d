import csv
import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token

from attribution import selectors
from attribution.models import BannedValue, ManualAttribution
from attribution.ruleset import ruleset_changed
from bookings import calendly
from bookings.models import Booking
from bookings.samples import invitee_payload

from .conftest import T0

pytestmark = pytest.mark.django_db

GOOGLE = {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "brand_202606"}
LINKEDIN = {"utm_source": "LinkedIn", "utm_medium": "paid", "utm_campaign": "spring_202606"}


@pytest.fixture
def api(login_as):
    return login_as("analyst", group="Marketing")


@pytest.fixture
def seeded(book):
    book(utm=GOOGLE)
    book(utm=GOOGLE, canceled=True)
    book(utm=GOOGLE, days=1, no_show=True)
    book(utm=LINKEDIN, days=2)
    book(utm={"utm_source": "linkedin", "utm_medium": "paid", "utm_campaign": "fall_202609"}, days=40)
    book(days=3)  # untagged
    book(utm={"utm_source": "website", "utm_medium": "banner"}, days=4)


def test_reports_need_a_login(client):
    assert client.get("/api/reports/breakdown/").status_code in (401, 403)
    assert client.get("/api/reports/timeseries/").status_code in (401, 403)


def test_token_auth_works(seeded, client):
    bot = User.objects.create_user("bot")
    from django.contrib.auth.models import Permission

    bot.user_permissions.add(Permission.objects.get(codename="view_dashboard"))
    token = Token.objects.create(user=bot)
    response = client.get("/api/reports/breakdown/", headers={"Authorization": f"Token {token.key}"})
    assert response.status_code == 200


def test_breakdown_by_channel_counts_and_shares(seeded, api):
    data = api.get("/api/reports/breakdown/?group_by=channel").json()
    by = {r["channel"]: r for r in data["rows"]}
    assert data["total"] == 7
    assert by["Paid Search"]["bookings"] == 3
    assert by["Paid Search"]["canceled"] == 1 and by["Paid Search"]["no_show"] == 1
    assert by["Paid Social"]["bookings"] == 2
    assert by["Direct"]["bookings"] == 1
    assert by["Unassigned"]["bookings"] == 1
    assert by["Paid Search"]["share"] == round(3 / 7, 4)
    assert sum(r["bookings"] for r in data["rows"]) == data["total"]


def test_breakdown_drills_down_and_filters(seeded, api):
    data = api.get("/api/reports/breakdown/?group_by=channel,source,medium,campaign&channel=Paid+Social").json()
    assert {(r["source"], r["campaign"]) for r in data["rows"]} == {("linkedin", "spring_202606"), ("linkedin", "fall_202609")}
    window = api.get(f"/api/reports/breakdown/?group_by=campaign&booked_after={T0.date()}&booked_before={(T0 + timedelta(days=10)).date()}").json()
    assert "fall_202609" not in {r["campaign"] for r in window["rows"]}
    assert window["total"] == 6
    canceled = api.get("/api/reports/breakdown/?status=canceled").json()
    assert canceled["total"] == 1


def test_breakdown_rejects_unknown_group(api):
    response = api.get("/api/reports/breakdown/?group_by=channel,password")
    assert response.status_code == 400
    assert "group_by" in response.json()


def test_a_reschedule_counts_once(api, post_signed):
    old_uri = "https://api.calendly.com/scheduled_events/EV-O/invitees/O"
    post_signed(invitee_payload(invitee_id="O", event_id="EV-O", booked_at=T0, tracking=GOOGLE))
    post_signed(invitee_payload(event=calendly.INVITEE_CANCELED, invitee_id="O", event_id="EV-O", booked_at=T0,
                                updated_at=T0 + timedelta(hours=1), rescheduled=True, tracking=GOOGLE,
                                new_invitee="https://api.calendly.com/scheduled_events/EV-N/invitees/N"))
    post_signed(invitee_payload(invitee_id="N", event_id="EV-N", booked_at=T0 + timedelta(hours=1), old_invitee=old_uri))
    data = api.get("/api/reports/breakdown/?group_by=channel").json()
    assert data["total"] == 1
    assert data["rows"][0]["channel"] == "Paid Search" and data["rows"][0]["canceled"] == 0


def test_timeseries_by_day_and_month(seeded, api):
    daily = api.get("/api/reports/timeseries/?interval=day&group_by=channel").json()
    assert daily["total"] == 7 and (daily["interval"], daily["group_by"]) == ("day", "channel")
    day0 = [r for r in daily["rows"] if r["period"].startswith(str(T0.date()))]
    assert {r["channel"]: r["bookings"] for r in day0} == {"Paid Search": 2}
    monthly = api.get("/api/reports/timeseries/?interval=month").json()
    assert sum(r["bookings"] for r in monthly["rows"]) == 7
    assert len({r["period"] for r in monthly["rows"]}) == 2


def test_csv_export_has_the_same_numbers(seeded, api):
    json_rows = api.get("/api/reports/breakdown/?group_by=channel,source").json()["rows"]
    response = api.get("/api/reports/breakdown/?group_by=channel,source&format=csv")
    assert response["Content-Type"].startswith("text/csv")
    csv_rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["channel"], r["source"], int(r["bookings"])) for r in csv_rows] == \
           [(r["channel"], r["source"], r["bookings"]) for r in json_rows]
    ts = api.get("/api/reports/timeseries/?format=csv")
    assert ts.status_code == 200 and "period" in ts.content.decode().splitlines()[0]


def test_an_empty_csv_export_is_still_a_csv_with_its_header(seeded, api):
    """Found by schemathesis: no rows gave an empty body, and DRF then drops the Content-Type."""
    for url, header in [("/api/reports/breakdown/?group_by=channel,source&event_type=nothing&format=csv",
                         "channel,source,bookings,canceled,no_show,share"),
                        ("/api/reports/timeseries/?group_by=medium&event_type=nothing&format=csv",
                         "period,medium,bookings,canceled,no_show")]:
        response = api.get(url)
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
        assert response.content.decode().splitlines() == [header]


def test_hygiene_lists_unassigned_banned_collisions_and_backlog(seeded, api, book):
    data = api.get("/api/reports/hygiene/").json()
    assert {"source": "website", "medium": "banner", "bookings": 1} in data["unassigned"]
    assert data["banned"][0]["source"] == "website"
    # "LinkedIn" and "linkedin" are one value once normalized: not a collision. "linked-in" is another value.
    assert not any(c["value"] == "linkedin" for c in data["collisions"])
    book(utm={"utm_source": "linked-in", "utm_medium": "paid"}, days=5)
    collision = next(c for c in api.get("/api/reports/hygiene/").json()["collisions"] if c["value"] == "linkedin")
    assert collision["field"] == "source" and collision["bookings"] == 3
    assert collision["spellings"] == [{"raw": "linkedin", "bookings": 2}, {"raw": "linked-in", "bookings": 1}]
    assert data["direct_backlog"][0]["event_type_name"] == "Product demo"
    assert sum(r["bookings"] for r in data["direct_backlog"]) == 1


def test_contact_view_has_first_and_last_touch(book, api):
    book(utm=LINKEDIN, email="dana@example.com", answer="ChatGPT")
    book(days=5, utm=GOOGLE, email="dana@example.com")
    data = api.get("/api/contacts/attribution/?email=Dana@Example.com").json()
    assert data["first_touch"]["channel"] == "Paid Social"
    assert data["last_touch"]["channel"] == "Paid Search"
    assert data["bookings_count"] == 2
    assert data["self_reported_source"] == "chatgpt"
    assert data["email"] == "dana@example.com"  # as stored: trimmed, lower-cased
    assert api.get("/api/contacts/attribution/?email=nobody@example.com").status_code == 404


def test_contact_attribution_reads_one_person_in_one_query(book, django_assert_num_queries):
    for days in (0, 3, 6):
        book(utm=LINKEDIN, email="dana@example.com", days=days)
    with django_assert_num_queries(1):  # the touches' fields come with the rows, not one query per field
        data = selectors.contact_attribution(email=" Dana@example.com")
    assert data["bookings_count"] == 3 and data["first_touch"]["source"] == "linkedin"


def test_a_sources_mediums_come_most_used_first(book):
    uses = {"aa_once": 1, "zz_thrice": 3, "mm_twice": 2, "bb_once": 1}  # most used first, not by name
    days = iter(range(20))
    for medium, count in uses.items():
        for _ in range(count):
            book(utm={"utm_source": "linkedin", "utm_medium": medium}, days=next(days))
    book(utm={"utm_source": "linkedin"}, days=next(days))  # no medium: not a medium real links used
    assert selectors.source_mediums("linkedin") == ["zz_thrice", "mm_twice", "aa_once", "bb_once"]


@given(year=st.integers(2000, 2100), month=st.integers(1, 12))
def test_a_month_is_its_first_midnight_to_the_next_months(year, month):
    first, following = selectors.month_bounds(f"{year}-{month:02d}")
    assert (first.year, first.month, first.day, first.hour, first.minute) == (year, month, 1, 0, 0)
    assert following.day == 1 and (following.hour, following.minute) == (0, 0)
    assert (following.year, following.month) == ((year, month + 1) if month < 12 else (year + 1, 1))
    assert first.tzinfo is not None and following.tzinfo is not None


def test_the_headline_shares_are_of_all_bookings_to_one_decimal(book):
    """7 bookings: 1 canceled, 2 no-shows, 3 untagged, 1 on a pair no rule knows."""
    book(utm=GOOGLE)
    book(utm=GOOGLE, days=1, canceled=True)
    book(utm=GOOGLE, days=2, no_show=True)
    book(days=3)
    book(days=4)
    book(days=5, no_show=True)
    book(utm={"utm_source": "weird-source", "utm_medium": "zzz"}, days=6)
    k = selectors.kpis()
    assert (k["bookings"], k["canceled"], k["no_show"], k["direct"], k["unassigned"]) == (7, 1, 2, 3, 1)
    assert (k["canceled_pct"], k["no_show_pct"], k["direct_pct"], k["unassigned_pct"]) == (14.3, 28.6, 42.9, 14.3)
    assert k["synced_pct"] == 0.0


def test_no_bookings_make_every_share_zero(db):
    k = selectors.kpis()
    assert k["bookings"] == 0
    assert {k[name] for name in ("canceled_pct", "no_show_pct", "direct_pct", "unassigned_pct", "synced_pct")} == {0.0}


def test_spellings_of_one_value_list_most_used_then_by_name(book):
    book(utm={"utm_source": "linkedin", "utm_medium": "paid_social"})
    book(utm={"utm_source": "linked-in", "utm_medium": "zzz-unknown"}, days=1)
    [collision] = [c for c in selectors.hygiene()["collisions"] if c["field"] == "source"]
    assert [s["raw"] for s in collision["spellings"]] == ["linked-in", "linkedin"]  # a tie: by name
    assert collision["value"] == "linked-in"


def test_the_placeholder_values_are_never_a_spelling_of_a_real_one(book):
    """A link without a campaign ("(not set)") and a link tagged "not-set" are not one value spelled twice."""
    book(utm={"utm_source": "google", "utm_medium": "cpc"})
    book(utm={**GOOGLE, "utm_campaign": "not-set"}, days=1)
    assert not [c for c in selectors.hygiene()["collisions"] if c["field"] == "campaign"]


def test_the_booking_model_credits_the_bookings_own_fields():
    assert selectors.credited_values("booking") == {}
    assert set(selectors.credited_values("first_touch")) == set(selectors.CREDITED)


def test_a_banned_value_is_listed_with_its_bookings(book):
    BannedValue.objects.create(value="tbd")
    ruleset_changed()
    for days in (0, 1):
        book(utm={"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "tbd"}, days=days)
    assert selectors.hygiene()["banned"] == [{"source": "google", "medium": "cpc", "campaign": "tbd", "bookings": 2}]


def test_assignment_history_is_the_latest_twenty_with_a_bulk_assignment_as_one_item(book):
    book()
    booking = Booking.objects.get()
    for i in range(3):  # one bulk assignment ("They said") of three bookings, one of them reverted since
        ManualAttribution.objects.create(booking=booking, from_values={}, to_values={"batch": "b1", "utm_source": "g2"},
                                         reverted_at=T0 if i == 0 else None)
    singles = [ManualAttribution.objects.create(booking=booking, from_values={}, to_values={"utm_source": f"s{i}"})
               for i in range(25)]
    history = selectors.assignment_history()
    assert len(history) == 20
    assert [item["entry"].pk for item in history] == [m.pk for m in reversed(singles)][:20]
    assert {item["batch"] for item in history} == {""}
    bulk = next(item for item in selectors.assignment_history(limit=30) if item["batch"])
    assert (bulk["batch"], bulk["bookings"], bulk["open"]) == ("b1", 3, 2)


def _midnight(at):
    return timezone.localtime(at).replace(hour=0, minute=0, second=0, microsecond=0)


def test_a_period_that_ends_before_it_starts_selects_nothing(book):
    book()  # untagged, at T0
    inverted = {"booked_after": T0 - timedelta(days=1), "booked_before": T0 - timedelta(days=2)}
    assert selectors.direct_backlog_said(**inverted) == []
    assert not selectors.direct_backlog_bookings(**inverted).exists()


def test_partial_days_at_the_edges_come_from_the_bookings_table(book):
    book(utm=GOOGLE)  # T0 + 1 min
    book(utm=GOOGLE)  # T0 + 2 min
    book(utm=LINKEDIN, days=1)
    book(utm=LINKEDIN, days=3)
    report = selectors.breakdown(group_by=["channel"], booked_after=T0 + timedelta(seconds=90),
                                 booked_before=_midnight(T0) + timedelta(days=2))
    assert {r["channel"]: r["bookings"] for r in report["rows"]} == {"Paid Search": 1, "Paid Social": 1}
    assert report["total"] == 2


def test_the_backlog_by_month_counts_a_partial_first_day_from_the_table(book):
    for _ in range(3):
        book()  # T0 + 1, 2, 3 min
    book(event_type="Intro call")
    book(days=35)  # next month
    until = _midnight(T0) + timedelta(days=60)

    def shape(rows):
        return [(r["event_type_name"], timezone.localtime(r["month"]).date().isoformat()[:7], r["bookings"]) for r in rows]

    whole_days = selectors.direct_backlog(booked_after=_midnight(T0), booked_before=until)  # the rollup
    partial = selectors.direct_backlog(booked_after=T0 + timedelta(seconds=90), booked_before=until)  # + the table
    assert shape(whole_days) == [("Product demo", "2026-07", 1), ("Product demo", "2026-06", 3), ("Intro call", "2026-06", 1)]
    assert shape(partial) == [("Product demo", "2026-07", 1), ("Product demo", "2026-06", 2), ("Intro call", "2026-06", 1)]


def test_the_backlog_list_ends_where_the_period_ends(book):
    book()
    book(days=3)
    listed = selectors.direct_backlog_bookings(booked_before=T0 + timedelta(days=1))
    assert listed.count() == 1


def test_the_demo_event_types_filter_reaches_the_rollup_read(book):
    book(utm=GOOGLE)
    book(utm=GOOGLE, event_type="Intro call", days=1)
    whole_days = {"booked_after": _midnight(T0), "booked_before": _midnight(T0) + timedelta(days=5)}
    assert selectors.breakdown(group_by=["channel"], event_types=["Intro call"], **whole_days)["total"] == 1
    assert selectors.breakdown(group_by=["channel"], **whole_days)["total"] == 2
