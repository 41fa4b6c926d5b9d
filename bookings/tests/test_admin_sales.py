"""Sales in the admin (issue 14): landing page, the list's columns, reschedules, filters, search and counting."""

import re
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from bookings import calendly
from bookings.models import Booking
from bookings.samples import invitee_payload
from bookings.selectors import booking_search
from project.pagination import EstimatedCountPaginator

from .factories import BookingFactory

pytestmark = pytest.mark.django_db
LIST = "/admin/bookings/booking/"
PASSWORD = "pw-123456789"
T0 = datetime(2026, 11, 20, 13, 5, tzinfo=dt_timezone.utc)


@pytest.fixture
def role():
    call_command("setup_roles", verbosity=0)

    def make(name, group):
        user = User.objects.create_user(name, password=PASSWORD, is_staff=True)
        user.groups.add(Group.objects.get(name=group))
        return user

    return make


@pytest.fixture
def sales(client, role):
    client.force_login(role("sam", "Sales"))
    return client


def rows(response) -> list[str]:
    """The emails in the list, top to bottom."""
    return re.findall(r'<(?:th|td) class="field-email">(?:<a [^>]*>)?([^<]*)', response.content.decode())


def texts(response, column) -> list[str]:
    """The text of a column's cells (tags dropped)."""
    cells = re.findall(rf'<td class="field-{column}">(.*?)</td>', response.content.decode())
    return [re.sub(r"<[^>]+>", "", cell) for cell in cells]


# --- landing --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("next_url", ["", "/", "/dashboard/"])
@pytest.mark.parametrize(("group", "lands_on"), [("Sales", LIST), ("Marketing", "/dashboard/"), ("Admin", "/dashboard/")])
def test_after_log_in_each_role_lands_on_its_page(role, group, lands_on, next_url):
    role("someone", group)
    response = Client().post("/accounts/login/", {"username": "someone", "password": PASSWORD, "next": next_url})
    assert response.status_code == 302 and response["Location"] == lands_on


def test_a_page_asked_for_before_log_in_is_kept(role):
    role("sam", "Sales")
    response = Client().post("/accounts/login/", {"username": "sam", "password": PASSWORD, "next": "/api/docs/"})
    assert response["Location"] == "/api/docs/"


@pytest.mark.parametrize(("group", "lands_on"), [("Sales", LIST), ("Marketing", "/admin/")])
def test_the_admin_log_in_sends_sales_to_the_bookings_list(role, group, lands_on):
    role("someone", group)
    client = Client()
    form = client.get("/admin/login/").content.decode()
    next_url = re.search(r'name="next" value="([^"]*)"', form).group(1)
    response = client.post("/admin/login/", {"username": "someone", "password": PASSWORD, "next": next_url})
    assert response.status_code == 302 and response["Location"] == lands_on


@pytest.mark.parametrize(("group", "home"), [("Sales", LIST), ("Marketing", "/dashboard/")])
def test_the_start_page_and_view_site_go_where_the_role_belongs(client, role, group, home):
    assert Client().get("/")["Location"].startswith("/accounts/login/")
    client.force_login(role("someone", group))
    assert client.get("/")["Location"] == home
    page = client.get(LIST).content.decode()
    assert re.search(r'<a href="([^"]*)">View site</a>', page).group(1) == home


# --- the list -------------------------------------------------------------------------------------------

@pytest.fixture
def rescheduled(post_signed):
    """A reschedule (old half canceled as moved, new half active) and a plain cancel, through the webhook."""
    old_uri = "https://api.calendly.com/scheduled_events/EV-OLD/invitees/OLD"
    new_uri = "https://api.calendly.com/scheduled_events/EV-NEW/invitees/NEW"
    post_signed(invitee_payload(invitee_id="OLD", event_id="EV-OLD", email="moved@example.com", booked_at=T0))
    post_signed(invitee_payload(invitee_id="NEW", event_id="EV-NEW", email="moved@example.com",
                                booked_at=T0 + timedelta(hours=2), old_invitee=old_uri))
    post_signed(invitee_payload(event=calendly.INVITEE_CANCELED, invitee_id="OLD", event_id="EV-OLD",
                                email="moved@example.com", booked_at=T0, updated_at=T0 + timedelta(hours=2),
                                rescheduled=True, new_invitee=new_uri))
    post_signed(invitee_payload(invitee_id="GONE", email="gone@example.com", booked_at=T0 - timedelta(hours=1)))
    post_signed(invitee_payload(event=calendly.INVITEE_CANCELED, invitee_id="GONE", email="gone@example.com",
                                booked_at=T0 - timedelta(hours=1), updated_at=T0))
    return Booking.objects.get(invitee_uri=old_uri), Booking.objects.get(invitee_uri=new_uri)


def test_the_old_half_of_a_reschedule_shows_as_rescheduled_not_canceled(sales, rescheduled):
    response = sales.get(LIST)
    statuses = dict(zip(rows(response), texts(response, "status_shown")))
    assert texts(response, "status_shown").count("Rescheduled") == 1
    assert statuses["gone@example.com"] == "Canceled"
    moved = sales.get(LIST + "?status=rescheduled")
    assert rows(moved) == ["moved@example.com"] and texts(moved, "status_shown") == ["Rescheduled"]
    canceled = sales.get(LIST + "?status=canceled")
    assert rows(canceled) == ["gone@example.com"]


def test_the_list_counts_what_the_dashboard_counts_when_asked_and_says_why_it_differs(sales, rescheduled):
    from bookings.selectors import booking_countable

    everything = sales.get(LIST)
    assert len(rows(everything)) == 3 == Booking.objects.count()
    assert "The dashboard counts a reschedule once" in " ".join(everything.content.decode().split())
    counted = sales.get(LIST + "?counted=yes")
    assert len(rows(counted)) == booking_countable().count() == 2
    assert "Rescheduled" not in texts(counted, "status_shown")
    assert rows(sales.get(LIST + "?counted=no")) == ["moved@example.com"]


def test_the_list_shows_what_sales_reads_with_times_in_the_configured_zone(sales, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    BookingFactory(email="ada@acme.com", name="Ada Lovelace", channel="Paid Search", campaign="brand_202611",
                   booked_at=T0, start_time=T0 + timedelta(days=3), no_show=True, hubspot_state="synced")
    page = sales.get(LIST)
    html = page.content.decode()
    headers = re.findall(r'<th scope="col" class="[^"]*column-([a-z_]+)', html)
    assert headers == ["email", "name", "status_shown", "channel", "campaign", "booked", "starts", "no_show",
                       "hubspot_state", "person_link"]  # the last: journeys/admin.py
    assert texts(page, "booked") == ["20 Nov 2026 14:05 CET"]  # 13:05 UTC
    assert texts(page, "starts") == ["23 Nov 2026 14:05 CET"]
    assert "Times are in Europe/Berlin" in html
    assert texts(page, "channel") == ["Paid Search"] and texts(page, "campaign") == ["brand_202611"]
    assert 'class="field-no_show"><img src="/static/admin/img/icon-yes.svg"' in html


# --- date ranges ----------------------------------------------------------------------------------------

def test_date_range_filters_use_the_configured_time_zone(sales, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    BookingFactory(email="late@example.com", booked_at=datetime(2026, 11, 9, 23, 30, tzinfo=dt_timezone.utc))  # 10 Nov in Berlin
    BookingFactory(email="early@example.com", booked_at=datetime(2026, 11, 9, 12, 0, tzinfo=dt_timezone.utc),
                   start_time=datetime(2026, 12, 1, 9, 0, tzinfo=dt_timezone.utc))
    page = sales.get(LIST)
    assert 'name="booked_at__range__gte"' in page.content.decode()
    on_the_10th = sales.get(LIST + "?booked_at__range__gte=2026-11-10&booked_at__range__lte=2026-11-10")
    assert rows(on_the_10th) == ["late@example.com"]
    until_the_9th = sales.get(LIST + "?booked_at__range__lte=2026-11-09")
    assert rows(until_the_9th) == ["early@example.com"]
    meetings = sales.get(LIST + "?start_time__range__gte=2026-12-01&start_time__range__lte=2026-12-01")
    assert rows(meetings) == ["early@example.com"]


def test_the_dashboard_links_with_the_old_range_parameters_still_work(sales):
    BookingFactory(email="in@example.com", booked_at=T0)
    BookingFactory(email="out@example.com", booked_at=T0 + timedelta(days=2))
    response = sales.get(LIST, {"booked_at__gte": T0.isoformat(), "booked_at__lt": (T0 + timedelta(days=1)).isoformat(),
                                "counted": "yes"})
    assert response.status_code == 200 and rows(response) == ["in@example.com"]


@pytest.mark.parametrize("query", ["booked_at__range__gte=not-a-date", "booked_at__range__lte=9999-12-31",
                                   "booked_at__year=99999", "booked_at__year=9999&booked_at__month=12",
                                   "status=nonsense", "counted=maybe", "campaign__exact=%00"])
def test_odd_filter_values_are_never_a_server_error(sales, query):
    BookingFactory()
    assert sales.get(f"{LIST}?{query}").status_code in (200, 302, 400)


# --- source and campaign: a box with suggestions --------------------------------------------------------

def test_source_and_campaign_are_a_box_with_suggestions_not_a_list_of_every_value(sales):
    for i in range(30):
        BookingFactory(email=f"c{i}@example.com", campaign=f"spring_{i:02}", source="newsletter")
    BookingFactory(email="other@example.com", campaign="autumn", source="linkedin")
    page = sales.get(LIST).content.decode()
    assert "campaign__exact=spring_" not in page  # no link per value
    assert 'name="campaign__exact"' in page and 'data-suggest-url="/admin/bookings/booking/values/?field=campaign"' in page
    suggested = sales.get("/admin/bookings/booking/values/?field=campaign&q=SPRING_1").json()["values"]
    assert suggested == [f"spring_{i}" for i in range(10, 20)]
    assert len(sales.get("/admin/bookings/booking/values/?field=campaign&q=spring").json()["values"]) == 20
    assert sales.get("/admin/bookings/booking/values/?field=source&q=link").json()["values"] == ["linkedin"]
    assert sales.get("/admin/bookings/booking/values/?field=medium&q=NON").json()["values"] == ["(none)"]
    assert 'name="medium__exact"' in page and 'name="source__exact"' in page
    assert rows(sales.get(LIST + "?campaign__exact=autumn")) == ["other@example.com"]
    # The box keeps the other filters (hidden fields) and clears back to "any".
    filtered = sales.get(LIST + "?campaign__exact=autumn&status=active").content.decode()
    assert '<input type="hidden" name="status" value="active">' in filtered
    assert "✖ any campaign" in filtered
    assert len(rows(sales.get(LIST + "?campaign__exact="))) == 31  # an empty box means any


def test_the_suggestions_need_a_known_field_and_the_right_to_read_bookings(client, sales, role):
    assert sales.get("/admin/bookings/booking/values/?field=email").status_code == 400
    assert Client().get("/admin/bookings/booking/values/?field=source").status_code == 302  # to the log-in
    outsider = User.objects.create_user("outsider", password=PASSWORD, is_staff=True)
    other = Client()
    other.force_login(outsider)
    assert other.get("/admin/bookings/booking/values/?field=source").status_code == 403


# --- search ---------------------------------------------------------------------------------------------

@pytest.fixture
def people():
    BookingFactory(email="Ada@Acme.com", name="Ada Lovelace", booked_at=T0)
    BookingFactory(email="bob@acme.com", name="Bob Stone", booked_at=T0 - timedelta(hours=1))
    BookingFactory(email="carol@sub.acme.com", name="Carol Acme", booked_at=T0 - timedelta(hours=2))
    BookingFactory(email="dan@notacme.com", name="Dan", booked_at=T0 - timedelta(hours=3))


@pytest.mark.parametrize(("term", "found"), [
    ("@acme.com", ["Ada@Acme.com", "bob@acme.com"]),
    ("acme.com", ["Ada@Acme.com", "bob@acme.com"]),
    ("  @ACME.COM ", ["Ada@Acme.com", "bob@acme.com"]),
    ("@sub.acme.com", ["carol@sub.acme.com"]),
    ("ada@acme.com", ["Ada@Acme.com"]),
    ("bob@", ["bob@acme.com"]),
    ("ada", ["Ada@Acme.com"]),
    ("carol acme", ["carol@sub.acme.com"]),
    ("Dan", ["dan@notacme.com"]),
    ("lovelace", []),  # names and emails by their start: no scan of every booking for a middle
])
def test_search_by_email_domain_email_and_name(sales, people, term, found):
    assert rows(sales.get(LIST, {"q": term})) == found


def test_search_by_invitee_uri(sales):
    booking = BookingFactory(email="uri@example.com")
    BookingFactory()
    assert rows(sales.get(LIST, {"q": booking.invitee_uri})) == ["uri@example.com"]


@pytest.mark.parametrize(("term", "index"), [("@acme.com", "booking_email_domain"), ("ada@acme.com", "booking_email_lower"),
                                             ("acme.com", "booking_email_domain"), ("ada", "booking_name_lower")])
def test_each_search_is_answered_by_an_index_not_a_scan(people, term, index):
    """The planner can use the expression indexes of migration 0017 (the expression must match them exactly)."""
    queryset = booking_search(Booking.objects.all(), term).order_by()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = queryset.explain()
    assert index in plan and "Seq Scan" not in plan


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(term=st.text(max_size=40))
def test_any_search_text_is_a_page_or_a_client_error(sales, term):
    assert sales.get(LIST, {"q": term}).status_code in (200, 400)


# --- counting at scale ----------------------------------------------------------------------------------

def test_a_big_list_is_estimated_not_counted(sales, monkeypatch):
    monkeypatch.setattr(EstimatedCountPaginator, "EXACT_UP_TO", 5)
    for i in range(8):
        BookingFactory(email=f"p{i}@example.com")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE bookings_booking")
    with CaptureQueriesContext(connection) as queries:
        page = sales.get(LIST).content.decode()
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    assert counts and all("LIMIT 6" in sql for sql in counts)  # never a COUNT(*) of every booking
    assert any(q["sql"].startswith("EXPLAIN") for q in queries)
    assert re.search(r'<span id="result-count">about [\d,]+ bookings</span>', page)
    small = sales.get(LIST + "?q=p1@example.com").content.decode()
    assert '<span id="result-count">1 booking</span>' in small and "about" not in small.split('id="result-count"')[1][:20]


def test_the_number_of_queries_does_not_grow_with_the_page(sales):
    def queries_for_list():
        sales.get(LIST)  # the filter choices are cached a minute (attribution.dashboard.known_values)
        with CaptureQueriesContext(connection) as queries:
            assert sales.get(LIST).status_code == 200
        return len(queries)

    BookingFactory.create_batch(3)
    few = queries_for_list()
    BookingFactory.create_batch(60, channel="Paid Search", campaign="x")
    assert queries_for_list() == few


def test_the_default_order_is_newest_booking_first(sales):
    BookingFactory(email="old@example.com", booked_at=T0 - timedelta(days=3))
    BookingFactory(email="new@example.com", booked_at=T0)
    BookingFactory(email="mid@example.com", booked_at=T0 - timedelta(days=1))
    assert rows(sales.get(LIST)) == ["new@example.com", "mid@example.com", "old@example.com"]


def test_the_dashboards_link_opens_the_list_with_the_dashboards_count(client, role, rescheduled):
    client.force_login(role("marta", "Marketing"))
    report = client.get("/dashboard/?range=custom&start=2026-11-01&end=2026-11-30").context["data"]
    row = next(r for r in report["rows"] if r["channel"] == "Direct")
    listed = client.get(row["admin_url"])
    assert len(rows(listed)) == row["bookings"] == 2  # the reschedule once, the plain cancel once
    assert "Rescheduled" not in texts(listed, "status_shown")


def test_counted_follows_the_demo_event_types_as_the_dashboard_does(sales):
    from attribution.models import DemoEventType

    BookingFactory(email="demo@example.com", event_type_name="Product demo")
    BookingFactory(email="intro@example.com", event_type_name="Intro call")
    assert len(rows(sales.get(LIST + "?counted=yes"))) == 2  # none listed: every event type counts
    DemoEventType.objects.create(name="Product demo")
    assert rows(sales.get(LIST + "?counted=yes")) == ["demo@example.com"]
    assert rows(sales.get(LIST + "?counted=no")) == ["intro@example.com"]
    # An event type chosen on the dashboard is counted even when it is not a demo (its row's link says so).
    assert rows(sales.get(LIST + "?counted=yes&event_type_name__exact=Intro+call")) == ["intro@example.com"]


def test_filter_links_list_the_bookings_own_channels_not_their_journeys(sales):
    from attribution.models import DailyStat

    BookingFactory(channel="Paid Search")
    DailyStat.objects.create(day=T0.date(), model="first_touch", status="active", channel="Organic Video", source="",
                             medium="", campaign="", event_type_name="", self_reported_source="", bookings=1,
                             no_show=0, synced=0)
    page = sales.get(LIST).content.decode()
    assert "?channel__exact=Paid+Search" in page and "Organic+Video" not in page
