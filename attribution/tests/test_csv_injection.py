"""CSV exports never hand a spreadsheet a live formula, and numbers stay numbers."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import given, strategies as st

from bookings.tests.factories import BookingFactory
from project.renderers import FORMULA_TRIGGERS, csv_cell

pytestmark = pytest.mark.django_db

FORMULA = '=HYPERLINK("http://x","y")'
DRILL = "channel=Email&source=newsletter&medium=email"


@pytest.fixture
def marketing(login_as):
    return login_as("analyst", group="Marketing")


@pytest.fixture
def formula_campaign():
    now = timezone.now()
    common = dict(channel="Email", source="newsletter", medium="email", campaign=FORMULA)
    BookingFactory(booked_at=now - timedelta(hours=1), **common)
    BookingFactory.create_batch(2, booked_at=now - timedelta(days=8), **common)  # the period before: delta is -1


def rows(response):
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_the_report_csv_neutralizes_a_formula_campaign(marketing, formula_campaign):
    exported = rows(marketing.get("/api/reports/breakdown/?group_by=channel,campaign&format=csv"))
    assert [(r["channel"], r["campaign"], r["bookings"], r["share"]) for r in exported] == \
        [("Email", "'" + FORMULA, "3", "1.0")]


def test_the_dashboard_csv_neutralizes_a_formula_campaign_and_keeps_negative_numbers(marketing, formula_campaign):
    exported = rows(marketing.get(f"/dashboard/?range=7d&{DRILL}&export=table"))
    assert [(r["campaign"], r["bookings"], r["previous"], r["change"]) for r in exported] == \
        [("'" + FORMULA, "1", "2", "-1")]
    series = rows(marketing.get(f"/dashboard/?range=7d&{DRILL}&export=timeseries"))
    assert {r["campaign"] for r in series} == {"'" + FORMULA}


@given(st.one_of(st.text(), st.sampled_from(["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "-2+3+cmd|' /C calc'!A0"])))
def test_no_text_cell_starts_a_formula(text):
    cell = csv_cell(text)
    assert not cell.startswith(FORMULA_TRIGGERS)
    assert cell == text or cell == "'" + text  # nothing else changes


@given(st.one_of(st.integers(), st.floats(allow_nan=False)))
def test_numbers_stay_numbers(number):
    assert csv_cell(number) == number
