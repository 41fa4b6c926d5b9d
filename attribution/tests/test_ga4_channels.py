"""GA4's default channel group, completed (issue 13): the seeded rules (the data migrations) and the default rules
(attribution/defaults.py) classify the same way."""

import pytest

from attribution.rules import attribution_compute, rules_from_defaults
from attribution.ruleset import ruleset_build

CASES = [
    ({"source": "google", "medium": "cpc", "campaign": "cross-network_spring"}, "Cross-network"),
    ({"source": "amazon", "medium": "cpc", "campaign": "q3"}, "Paid Shopping"),
    ({"source": "bing", "medium": "ppc", "campaign": "shopping_feed"}, "Paid Shopping"),
    ({"source": "google", "medium": "cpc", "campaign": "brand"}, "Paid Search"),
    ({"source": "youtube", "medium": "paid_video", "campaign": "launch"}, "Paid Video"),
    ({"source": "partnerportal", "medium": "display", "campaign": "q3"}, "Display"),
    ({"source": "adroll", "medium": "banner", "campaign": "q3"}, "Display"),
    ({"source": "partnerportal", "medium": "paid", "campaign": "q3"}, "Paid Other"),
    ({"source": "etsy", "medium": "referral", "campaign": "spring"}, "Organic Shopping"),
    ({"source": "blog", "medium": "referral", "campaign": "workshop_launch"}, "Referral"),  # not GA4's "shop"
    ({"source": "blog", "medium": "referral", "campaign": "shop_launch"}, "Organic Shopping"),
    ({"source": "firebase", "medium": "inapp", "campaign": "q3"}, "Mobile Push"),
    ({"source": "firebase", "medium": "app", "campaign": "q3"}, "Referral"),  # GA4 checks Referral first
    ({"source": "acme_app", "medium": "web_push", "campaign": "q3"}, "Mobile Push"),
    ({"source": "linkedin", "medium": "paid_social", "campaign": "q3"}, "Paid Social"),
    ({"source": "newsletter", "medium": "email", "campaign": "weekly"}, "Email"),
]


@pytest.mark.parametrize("raw,channel", CASES)
def test_the_default_rules_follow_ga4(raw, channel):
    assert attribution_compute(raw=raw, ruleset=rules_from_defaults()).channel == channel


@pytest.mark.django_db
@pytest.mark.parametrize("raw,channel", CASES)
def test_an_install_migrated_from_the_old_rules_classifies_the_same(raw, channel):
    assert attribution_compute(raw=raw, ruleset=ruleset_build()).channel == channel
