import csv
import io
from datetime import date, timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from hypothesis import given, strategies as st

from attribution.periods import PRESETS, months_shift, period_parse
from attribution.services import bookings_reattribute
from attribution.tests.conftest import assign_confirmed, run_queued_reattribute
from bookings.models import Booking

pytestmark = pytest.mark.django_db
PAGES = ["/dashboard/", "/dashboard/direct/", "/dashboard/hygiene/", "/dashboard/links/"]
APIS = ["/api/reports/breakdown/", "/api/reports/timeseries/", "/api/reports/hygiene/"]


@pytest.fixture
def roles():
    call_command("setup_roles", verbosity=0)

    def user(name, role=None, **extra):
        u = User.objects.create_user(name, password="pw-123456789", is_staff=True, **extra)
        if role:
            u.groups.add(Group.objects.get(name=role))
        return u

    return user


@pytest.fixture
def recent(post_signed):
    """Bookings in the last days, through the real endpoint."""
    from datetime import datetime, timezone

    from bookings.samples import invitee_payload

    now = datetime.now(timezone.utc).replace(hour=12, minute=0, second=0, microsecond=0)
    specs = [({"utm_source": "google", "utm_medium": "cpc"}, 3), ({"utm_source": "linkedin", "utm_medium": "paid"}, 2),
             ({}, 4), ({"utm_source": "partnerportal", "utm_medium": "widget"}, 2)]
    n = 0
    for utm, count in specs:
        for _ in range(count):
            n += 1
            post_signed(invitee_payload(invitee_id=f"D{n}", booked_at=now - timedelta(days=n % 5 + 1), tracking=utm,
                                        questions_and_answers=[{"question": "How did you hear about us?", "answer": "ChatGPT"}]))


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_users_are_sent_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("url", PAGES + APIS)
def test_sales_cannot_see_marketing_pages_or_reports(client, roles, url):
    client.force_login(roles("sam", "Sales"))
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("url", PAGES + APIS)
@pytest.mark.parametrize("role", ["Marketing", "Admin"])
def test_marketing_and_admin_can(client, roles, url, role):
    client.force_login(roles("m", role))
    assert client.get(url).status_code == 200


def test_sales_can_read_bookings_in_admin_and_api(client, roles, recent):
    client.force_login(roles("sam", "Sales"))
    assert client.get("/admin/bookings/booking/").status_code == 200
    assert client.get("/api/bookings/").json()["count"] == 11
    assert client.get("/admin/attribution/channelrule/").status_code == 403


def test_sales_cannot_assign_or_add_aliases(client, roles, recent):
    client.force_login(roles("sam", "Sales"))
    booking = Booking.objects.filter(channel="Direct").first()
    assert client.post("/dashboard/direct/", {"booking": [booking.pk], "source": "x"}).status_code == 403
    assert client.post("/dashboard/hygiene/", {"action": "alias", "value": "a", "canonical": "b"}).status_code == 403


def test_the_dashboard_answers_the_question(client, roles, recent):
    client.force_login(roles("m", "Marketing"))
    response = client.get("/dashboard/?range=30d")
    data = response.context["data"]
    assert data["kpis"]["bookings"] == 11
    assert data["kpis"]["direct"] == 4
    page = response.content.decode()
    assert "<strong>Paid Search</strong> booked the most demos in this period: 3 (27.3 %)" in page
    assert "(direct) backlog</a> is <strong>4</strong> bookings (36.4 %)" in page
    assert data["self_reported"][0]["self_reported_source"] == "chatgpt" and data["self_reported"][0]["direct"] == 4


def test_drill_down_goes_channel_source_medium_campaign(client, roles, recent):
    client.force_login(roles("m", "Marketing"))
    level1 = client.get("/dashboard/?range=30d").context
    assert level1["dim"] == "channel"
    row = next(r for r in level1["data"]["rows"] if r["channel"] == "Paid Search")
    level2 = client.get("/dashboard/" + row["drill_url"]).context
    # Paid Search has one source (google) with one medium (cpc): those levels say nothing and are skipped.
    assert level2["dim"] == "campaign" and level2["skipped"] == [("source", "google"), ("medium", "cpc")]
    assert [c["label"] for c in level2["crumbs"]] == ["All bookings", "Channel: Paid Search", "Source: google", "Medium: cpc"]
    assert level2["data"]["kpis"]["bookings"] == 3
    admin = client.get(row["admin_url"])
    assert admin.status_code == 200 and admin.content.decode().count('class="field-email"') == 3


def test_csv_exports_equal_the_page(client, roles, recent):
    client.force_login(roles("m", "Marketing"))
    page = client.get("/dashboard/?range=30d").context["data"]
    exported = list(csv.DictReader(io.StringIO(client.get("/dashboard/?range=30d&export=table").content.decode())))
    assert [(r["channel"], int(r["bookings"]), int(r["change"])) for r in exported] == \
           [(r["channel"], r["bookings"], r["delta"]) for r in page["rows"]]
    series = list(csv.DictReader(io.StringIO(client.get("/dashboard/?range=30d&export=timeseries").content.decode())))
    assert sum(int(r["bookings"]) for r in series) == page["kpis"]["bookings"]


def test_the_range_changes_the_numbers(client, roles, recent):
    client.force_login(roles("m", "Marketing"))
    week = client.get("/dashboard/?range=7d").context["data"]["kpis"]["bookings"]
    today = date.today()
    custom = client.get(f"/dashboard/?range=custom&start={today - timedelta(days=2)}&end={today}").context["data"]["kpis"]["bookings"]
    assert week == 11 and 0 < custom < week


def test_assigning_backlog_bookings_is_audited_reversible_and_survives_reattribute(client, roles, recent):
    client.force_login(roles("m", "Marketing"))
    direct = list(Booking.objects.filter(channel="Direct").values_list("pk", flat=True)[:2])
    preview = client.post("/dashboard/direct/", {"booking": direct, "source": "newsletter", "medium": "email"})
    assert preview.context["preview"]["moving"] == 2 and 'id="preview-channel">Email<' in preview.content.decode()
    assert Booking.objects.filter(pk__in=direct, channel="Direct").count() == 2  # a preview moves nothing
    response = assign_confirmed(client, {"booking": direct, "source": "newsletter", "medium": "email"}, follow=True)
    assert "2 bookings attributed to newsletter (Email)" in response.content.decode()
    assert client.get("/dashboard/?range=30d").context["data"]["kpis"]["direct"] == 2
    assert set(Booking.objects.filter(pk__in=direct).values_list("channel", flat=True)) == {"Email"}
    bookings_reattribute()
    assert set(Booking.objects.filter(pk__in=direct).values_list("channel", flat=True)) == {"Email"}
    from attribution.models import ManualAttribution

    entry = ManualAttribution.objects.first()
    assert entry.user.username == "m" and entry.from_values["channel"] == "Direct"
    # An assigned booking left the backlog: the page no longer moves it (nothing to confirm)...
    again = client.post("/dashboard/direct/", {"booking": [entry.booking_id], "source": "podcast", "medium": "audio"})
    assert again.context["preview"]["moving"] == 0 and 'id="confirm"' not in again.content.decode()
    # ...a second assignment through the service (the admin's way): the first can't be reverted out of order.
    from attribution.services import bookings_assign_attribution

    bookings_assign_attribution(booking_ids=[entry.booking_id], source="podcast", medium="audio", campaign="", user=entry.user)
    later = ManualAttribution.objects.filter(booking=entry.booking_id).latest("pk")
    refused = client.post("/dashboard/direct/", {"revert": entry.pk}, follow=True).content.decode()
    assert "Not reverted" in refused and Booking.objects.get(pk=entry.booking_id).channel == "Audio"
    client.post("/dashboard/direct/", {"revert": later.pk})
    assert Booking.objects.get(pk=entry.booking_id).channel == "Email"
    client.post("/dashboard/direct/", {"revert": entry.pk})
    assert Booking.objects.get(pk=entry.booking_id).channel == "Direct"


def test_adding_an_alias_from_hygiene_moves_the_unassigned_row(client, roles, recent):
    client.force_login(roles("m", "Marketing"))
    before = client.get("/dashboard/hygiene/").context["data"]["unassigned"]
    assert {"source": "partnerportal", "medium": "widget", "bookings": 2} in before
    response = client.post("/dashboard/hygiene/", {"action": "rule", "source": "partnerportal", "channel": "Partners",
                                                        "new_channel": "1"}, follow=True)
    assert "re-attributed in the background" in response.content.decode()
    run_queued_reattribute()  # the worker's part
    assert "2 bookings re-attributed" in client.get("/dashboard/hygiene/").content.decode()
    assert client.get("/dashboard/hygiene/").context["data"]["unassigned"] == []
    rows = {r["channel"]: r["bookings"] for r in client.get("/dashboard/?range=30d").context["data"]["rows"]}
    assert rows["Partners"] == 2 and "Unassigned" not in rows


def test_an_empty_dashboard_tells_a_new_user_what_to_do(client, roles):
    client.force_login(roles("m", "Marketing"))
    page = client.get("/dashboard/").content.decode()
    assert "No bookings between" in page and "/webhooks/calendly/" not in page  # marketing can't set webhooks up
    client.force_login(roles("root", is_superuser=True))
    page = client.get("/dashboard/").content.decode()
    assert "No bookings between" in page and "/webhooks/calendly/" in page


def test_the_link_builder_page(client, roles):
    client.force_login(roles("m", "Marketing"))
    ok = client.post("/dashboard/links/", {"base_url": "https://calendly.com/acme/demo", "source": "linkedin",
                                           "medium": "social", "campaign": "spring_202606"}).content.decode()
    assert "utm_source=linkedin&amp;utm_medium=social&amp;utm_campaign=spring_202606" in ok
    refused = client.post("/dashboard/links/", {"base_url": "https://calendly.com/acme/demo", "source": "website",
                                                "medium": "social", "campaign": "spring_202606"}).content.decode()
    assert "placeholder or our own brand" in refused


@given(preset=st.sampled_from(sorted(PRESETS)), today=st.dates(date(2020, 1, 1), date(2030, 12, 31)),
       a=st.dates(date(2020, 1, 1), date(2030, 12, 31)), b=st.dates(date(2020, 1, 1), date(2030, 12, 31)))
def test_periods_are_well_formed_and_compare_with_an_equal_length_before(preset, today, a, b):
    period = period_parse(preset=preset, start=a.isoformat(), end=b.isoformat(), today=today, first_day=date(2019, 1, 1))
    assert period.start < period.end
    previous = period.previous()
    if period.months:
        assert previous.end == min(period.start, months_shift(period.end, -period.months))  # a calendar month (quarter, year) compares with the one before: as long, or shorter while running
        assert previous.start == months_shift(period.start, -period.months) and previous.start.day == 1
        assert previous.days <= 31 * period.months
    else:
        assert previous.end == period.start and previous.days == period.days
    year_ago = period.previous("year")
    assert year_ago.start.year == period.start.year - 1 and abs(year_ago.days - period.days) <= 1
    assert period.previous("none") is None
    if preset == "custom":
        assert (period.start, period.last) == (min(a, b), max(a, b))
    elif preset.startswith("last_"):
        assert period.end <= today and period.start.day == 1 and period.end.day == 1
    elif preset != "all":
        assert period.last == today


def test_a_running_period_is_compared_with_the_same_stretch_of_time_before(client, roles, post_signed, monkeypatch):
    """At 09:00 'last 7 days' holds 6 days and 9 hours: the previous period must too, or every
    morning would show a drop."""
    from datetime import datetime, timezone as dt_timezone

    from django.utils import timezone

    from bookings.samples import invitee_payload

    now = datetime(2026, 6, 10, 9, 0, tzinfo=dt_timezone.utc)
    monkeypatch.setattr(timezone, "now", lambda: now)
    for i, at in enumerate([datetime(2026, 6, 3, 8, 0), datetime(2026, 6, 3, 15, 0),  # previous period's last day
                            datetime(2026, 5, 29, 12, 0), datetime(2026, 6, 10, 8, 0)]):
        post_signed(invitee_payload(invitee_id=f"T{i}", email=f"t{i}@example.com", booked_at=at.replace(tzinfo=dt_timezone.utc)))
    client.force_login(roles("m", "Marketing"))
    response = client.get("/dashboard/?range=7d")
    data = response.context["data"]
    assert data["kpis"]["bookings"] == 1  # 4 June 00:00 to now
    assert data["previous_kpis"]["bookings"] == 2  # 28 May 00:00 to 3 June 09:00: not the 15:00 booking
    assert "up to the same time" in response.content.decode()
    past = client.get("/dashboard/?range=custom&start=2026-06-04&end=2026-06-09").context["data"]
    assert past["previous_kpis"]["bookings"] == 3  # a period in the past compares whole days


def test_an_alias_from_hygiene_also_maps_what_people_said(client, roles, post_signed):
    from bookings.samples import invitee_payload

    post_signed(invitee_payload(invitee_id="S", tracking={}, questions_and_answers=[
        {"question": "How did you hear about us?", "answer": "PartnerPortal listing"}]))
    assert Booking.objects.get().self_reported_source == "partnerportal listing"
    client.force_login(roles("m", "Marketing"))
    client.post("/dashboard/hygiene/", {"action": "alias", "value": "partnerportal", "canonical": "partner-portal"})
    run_queued_reattribute()  # the worker's part
    assert Booking.objects.get().self_reported_source == "partner-portal"
