"""The product in a real browser (headless Chromium) against a live server with demo data."""

import csv
import io

import pytest

from attribution.tests.conftest import run_queued_reattribute
from tests.browser.pages import demo_site, login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(live_server):
    return demo_site(live_server, users=("marketing", "sales", "boss"))


@pytest.fixture
def money_site(live_server, start_fake_hubspot, settings):
    """The demo site with money: its bookings synced to the fake HubSpot, where the demo sales team
    (`manage.py demo_sales`, as in `make run`) opens, wins and loses deals that are then read back."""
    from django.core.management import call_command

    from hubspot_sync.models import Deal
    from hubspot_sync.services.sync import sync_drain

    server = start_fake_hubspot()
    server.fake.config.search_per_second, server.fake.config.rate_limit = 0, 100_000  # limits are not this page's subject
    settings.HUBSPOT_DEAL_READ_LAG_SECONDS = 0  # the fake has no search index to wait for
    url = demo_site(live_server, users=("marketing", "sales", "boss"))
    sync_drain(max_seconds=60)
    call_command("demo_sales", "--once", stdout=io.StringIO())
    assert Deal.objects.filter(closed_won=True).exists()
    return url


def kpi(page, name) -> str:
    return page.locator(f'[data-kpi="{name}"] .value').inner_text()


def number(text: str) -> int:
    return int(text.replace(",", "").replace("%", "").strip())


def test_marketing_dashboard_numbers_match_the_api_and_follow_the_range(browser, site, shot):
    page = login(browser, site, "marketing")
    page.goto(f"{site}/dashboard/?range=90d")
    assert "booked the most demos" in page.locator("#answer").inner_text()
    shot(page, "dashboard")
    start = page.locator('input[name="start"]').input_value()
    api = page.request.get(f"{site}/api/reports/breakdown/?group_by=channel&booked_after={start}").json()
    assert number(kpi(page, "bookings")) == api["total"]
    assert number(page.locator("#table-total").inner_text()) == api["total"]

    page.get_by_label("Period").select_option("7d")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**/dashboard/?*range=7d*")  # htmx swaps the report and pushes the URL (no page load)
    assert number(kpi(page, "bookings")) < api["total"]


def test_drill_down_twice_and_export_csv(browser, site, shot):
    page = login(browser, site, "marketing")
    page.goto(f"{site}/dashboard/?range=90d")
    page.locator("#breakdown").get_by_role("link", name="Paid Search", exact=True).click()
    page.wait_for_load_state()
    # Paid Search has one source (google) with one medium (cpc): those levels are skipped, and the page says so.
    assert page.locator("#breakdown th").first.inner_text().lower() == "campaign"
    assert "google" in page.locator("#skipped").inner_text() and "cpc" in page.locator("#skipped").inner_text()
    assert page.locator(".crumbs").get_by_role("link", name="Medium: cpc").count() == 1
    shot(page, "dashboard-drilldown")

    page.goto(f"{site}/dashboard/?range=90d")
    with page.expect_download() as download:
        page.locator("#export-table").click()
    rows = list(csv.DictReader(io.StringIO(open(download.value.path()).read())))
    on_page = {row.get_attribute("data-key"): number(row.locator('[data-col="bookings"]').inner_text())
               for row in page.locator("#breakdown tbody tr").all()}
    assert {r["channel"]: int(r["bookings"]) for r in rows} == on_page


def test_assigning_a_backlog_booking_lowers_the_direct_tile(browser, site, shot):
    page = login(browser, site, "marketing")
    page.goto(f"{site}/dashboard/?range=all")
    direct_before = number(page.locator('[data-kpi="direct"] .delta').inner_text().split()[0])
    page.goto(f"{site}/dashboard/direct/?range=all")
    shot(page, "direct-backlog")
    page.locator('#backlog input[name="booking"]').first.check()
    page.get_by_label("Source to assign").fill("newsletter")
    page.get_by_label("Medium to assign").fill("email")
    page.get_by_role("button", name="Preview assignment").click()
    page.get_by_role("button", name="Confirm: move 1 booking").click()
    page.locator(".messages", has_text="1 booking attributed to newsletter").wait_for()
    page.goto(f"{site}/dashboard/?range=all")
    assert number(page.locator('[data-kpi="direct"] .delta').inner_text().split()[0]) == direct_before - 1


def test_adding_a_rule_from_hygiene_moves_the_unassigned_row(browser, site, shot):
    page = login(browser, site, "marketing")
    page.goto(f"{site}/dashboard/hygiene/")
    shot(page, "hygiene")
    row = page.locator('#unassigned tr[data-source="partnerportal"]')
    assert row.count() == 1
    row.get_by_label("Channel for partnerportal").fill("Partners")
    row.get_by_label("partnerportal: a new channel").check()  # not one of the rules' channels: say it is new
    row.get_by_role("button", name="Add rule").click()
    page.wait_for_load_state()
    assert "re-attributed" in page.locator(".messages").inner_text()
    run_queued_reattribute()  # the worker's part: the request only queued the job
    page.reload()
    assert "bookings re-attributed" in page.locator("#reattribute-job").inner_text()
    assert page.locator('#unassigned tr[data-source="partnerportal"]').count() == 0
    page.goto(f"{site}/dashboard/?range=all")
    assert page.locator('#breakdown tr[data-key="Partners"]').count() == 1


def test_link_builder_and_phone_width(browser, site, shot):
    page = login(browser, site, "marketing", width=390)
    page.goto(f"{site}/dashboard/links/")
    page.get_by_label("Booking page URL").fill("https://calendly.com/acme/demo")
    page.get_by_label("Source").fill("linkedin")
    page.get_by_label("Medium").fill("social")
    page.get_by_label("Campaign").fill("spring_launch_202606")
    page.get_by_role("button", name="Build link").click()
    page.wait_for_load_state()
    assert "utm_campaign=spring_launch_202606" in page.get_by_label("Built link").input_value()
    shot(page, "links-phone")
    page.goto(f"{site}/dashboard/?range=90d")
    assert page.evaluate("document.documentElement.scrollWidth") <= 400  # no sideways scrolling on a phone
    shot(page, "dashboard-phone")


def test_sales_sees_bookings_in_admin_but_not_the_dashboard(browser, site, shot):
    page = login(browser, site, "sales")
    response = page.goto(f"{site}/dashboard/")
    assert response.status == 403
    page.goto(f"{site}/admin/bookings/booking/?status__exact=canceled")
    assert page.locator("#result_list tbody tr").count() > 0
    assert page.locator("text=Add booking").count() == 0
    shot(page, "admin-sales")


def test_which_campaign_booked_most_last_month_and_the_comparison_choices(browser, site, shot):
    from datetime import date

    from attribution.periods import DATE_FORMAT, months_shift

    page = login(browser, site, "marketing", width=1440)
    page.goto(f"{site}/dashboard/")
    page.get_by_label("Rows by").select_option("campaign")
    page.get_by_label("Period").select_option("last_month")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**/dashboard/?*dim=campaign*")
    month = months_shift(date.today().replace(day=1), -1)
    before = months_shift(month, -1)
    label = page.locator("#period-label").inner_text()
    assert month.strftime(DATE_FORMAT) in label and f"compared with {before.strftime(DATE_FORMAT)}" in label
    assert page.locator("#breakdown thead th").first.inner_text().lower() == "campaign"
    top = page.locator("#breakdown tbody tr").first
    answer = page.locator("#answer").inner_text()
    assert answer.startswith(top.get_attribute("data-key")) or "(not set)" in top.inner_text()
    # The Previous column adds up to the comparison's total, rows booked only then included.
    previous = [number(c.inner_text()) for c in page.locator('#breakdown tbody [data-col="previous"]').all()]
    assert sum(previous) == number(page.locator("#previous-total").inner_text())
    shot(page, "dashboard-campaign-last-month")

    page.get_by_label("Compare with").select_option("year")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**compare=year*")
    assert f"compared with {months_shift(month, -12).strftime(DATE_FORMAT)}" in page.locator("#period-label").inner_text()
    page.get_by_label("Compare with").select_option("none")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**compare=none*")
    assert "no comparison" in page.locator("#period-label").inner_text()
    assert page.locator("#previous-total").count() == 0 and page.locator("#breakdown thead").inner_text().count("Previous") == 0


def test_money_beside_every_campaign_on_a_phone(browser, money_site):
    """A marketer on a phone: the campaign answer says what revenue followed, the tiles show won revenue and
    pipeline, the table has the money columns (scrolling sideways inside its box, never the page)."""
    page = login(browser, money_site, "marketing", width=390)
    page.goto(f"{money_site}/dashboard/?dim=campaign&range=90d")
    assert "revenue" in page.locator("#answer").inner_text()
    assert kpi(page, "revenue").startswith(("USD", "EUR")) and kpi(page, "pipeline").startswith(("USD", "EUR"))
    headers = {h.lower() for h in page.locator("#breakdown thead th").all_inner_texts()}  # CSS upper-cases them
    assert {"pipeline", "won revenue", "win rate", "revenue per booking"} <= headers
    assert page.evaluate("document.documentElement.scrollWidth") <= 400
    api = page.request.get(f"{money_site}/api/reports/breakdown/?group_by=campaign&metric=won&booked_after="
                           f"{page.locator('input[name=start]').input_value()}").json()
    body = page.request.get(f"{money_site}/dashboard/?dim=campaign&range=90d&export=table").text()
    won_in_table = sum(int(r["won"]) for r in csv.DictReader(io.StringIO(body)))
    assert won_in_table == api["total"] > 0
