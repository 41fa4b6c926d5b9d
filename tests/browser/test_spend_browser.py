"""A marketer uploads spend in the admin and sees, on the dashboard by campaign, cost per booking and return on
spend for a campaign; a file with a bad row shows the row's error and imports nothing."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from attribution.models import Spend
from bookings.tests.factories import BookingFactory
from hubspot_sync.models import Deal, DealContact, DealSyncState
from hubspot_sync.services.deal_credit import deals_credit
from tests.browser.pages import demo_site, login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
CAMPAIGN = "autumn_webinar_202611"


@pytest.fixture
def site(live_server):
    url = demo_site(live_server, count=0)
    now = timezone.now()
    for i in range(4):  # four demos booked from the campaign in the last days, one became a won deal
        BookingFactory(email=f"lead{i}@example.com", channel="Paid Social", source="linkedin", medium="paid_social",
                       campaign=CAMPAIGN, booked_at=now - timedelta(days=2, hours=i),
                       start_time=now - timedelta(days=1))
    deal = Deal.objects.create(hubspot_id="D-1", amount=Decimal("2000"), currency="USD", closed_won=True,
                               created_at=now - timedelta(hours=12))
    DealContact.objects.create(deal=deal, hubspot_contact_id="C-1", email="lead0@example.com")
    deals_credit(deal_ids=[deal.pk])
    DealSyncState.objects.create(company_currency="USD", exchange_rates={})
    return url


def spend_csv(rows: list[str]) -> dict:
    body = "date,month,source,medium,campaign,cost,currency\n" + "\n".join(rows) + "\n"
    return {"name": "linkedin-spend.csv", "mimeType": "text/csv", "buffer": body.encode()}


def test_a_marketer_uploads_spend_and_sees_cost_per_booking_and_return_on_spend(browser, site, shot):
    page = login(browser, site, "marketing")
    today = timezone.localdate()
    days = [(today - timedelta(days=n)).isoformat() for n in (3, 2, 1)]

    page.goto(f"{site}/admin/attribution/spend/")
    page.get_by_role("link", name="Import").click()
    assert page.locator("#spend-template").get_attribute("href").endswith("spend_template.csv")
    # A bad row: its error is shown, with its row, and nothing is imported.
    page.locator('input[type="file"]').set_input_files(spend_csv([
        f"{days[0]},,LinkedIn,Paid_Social,{CAMPAIGN},100,USD", f"{days[1]},,linkedin,paid_social,{CAMPAIGN},-100,USD"]))
    page.get_by_role("button", name="Submit").click()
    page.get_by_text("is negative").wait_for()
    assert page.get_by_role("button", name="Confirm import").count() == 0
    assert Spend.objects.count() == 0
    shot(page, "spend-upload-errors")

    page.locator('input[type="file"]').set_input_files(spend_csv(
        [f"{day},,LinkedIn ,Paid_Social,{CAMPAIGN.upper()},100.00,usd" for day in days]))
    page.get_by_role("button", name="Submit").click()
    page.get_by_role("button", name="Confirm import").click()
    page.wait_for_url("**/admin/attribution/spend/")
    assert page.locator("#result_list tbody tr").count() == 3

    page.goto(f"{site}/dashboard/?range=7d&dim=campaign")
    row = page.locator(f'#breakdown tbody tr[data-key="{CAMPAIGN}"]')
    assert row.locator('[data-col="cost"]').inner_text().strip() == "USD 300"
    assert row.locator('[data-col="cost_per_booking"]').inner_text().strip() == "USD 75.00"  # 300 ÷ 4 booked
    assert row.locator('[data-col="roas"]').inner_text().strip() == "6.67"  # 2,000 won ÷ 300 spent
    assert "No spend data for 4 days" in page.locator("#spend-missing").inner_text()  # the other days of the week
    shot(page, "dashboard-spend")

    mobile = login(browser, site, "marketing", width=390)
    mobile.goto(f"{site}/dashboard/?range=7d&dim=campaign")
    assert mobile.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")  # the table scrolls inside
    shot(mobile, "dashboard-spend-390")
