"""Cost beside bookings and money on the dashboard: cost, cost per booking / held meeting / won deal and return on
spend per row and in the headline, days without spend data said as such, per currency, and in the CSV. Bookings
arrive through the webhook, spend through the CSV import, deals as the deal read stores them."""

import csv
import io
from datetime import date

import pytest

from attribution.services import defaults_install, spend_csv_import
from attribution.tests.test_dashboard import roles  # noqa: F401  (fixture)
from attribution.tests.test_dashboard_money import deal, emails
from attribution.tests.test_dashboard_v2 import at, book, frozen, marketer  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db
HEADER = "date,month,source,medium,campaign,cost,currency\n"


def spend(*lines):
    outcome = spend_csv_import(content=(HEADER + "\n".join(lines) + "\n").encode())
    assert outcome.ok, outcome.errors


@pytest.fixture
def october(post_signed, frozen):  # noqa: F811
    defaults_install()
    day = at(date(2026, 10, 5))
    book(post_signed, 4, on=day, campaign="launch_202610")
    book(post_signed, 2, on=day, campaign="abm_202610", source="google", medium="cpc")
    deal(emails("launch_202610")[0], after=day, amount="2000", won=True)
    return day


def test_cost_per_booking_held_and_won_and_return_on_spend_per_campaign(marketer, october):
    spend(",2026-10,LinkedIn,Paid_Social,Launch_202610,300,USD",  # the month, spelled as the ad platform does
          ",2026-10,google,cpc,abm_202610,120,USD")
    response = marketer.get("/dashboard/?dim=campaign&range=last_month")
    page, data = response.content.decode(), response.context["data"]
    rows = {r["campaign"]: r for r in data["rows"]}
    launch, abm = rows["launch_202610"], rows["abm_202610"]
    assert (str(launch["cost"]), str(launch["cost_per_booking"]), str(launch["cost_per_held"])) == (
        "USD 300.00", "USD 75.00", "USD 75.00")
    assert (str(launch["cost_per_won"]), round(launch["roas"], 2)) == ("USD 300.00", 6.67)
    assert (str(abm["cost_per_booking"]), abm["cost_per_won"], abm["roas"]) == ("USD 60.00", None, 0.0)
    assert str(data["kpis"]["cost"]) == "USD 420.00" and str(data["kpis"]["cost_per_booking"]) == "USD 70.00"
    assert round(data["kpis"]["roas"], 2) == 4.76  # 2,000 won ÷ 420 spent
    assert data["spend_missing"] == {"days": 0, "ranges": []} and 'id="spend-missing"' not in page
    assert 'data-col="cost_per_booking">USD 75.00<' in page and 'data-col="roas">6.67<' in page
    assert 'id="roas-total">4.76<' in page and "Return on spend" in page

    body = marketer.get("/dashboard/?dim=campaign&range=last_month&export=table").content.decode()
    exported = {r["campaign"]: r for r in csv.DictReader(io.StringIO(body))}
    assert {k: exported["launch_202610"][k] for k in ("cost", "cost_per_booking", "cost_per_won", "roas",
                                                       "cost_currency")} == {
        "cost": "300.00", "cost_per_booking": "75.00", "cost_per_won": "300.00", "roas": "6.67", "cost_currency": "USD"}


def test_days_without_spend_are_said_not_counted_as_zero(marketer, october):
    spend("2026-10-01,,linkedin,paid_social,launch_202610,10,USD", "2026-10-02,,linkedin,paid_social,launch_202610,0,USD")
    page = marketer.get("/dashboard/?dim=campaign&range=last_month").content.decode()
    assert "No spend data for 29 days of this period" in page  # 1 Oct has cost, 2 Oct a 0: both are data
    drilled = marketer.get("/dashboard/?dim=campaign&channel=Paid+Search&range=last_month").content.decode()
    assert "No spend data for 31 days of this period" in drilled  # Paid Search has none at all
    few = marketer.get("/dashboard/?dim=campaign&range=custom&start=2026-10-01&end=2026-10-06").content.decode()
    assert "No spend data for 4 days of this period</strong> (3 Oct 2026 – 6 Oct 2026)" in few


def test_mixed_currencies_are_shown_side_by_side_and_return_on_spend_left_out(marketer, october):
    spend(",2026-10,linkedin,paid_social,launch_202610,300,USD", ",2026-10,linkedin,paid_social,launch_202610,100,EUR")
    data = marketer.get("/dashboard/?dim=campaign&range=last_month").context["data"]
    launch = next(r for r in data["rows"] if r["campaign"] == "launch_202610")
    assert str(launch["cost_per_booking"]) == "EUR 25.00 + USD 75.00" and launch["roas"] is None


def test_rows_by_something_spend_is_not_uploaded_by_have_no_cost_columns(marketer, october):
    spend(",2026-10,linkedin,paid_social,launch_202610,300,USD")
    response = marketer.get("/dashboard/?dim=event_type&range=last_month")
    assert response.context["data"]["spend"] is False and "Cost per booking" not in response.content.decode()
    response = marketer.get("/dashboard/?dim=channel&range=last_month")
    assert response.context["data"]["spend"] is True and "Cost per booking" in response.content.decode()


def test_without_spend_there_are_no_cost_columns(marketer, october):
    response = marketer.get("/dashboard/?dim=campaign&range=last_month")
    assert response.context["data"]["spend"] is False and "Cost per booking" not in response.content.decode()


def test_a_campaign_that_spent_and_booked_nothing_is_a_row_so_the_cost_column_adds_up(marketer, october):
    spend(",2026-10,linkedin,paid_social,launch_202610,300,USD", ",2026-10,bing,cpc,silent_202610,90,USD")
    response = marketer.get("/dashboard/?dim=campaign&range=last_month")
    rows = {r["campaign"]: r for r in response.context["data"]["rows"]}
    assert (rows["silent_202610"]["bookings"], str(rows["silent_202610"]["cost"])) == (0, "USD 90.00")
    assert rows["silent_202610"]["cost_per_booking"] is None  # spent, booked nothing: no price per booking
    assert str(response.context["data"]["kpis"]["cost"]) == "USD 390.00"
    assert response.context["data"]["rows"][-1]["campaign"] == "silent_202610"  # after the rows that booked
    assert 'data-key="silent_202610"' in response.content.decode()
