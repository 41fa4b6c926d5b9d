"""A deal's amount and dates as HubSpot sends them are text: one odd value must not stop the whole deal read
(it is stored as unknown instead), and what is stored fits its column."""

from datetime import datetime
from decimal import Decimal

import pytest
from hypothesis import given, strategies as st

from hubspot_sync.models import Deal
from hubspot_sync.services.deal_read import _amount, _when

ODD_AMOUNTS = ["1e30", "1e17", "99999999999999999", "-1e16", "1e999999", "NaN", "sNaN", "Infinity", "", None, "abc"]
ODD_DATES = ["9" * 20, "9" * 400, "99999999999999999", "2026-13-01", "x"]


@pytest.mark.django_db
@pytest.mark.parametrize("text", ODD_AMOUNTS)
def test_an_amount_that_no_column_holds_is_stored_as_unknown(text):
    deal = Deal.objects.create(hubspot_id=f"D{ODD_AMOUNTS.index(text)}", amount=_amount(text))
    deal.refresh_from_db()
    assert deal.amount is None


@pytest.mark.parametrize("text", ODD_DATES)
def test_a_date_no_calendar_holds_is_unknown(text):
    assert _when(text) is None


def test_ordinary_values_are_kept():
    assert _amount("1234.567") == Decimal("1234.57") and _amount("9999999999999999.99") == Decimal("9999999999999999.99")
    assert _when("1767225600000") == datetime.fromisoformat("2026-01-01T00:00:00+00:00")


@given(st.one_of(st.text(max_size=40), st.integers().map(str), st.floats().map(str),
                 st.decimals(allow_nan=True, allow_infinity=True).map(str)))
def test_any_amount_text_parses_to_none_or_a_value_the_column_holds(text):
    value = _amount(text)
    assert value is None or (value.is_finite() and abs(value) < Decimal(10) ** 16 and value == value.quantize(Decimal("0.01")))


@given(st.one_of(st.text(max_size=40), st.integers(min_value=0).map(str)))
def test_any_date_text_parses_to_none_or_an_aware_datetime(text):
    value = _when(text)
    assert value is None or value.tzinfo is not None


@pytest.mark.django_db
@pytest.mark.parametrize("text", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "253402300799999"])
def test_a_date_at_the_calendars_edge_is_stored_and_read_back(text, admin_client):
    Deal.objects.create(hubspot_id="EDGE", created_at=_when(text), closed_at=_when(text), modified_at=_when(text))
    assert Deal.objects.values_list("created_at", flat=True).get() is None or Deal.objects.get().created_at.tzinfo
    assert admin_client.get("/admin/hubspot_sync/deal/").status_code == 200
