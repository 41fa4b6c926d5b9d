"""Spend: the CSV import (per-row errors, all or nothing, re-import replaces, undo), normalization as for UTMs,
days without spend, and cost per booking / return on spend per currency in the report API."""

from datetime import date, datetime, timedelta
from datetime import timezone as tz
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from attribution import spend
from attribution.models import Spend, SpendImport
from attribution.rules import attribution_compute
from attribution.ruleset import ruleset_current
from attribution.services import defaults_install, spend_csv_import, spend_import_undo
from attribution.spend_csv import SpendRowError, spend_row_parse
from bookings.tests.factories import BookingFactory
from hubspot_sync.models import Deal, DealContact, DealSyncState
from hubspot_sync.services.deal_credit import deals_credit

pytestmark = pytest.mark.django_db
HEADER = "date,month,source,medium,campaign,cost,currency\n"
URL = "/api/reports/breakdown/"


def csv(*lines: str) -> bytes:
    return (HEADER + "\n".join(lines) + "\n").encode()


def imported(*lines: str, **kwargs):
    outcome = spend_csv_import(content=csv(*lines), file_name="spend.csv", **kwargs)
    assert outcome.ok, outcome.errors
    return outcome


def period(first: str, last: str) -> dict:
    """Report filters for the inclusive days first … last (midnights in TIME_ZONE, as the dashboard's)."""
    from django.utils import timezone

    start, end = date.fromisoformat(first), date.fromisoformat(last) + timedelta(days=1)
    return {"booked_after": timezone.make_aware(datetime.combine(start, datetime.min.time())),
            "booked_before": timezone.make_aware(datetime.combine(end, datetime.min.time()))}


@pytest.fixture(autouse=True)
def rules():
    defaults_install()


@pytest.fixture
def api(login_as):
    return login_as("analyst", group="Marketing")


# --- import --------------------------------------------------------------------------------------


def test_a_file_with_bad_rows_names_each_problem_by_row_and_column_and_imports_nothing():
    outcome = spend_csv_import(content=csv(
        "2026-10-01,,google,cpc,brand,10.00,EUR",  # fine, but not imported: the file is all or nothing
        "2026-10-32,,google,cpc,brand,10.00,EUR",  # bad date
        "2026-10-02,,google,cpc,brand,-5,EUR",  # negative cost
        "2026-10-03,,google,cpc,brand,12€,EUR",  # not a number
        "2026-10-04,,google,cpc,brand,10,EURO",  # not an ISO 4217 code
        "2026-10-05,,,cpc,brand,10,EUR",  # no source
        ",2026-13,google,cpc,brand,10,EUR",  # bad month
        "2026-10-06,2026-10,google,cpc,brand,10,EUR",  # both
    ))
    assert not outcome.ok and outcome.batch_id is None
    by_row = {(row, column) for row, column, _ in outcome.errors}
    assert by_row == {(2, "date"), (3, "cost"), (4, "cost"), (5, "currency"), (6, "source"), (7, "month"), (8, "date")}
    messages = dict(((row, column), text) for row, column, text in outcome.errors)
    assert "negative" in messages[(3, "cost")] and "ISO 4217" in messages[(5, "currency")]
    assert Spend.objects.count() == 0 and SpendImport.objects.count() == 0


@pytest.mark.parametrize("content, says", [
    (b"date,source,cost,currency\n2026-10-01,google\x00,1,EUR\n", "NUL"),
    (b"\xff\xfe" + "date,source".encode("utf-16-le"), "UTF-8"),
    (b"date,source,medium\n2026-10-01,google,cpc\n", "Missing columns: cost, currency"),
    (b"source,cost,currency\ngoogle,1,EUR\n", "date or month"),
    (b"", "empty"),
    (HEADER.encode() + b"2026-10-01,,google,cpc," + b"x" * 3_000_000 + b",1.00,EUR\n", "MB"),
    (HEADER.encode() + b"2026-10-01,,google,cpc,x,1.00,EUR\n" * 20_001, "20,001 rows"),
], ids=["nul", "utf16", "columns", "no-date", "empty", "too-large", "too-many-rows"])
def test_a_file_that_is_not_a_spend_csv_is_refused_whole_saying_why(content, says):
    outcome = spend_csv_import(content=content)
    assert [(row, column) for row, column, _ in outcome.errors] == [(0, "file")]
    assert says in outcome.errors[0][2]
    assert Spend.objects.count() == 0


def test_importing_the_same_rows_again_replaces_them_and_undo_removes_an_upload():
    first = imported("2026-10-01,,google,cpc,brand,10.00,EUR", "2026-10-02,,google,cpc,brand,20.00,EUR")
    assert (first.new, first.replaced) == (2, 0)
    again = imported("2026-10-01,,Google,CPC,Brand,15.00,eur", "2026-10-03,,google,cpc,brand,5,EUR")
    assert (again.new, again.replaced) == (1, 1)
    assert sorted(Spend.objects.values_list("day", "cost", "batch_id")) == [
        (date(2026, 10, 1), Decimal("15.00"), again.batch_id),  # replaced, now the second upload's
        (date(2026, 10, 2), Decimal("20.00"), first.batch_id),
        (date(2026, 10, 3), Decimal("5.00"), again.batch_id)]
    assert spend_import_undo(batch_id=again.batch_id) == 2
    assert list(Spend.objects.values_list("day", "cost")) == [(date(2026, 10, 2), Decimal("20.00"))]
    assert not SpendImport.objects.filter(pk=again.batch_id).exists()


def test_a_row_twice_in_one_file_or_a_month_beside_its_days_is_refused():
    outcome = spend_csv_import(content=csv("2026-10-01,,google,cpc,brand,10,EUR", "2026-10-01,,GOOGLE,cpc,brand,11,EUR"))
    assert [(r, c) for r, c, _ in outcome.errors] == [(2, "date")] and "row 1" in outcome.errors[0][2]
    outcome = spend_csv_import(content=csv(",2026-10,google,cpc,brand,300,EUR", "2026-10-05,,google,cpc,brand,11,EUR"))
    assert [(r, c) for r, c, _ in outcome.errors] == [(2, "date")]
    imported(",2026-10,google,cpc,brand,300,EUR")
    outcome = spend_csv_import(content=csv("2026-10-05,,google,cpc,brand,11,EUR"))
    assert not outcome.ok and "2026-10" in outcome.errors[0][2]
    imported("2026-10-05,,google,cpc,brand,11,USD")  # another currency is another row
    assert Spend.objects.count() == 2


# --- normalization --------------------------------------------------------------------------------


def _variants(value: str):
    return st.tuples(st.lists(st.booleans(), min_size=len(value), max_size=len(value)),
                     st.sampled_from(["", " ", "  ", "\t"]), st.sampled_from(["", " ", "\t "])).map(
        lambda t: t[1] + "".join(c.upper() if up else c for c, up in zip(value, t[0])) + t[2])


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(source=st.sampled_from(["linkedin", "lnkd.in", "google", "facebook.com", "saas weekly"]).flatmap(_variants),
       medium=st.sampled_from(["cpc", "paid_social", "Email"]).flatmap(_variants))
def test_any_casing_or_spacing_of_a_source_lands_where_the_utm_rules_put_a_booking_tagged_with_it(source, medium):
    Spend.objects.all().delete()
    imported(f"2026-10-01,,{source},{medium},Launch,10,EUR")
    imported(f"2026-10-01,,{source.strip().lower()},{medium.strip().lower()},launch,12,EUR")  # the same row
    assert Spend.objects.count() == 1
    booking = attribution_compute(raw={"source": source, "medium": medium, "campaign": "Launch"},
                                  ruleset=ruleset_current())
    costs = spend.spend_cost(group_by=["channel", "source", "medium", "campaign"])
    assert costs == {(booking.channel, booking.source, booking.medium, booking.campaign): {"EUR": Decimal("12.00")}}


def test_a_row_parses_to_normalized_values():
    assert spend_row_parse({"date": " 2026-10-31 ", "source": " Linked%20In ", "medium": "Paid+Social",
                            "campaign": "", "cost": "1250.505", "currency": "usd"}) == {
        "day": date(2026, 10, 31), "last_day": date(2026, 10, 31), "source": "linked in", "medium": "paid social",
        "campaign": "", "cost": Decimal("1250.51"), "currency": "USD"}
    month = spend_row_parse({"month": "2024-02", "source": "x", "cost": "0", "currency": "EUR"})
    assert (month["day"], month["last_day"], month["cost"]) == (date(2024, 2, 1), date(2024, 2, 29), Decimal("0.00"))
    with pytest.raises(SpendRowError) as error:
        spend_row_parse({"date": "31/10/2026", "source": "", "cost": "1,250.50", "currency": "€"})
    assert set(error.value.errors) == {"date", "source", "cost", "currency"}


@given(st.text(max_size=30))
def test_the_row_parser_never_fails_other_than_by_saying_which_column(text):
    row = {"date": text, "month": "", "source": text, "medium": text, "campaign": text, "cost": text, "currency": text}
    try:
        values = spend_row_parse(row)
    except SpendRowError as exc:
        assert exc.errors and set(exc.errors) <= {"date", "month", "source", "cost", "currency"}
    else:
        assert values["cost"] >= 0 and len(values["currency"]) == 3


# --- reads: cost in a period, days without spend ------------------------------------------------


def test_a_month_is_spread_over_its_days_and_days_without_rows_are_missing_not_zero():
    imported(",2026-10,newsletter,email,digest,310.00,EUR",  # 10 a day
             "2026-11-01,,google,cpc,brand,0,EUR",  # an explicit zero is data
             "2026-11-03,,google,cpc,brand,7.50,EUR")
    key = ("Email", "newsletter", "email", "digest")
    group = ["channel", "source", "medium", "campaign"]
    assert spend.spend_cost(group_by=group, **period("2026-10-01", "2026-10-31"))[key] == {"EUR": Decimal("310")}
    assert spend.spend_cost(group_by=group, **period("2026-10-25", "2026-11-05"))[key] == {"EUR": Decimal("70")}
    missing = spend.spend_missing_days(**period("2026-10-30", "2026-11-05"), today=date(2026, 11, 4))
    assert missing == [date(2026, 11, 2), date(2026, 11, 4)]  # 1 Nov has a 0 row; 5 Nov is after today
    in_scope = spend.spend_missing_days(**period("2026-10-30", "2026-11-05"), today=date(2026, 11, 4),
                                        channel="Paid Search")  # the newsletter's October isn't Paid Search's
    assert in_scope == [date(2026, 10, 30), date(2026, 10, 31), date(2026, 11, 2), date(2026, 11, 4)]
    assert spend.day_ranges([date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 5)]) == [
        ["2026-11-02", "2026-11-03"], ["2026-11-05", "2026-11-05"]]


def test_a_rule_edit_moves_spend_as_it_moves_bookings():
    from attribution.models import Alias
    from attribution.ruleset import ruleset_changed

    imported("2026-10-01,,my-podcast,audio,ep1,50,EUR")
    assert list(spend.spend_cost(group_by=["source"])) == [("my-podcast",)]
    Alias.objects.create(field="source", value="my-podcast", canonical="podcast-x")
    ruleset_changed()
    assert list(spend.spend_cost(group_by=["source"])) == [("podcast-x",)]


# --- the report API: metric=cost and metric=roas --------------------------------------------------

T0 = datetime(2026, 10, 5, 10, tzinfo=tz.utc)


def won_deal(email, amount, currency, *, channel="Paid Search", source="google", campaign="brand"):
    BookingFactory(email=email, channel=channel, source=source, medium="cpc", campaign=campaign, booked_at=T0)
    deal = Deal.objects.create(hubspot_id=f"D-{email}", amount=Decimal(amount), currency=currency, closed_won=True,
                               created_at=T0 + timedelta(days=3))
    DealContact.objects.create(deal=deal, hubspot_contact_id=f"C-{email}", email=email)
    deals_credit(deal_ids=[deal.pk])  # as the deal read does for every deal it stores


def test_metric_cost_and_roas_per_campaign_in_one_currency(api):
    imported("2026-10-05,,google,cpc,brand,100.00,EUR", "2026-10-06,,google,cpc,brand,150.00,EUR",
             "2026-10-05,,linkedin,paid_social,launch,80.00,EUR")
    won_deal("a@example.com", "1000", "EUR")
    params = {"group_by": "campaign", "booked_after": "2026-10-05", "booked_before": "2026-10-08"}
    body = api.get(URL, {**params, "metric": "cost"}).json()
    assert {r["campaign"]: r["cost"] for r in body["rows"]} == {"brand": "250.00", "launch": "80.00"}
    assert (body["total"], body["currency"], body["days_without_spend"]) == ("330.00", "EUR", 1)
    assert body["missing_days"] == [["2026-10-07", "2026-10-07"]]
    body = api.get(URL, {**params, "metric": "roas"}).json()
    rows = {r["campaign"]: r for r in body["rows"]}
    assert (rows["brand"]["revenue"], rows["brand"]["roas"]) == ("1000.00", "4.00")
    assert (rows["launch"]["revenue"], rows["launch"]["roas"]) == (None, "0.00")
    assert (body["total"], body["cost"], body["revenue"]) == ("3.03", "330.00", "1000.00")


def test_mixed_currencies_are_never_summed_without_rates_and_converted_with_them(api):
    imported("2026-10-05,,google,cpc,brand,100.00,EUR", "2026-10-05,,linkedin,paid_social,launch,200.00,USD")
    won_deal("a@example.com", "300", "USD")
    DealSyncState.objects.create(company_currency="USD", exchange_rates={})
    params = {"group_by": "channel", "booked_after": "2026-10-05", "booked_before": "2026-10-06"}
    body = api.get(URL, {**params, "metric": "cost"}).json()
    assert body["total"] == {"EUR": "100.00", "USD": "200.00"} and body["currency"] is None and "note" in body
    body = api.get(URL, {**params, "metric": "roas"}).json()
    assert {r["channel"]: r["roas"] for r in body["rows"]} == {"Paid Search": None, "Paid Social": "0.00"}
    assert body["total"] is None and "note" in body  # EUR cost and USD revenue: no rate, no ratio
    DealSyncState.objects.update(exchange_rates={"EUR": "1.50"})  # 1 EUR = 1.50 USD
    body = api.get(URL, {**params, "metric": "roas"}).json()
    assert {r["channel"]: r["roas"] for r in body["rows"]} == {"Paid Search": "2.00", "Paid Social": "0.00"}
    assert (body["cost"], body["total"]) == ("350.00", "0.86")
    body = api.get(URL, {**params, "metric": "cost"}).json()
    assert (body["total"], body["currency"]) == ("350.00", "USD")


def test_spend_metrics_refuse_groups_spend_does_not_have_and_csv_has_a_column_per_currency(api):
    response = api.get(URL, {"group_by": "event_type_name", "metric": "cost"})
    assert response.status_code == 400 and "group_by" in response.json()
    imported("2026-10-05,,google,cpc,=HYPERLINK(1),100.00,EUR", "2026-10-05,,linkedin,paid_social,launch,200.00,USD")
    response = api.get(URL, {"group_by": "campaign", "metric": "cost", "format": "csv"})
    lines = response.content.decode().splitlines()
    assert lines[0] == "campaign,cost EUR,cost USD"
    assert sorted(lines[1:]) == ["'=hyperlink(1),100.00,", "launch,,200.00"]


def test_the_demo_spend_goes_through_the_import_and_marks_its_missing_days():
    from django.core.management import call_command
    from django.utils import timezone

    call_command("seed_spend", verbosity=0)
    call_command("seed_spend", verbosity=0)  # already there: skipped
    assert SpendImport.objects.count() == 1
    today = timezone.localdate()
    costs = spend.spend_cost(group_by=["source", "campaign"], **period((today - timedelta(days=60)).isoformat(),
                                                                        today.isoformat()))
    assert ("linkedin", "spring_launch_202606") in costs and ("google", "competitor_202610") in costs
    assert {code for per in costs.values() for code in per} == {"USD"}
    last_40_days = period((today - timedelta(days=40)).isoformat(), today.isoformat())
    # The ad platforms' export skipped a day and hasn't the last two yet; the newsletter's and the podcast's months
    # cover every day of a past month (so, overall, only days of the running month can lack data).
    paid_search = spend.spend_missing_days(**last_40_days, channel="Paid Search")
    assert paid_search == [today - timedelta(days=30), today - timedelta(days=1), today]
    overall = spend.spend_missing_days(**last_40_days)
    assert today in overall and set(overall) <= set(paid_search)
