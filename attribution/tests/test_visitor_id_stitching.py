"""A booking's visitor id (`sbv_…`) is recognised in any tracking field, beside other UTMs, and is never
attribution (issue 13)."""

import pytest
from hypothesis import given, strategies as st

from attribution.rules import (
    DIRECT, booking_attribution_fields, has_attribution, rules_from_defaults, visitor_id_in,
)

VID = "sbv_" + "A1b2C3d4E5f6G7h8I9j0-_"
RULES = rules_from_defaults()
ATTRIBUTION_KEYS = ("source", "medium", "campaign", "content", "term", "channel")


def fields(tracking):
    return booking_attribution_fields(tracking=tracking, questions_and_answers=[], ruleset=RULES)


def test_a_visitor_id_in_utm_term_beside_other_utms_is_the_visitor_not_the_term():
    found = fields({"utm_source": "linkedin", "utm_medium": "paid_social", "utm_campaign": "spring_202606",
                    "utm_term": VID})
    assert found["visitor_id"] == VID
    assert found["term"] == ""
    assert (found["source"], found["medium"], found["campaign"]) == ("linkedin", "paid_social", "spring_202606")
    assert found["channel"] not in (DIRECT, "Unassigned")


def test_a_visitor_id_in_utm_content_is_not_content_nor_attribution():
    found = fields({"utm_content": VID})
    assert (found["visitor_id"], found["content"], found["channel"]) == (VID, "", DIRECT)
    assert not has_attribution({"utm_content": VID, "utm_term": "x"})


def test_a_visitor_id_in_salesforce_uuid_is_found_beside_a_term_of_its_own():
    found = fields({"utm_source": "google", "utm_medium": "cpc", "utm_term": "crm software", "salesforce_uuid": VID})
    assert (found["visitor_id"], found["term"]) == (VID, "crm software")


def test_a_lone_term_that_is_not_ours_is_still_an_identifier():
    assert fields({"utm_term": "VisItor-42"})["visitor_id"] == "VisItor-42"
    assert visitor_id_in({"utm_term": "VisItor-42"}) == ""


utm_values = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_-", min_size=1, max_size=12)


@given(own=st.dictionaries(st.sampled_from(["utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term"]),
                           utm_values, max_size=5),
       field=st.sampled_from(["utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term", "salesforce_uuid"]))
def test_the_visitor_id_is_recognised_in_any_field_and_never_lands_in_attribution(own, field):
    tracking = {**own, field: VID}
    found = fields(tracking)
    assert found["visitor_id"] == VID
    assert all(VID not in str(found[key]) for key in ATTRIBUTION_KEYS)
    without = {k: v for k, v in tracking.items() if k != field}
    assert has_attribution(tracking) == has_attribution(without)
    if not has_attribution(without):
        assert found["channel"] == DIRECT
    assert {k: found[k] for k in ATTRIBUTION_KEYS} == {k: fields(without)[k] for k in ATTRIBUTION_KEYS}


@pytest.mark.parametrize("value", ["sbv_short", "xsbv_" + "a" * 22, "SBV_" + "a" * 22])
def test_only_a_well_formed_id_is_ours(value):
    assert visitor_id_in({"utm_term": "x", "salesforce_uuid": value}) == ""
