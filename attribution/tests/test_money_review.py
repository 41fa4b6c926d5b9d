"""Review: exchange rates come from HubSpot as text; a rate that isn't a usable number is left out (amounts in that
currency are then reported per currency code) instead of failing the report with a 500."""

import pytest

from attribution.tests.test_money import api, book, by_channel, deal, report  # noqa: F401 (fixture)
from hubspot_sync.models import DealSyncState

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("rate", ["None", None, "abc", "NaN", "Infinity", "1e999999", "-1", "0", [], {}])
def test_a_rate_that_is_not_a_usable_number_is_not_used(api, rate):
    book("e@example.com", "Email", days=0)
    book("f@example.com", "Paid Social", days=0)
    deal("e@example.com", created_days=1, amount="100", currency="USD", won=True)
    deal("f@example.com", created_days=1, amount="200", currency="EUR", won=True)
    DealSyncState.objects.create(company_currency="USD", exchange_rates={"EUR": rate})
    body = report(api, "revenue")
    assert body["total"] == {"EUR": "200.00", "USD": "100.00"} and body["currency"] is None
    assert by_channel(body, "revenue") == {"Email": {"USD": "100.00"}, "Paid Social": {"EUR": "200.00"}}
