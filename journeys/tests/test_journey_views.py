"""The journey as people see it: the timeline on the admin's booking page, the dashboard's person page
(reached from the (direct) backlog and the admin's booking list), and the demo landing site."""

import datetime as dt

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from bookings.tests.factories import BookingFactory
from journeys.services import visitor_id_new
from journeys.tests.factories import TouchFactory, TrackedLinkFactory

pytestmark = pytest.mark.django_db
PERSON = "/dashboard/people/"


@pytest.fixture
def journey():
    """Ann: a LinkedIn ad landing, a Google organic visit, a newsletter click, then a booking with only her id."""
    now = timezone.now()
    vid = visitor_id_new()
    TouchFactory(visitor_id=vid, at=now - dt.timedelta(days=6), source="linkedin", medium="paid_social",
                 campaign="spring_launch_202606", channel="Paid Social", landing_path="/blog/lost-utms",
                 referrer_host="linkedin.com")
    TouchFactory(visitor_id=vid, at=now - dt.timedelta(days=4), source="google", medium="organic", campaign="",
                 channel="Organic Search", landing_path="/pricing", referrer_host="google.com")
    TouchFactory(visitor_id=vid, at=now - dt.timedelta(days=2), kind="click", source="newsletter", medium="email",
                 campaign="weekly_digest_202610", channel="Email", landing_path="/webinar",
                 link=TrackedLinkFactory(slug="digest42"))
    booking = BookingFactory(email="ann@example.com", visitor_id=vid, tracking={"utm_term": vid},
                             booked_at=now - dt.timedelta(days=1), event_type_name="Product demo")
    TouchFactory(visitor_id=visitor_id_new(), at=now, channel="Paid Search", landing_path="/someone-else")
    return booking


@pytest.fixture
def admin_client(client):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw-123456789"))
    return client


def _order(page: str, *needles: str) -> list[int]:
    positions = [page.find(n) for n in needles]
    assert all(p >= 0 for p in positions), dict(zip(needles, positions))
    return positions


# --- admin --------------------------------------------------------------------------------------------------

def test_the_booking_page_shows_the_journey_in_time_order(admin_client, journey):
    page = admin_client.get(f"/admin/bookings/booking/{journey.pk}/change/").content.decode()
    assert 'id="timeline"' in page
    positions = _order(page, "/blog/lost-utms", "Organic Search", "/l/digest42", "Booking</strong> (this one)")
    assert positions == sorted(positions)
    assert "Paid Social" in page and "linkedin.com" in page and "spring_launch_202606" in page
    assert "/someone-else" not in page
    assert "/dashboard/people/?email=ann%40example.com" in page


def test_a_booking_without_touches_says_so(admin_client):
    booking = BookingFactory(email="bob@example.com")
    page = admin_client.get(f"/admin/bookings/booking/{booking.pk}/change/").content.decode()
    assert "(this one)" in page and "Tracked-link click" not in page


def test_the_booking_list_links_each_row_to_the_person(admin_client, journey):
    page = admin_client.get("/admin/bookings/booking/").content.decode()
    assert "/dashboard/people/?email=ann%40example.com" in page


def test_sales_read_only_access_sees_the_timeline(client, journey):
    from bookings.tests.factories import staff_user

    client.force_login(staff_user("sales", "view_booking"))
    page = client.get(f"/admin/bookings/booking/{journey.pk}/change/").content.decode()
    assert "/blog/lost-utms" in page and "Paid Social" in page


# --- the person page ------------------------------------------------------------------------------------------

def test_the_person_page_shows_bookings_and_touches_in_order(marketing, journey):
    response = marketing.get(PERSON, {"email": "ann@example.com"})
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="person-bookings"' in page and "Product demo" in page
    assert f"/admin/bookings/booking/{journey.pk}/change/" in page
    timeline = page[page.index('id="timeline"'):]
    positions = _order(timeline, "/blog/lost-utms", "/pricing", "/l/digest42", "<strong>Booking</strong>")
    assert positions == sorted(positions)
    assert "3 visits or clicks" in page
    assert journey.visitor_id in page
    assert "/someone-else" not in page


def test_a_visitor_id_alone_finds_the_journey(marketing, journey):
    page = marketing.get(PERSON, {"visitor_id": journey.visitor_id}).content.decode()
    assert "/blog/lost-utms" in page and "ann@example.com" in page


def test_the_outcome_shows_canceled_and_no_show(marketing):
    BookingFactory(email="cy@example.com", status="canceled", invitee_uri="https://api.calendly.com/e/invitees/C1")
    BookingFactory(email="cy@example.com", no_show=True, invitee_uri="https://api.calendly.com/e/invitees/C2")
    page = marketing.get(PERSON, {"email": "cy@example.com"}).content.decode()
    assert "canceled" in page and "no-show" in page


def test_an_unknown_email_is_a_friendly_empty_page(marketing):
    response = marketing.get(PERSON, {"email": "nobody@example.com"})
    assert response.status_code == 200
    assert 'id="person-empty"' in response.content.decode()


def test_no_email_asks_for_one(marketing):
    response = marketing.get(PERSON)
    assert response.status_code == 200 and "Whose journey?" in response.content.decode()


def test_it_needs_a_login_and_the_dashboard_permission(client, journey):
    response = client.get(PERSON, {"email": "ann@example.com"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    client.force_login(User.objects.create_user("nobody", password="pw-123456789"))
    assert client.get(PERSON, {"email": "ann@example.com"}).status_code == 403


@pytest.mark.parametrize("params, status", [
    ({"email": "a\x00b@example.com"}, 400),
    ({"email": "x" * 5000 + "@example.com"}, 400),
    ({"visitor_id": "not-an-id"}, 400),
    ({"email": "<script>alert(1)</script>@example.com"}, 200),
])
def test_hostile_parameters_are_refused_or_escaped(marketing, params, status):
    response = marketing.get(PERSON, params)
    assert response.status_code == status
    assert "<script>alert(1)</script>" not in response.content.decode()


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=300))
def test_any_email_parameter_is_answered_without_a_server_error(marketing, value):
    response = marketing.get(PERSON, {"email": value})
    assert response.status_code in (200, 400)


def test_backlog_rows_link_to_the_person_page(marketing):
    BookingFactory(email="dee+demo@example.com")
    page = marketing.get("/dashboard/direct/").content.decode()
    assert "/dashboard/people/?email=dee%2Bdemo%40example.com" in page


# --- the demo landing site ------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/demo-site/", "/demo-site/pricing/"])
def test_the_demo_site_is_a_404_when_off(client, settings, path):
    settings.DEBUG, settings.SOURCEBOOK_DEMO_SITE = False, False
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("path", ["/demo-site/", "/demo-site/pricing/"])
def test_the_demo_site_serves_the_snippet_and_a_calendly_link_when_on(client, settings, path):
    settings.SOURCEBOOK_DEMO_SITE = True
    response = client.get(path, {"utm_source": "linkedin"})
    assert response.status_code == 200
    page = response.content.decode()
    assert '<script src="/sourcebook.js" async></script>' in page
    assert 'href="https://calendly.com/' in page
    # Under the strict CSP: no inline script at all (so no nonce needed), scripts only from 'self'.
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "<script>" not in page


def test_the_local_profile_allows_the_demo_site_origin_by_default():
    import subprocess
    import sys

    code = ("import django, os; os.environ['DJANGO_SETTINGS_MODULE']='project.settings'; django.setup(); "
            "from django.conf import settings; print(settings.SOURCEBOOK_SITE_ORIGINS)")
    env = {"PATH": "/usr/bin:/bin", "SOURCEBOOK_ENV_FILE": "", "SOURCEBOOK_PROFILE": "local", "PORT": "8123",
           "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/unused"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert "http://127.0.0.1:8123" in out and "http://localhost:8123" in out
    env["SOURCEBOOK_PROFILE"] = "production"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
