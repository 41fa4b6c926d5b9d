"""htmx requests get only the part of the page they swap; plain requests still get whole pages and redirects."""

import pytest
from django.contrib.auth.models import Permission

from attribution.tests.conftest import assign_confirmed
from bookings.models import Booking

from .test_dashboard import recent, roles  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db
HX = {"HX-Request": "true"}


def test_the_filter_form_gets_only_the_report_with_its_period_label(client, roles, recent):
    client.force_login(roles("m", "Marketing"))
    response = client.get("/dashboard/?range=7d&interval=week", headers=HX)
    page = response.content.decode()
    assert response.status_code == 200 and "<html" not in page and "Where booked demos come from" not in page
    assert page.count('id="report"') == 1 and 'id="chart-data"' in page and 'id="breakdown"' in page
    assert 'id="period-label" hx-swap-oob="true"' in page and 'id="custom-dates"' in page
    assert response.context["data"]["kpis"]["bookings"] == 11
    assert "HX-Request" in response["Vary"]


def test_the_whole_dashboard_still_comes_without_htmx_and_on_a_history_restore(client, roles, recent):
    client.force_login(roles("m", "Marketing"))
    plain = client.get("/dashboard/?range=7d")
    restore = client.get("/dashboard/?range=7d", headers={**HX, "HX-History-Restore-Request": "true"})
    for response in (plain, restore):
        page = response.content.decode()
        assert "<html" in page and "Where booked demos come from" in page and page.count('id="report"') == 1
        assert 'hx-get="/dashboard/"' in page and 'hx-push-url="true"' in page
        assert "hx-swap-oob" not in page
    assert "HX-Request" in plain["Vary"]


def test_a_filter_warning_comes_with_the_partial(client, roles, recent):
    client.force_login(roles("m", "Marketing"))
    page = client.get("/dashboard/?range=custom&start=2026-13-40", headers=HX).content.decode()
    assert '<ul class="messages"' in page and "<html" not in page


def test_an_htmx_assignment_answers_with_the_backlog_and_its_message_not_a_redirect(client, roles, recent):
    client.force_login(roles("m", "Marketing"))
    direct = list(Booking.objects.filter(channel="Direct").values_list("pk", flat=True)[:2])
    response = assign_confirmed(client, {"booking": direct, "source": "newsletter", "medium": "email"},
                                url="/dashboard/direct/?event_type=&month=", headers=HX)
    page = response.content.decode()
    assert response.status_code == 200 and "<html" not in page
    assert "2 bookings attributed to newsletter" in page
    assert page.count('id="backlog-card"') == 1 and page.count('name="booking"') == 2  # 4 untagged, 2 assigned
    assert 'id="backlog-total" style="font-size:1rem;font-weight:400" hx-swap-oob="true">· 2 untagged' in page
    assert 'id="assign-history" aria-label="Recent assignments" hx-swap-oob="true"' in page and "newsletter" in page
    assert 'hx-post="/dashboard/direct/?event_type=&amp;month="' in page  # the next assignment keeps the filters
    assert set(Booking.objects.filter(pk__in=direct).values_list("channel", flat=True)) == {"Email"}
    assert client.get("/dashboard/direct/").content.decode().count("2 bookings attributed") == 0  # message shown once


def test_an_htmx_assignment_that_fails_shows_why_in_the_backlog(client, roles, recent):
    client.force_login(roles("m", "Marketing"))
    response = client.post("/dashboard/direct/", {"source": "newsletter"}, headers=HX)
    page = response.content.decode()
    assert response.status_code == 200 and "Select at least one booking." in page and page.count('name="booking"') == 4


def test_an_htmx_assignment_still_needs_the_permission(client, roles, recent):
    user = roles("readonly")
    user.user_permissions.add(Permission.objects.get(codename="view_dashboard", content_type__app_label="attribution"))
    client.force_login(user)
    direct = list(Booking.objects.filter(channel="Direct").values_list("pk", flat=True)[:1])
    response = client.post("/dashboard/direct/", {"booking": direct, "source": "newsletter"}, headers=HX)
    assert response.status_code == 403
    assert Booking.objects.filter(pk__in=direct, channel="Direct").count() == 1


def test_without_htmx_an_assignment_still_redirects(client, roles, recent):
    client.force_login(roles("m", "Marketing"))
    direct = list(Booking.objects.filter(channel="Direct").values_list("pk", flat=True)[:1])
    response = assign_confirmed(client, {"booking": direct, "source": "newsletter"}, url="/dashboard/direct/?month=")
    assert response.status_code == 302 and response["Location"] == "/dashboard/direct/?month="
    page = client.get("/dashboard/direct/").content.decode()
    assert "<html" in page and "1 booking attributed to newsletter" in page and "hx-swap-oob" not in page
    assert 'hx-post="/dashboard/direct/"' in page
