import pytest
from hypothesis import given, settings as hsettings, strategies as st

from attribution import defaults
from attribution.models import Alias, BannedValue, ChannelRule
from attribution.rules import DIRECT, UNASSIGNED, attribution_compute, booking_attribution_fields, utm_normalize
from attribution.ruleset import ruleset_build, ruleset_changed

pytestmark = pytest.mark.django_db


@pytest.fixture
def ruleset():
    return ruleset_build()


def channel_of(ruleset, **raw):
    return attribution_compute(raw=raw, ruleset=ruleset).channel


# --- normalization -------------------------------------------------------------------------------

@given(st.text())
def test_normalization_is_idempotent(value):
    assert utm_normalize(utm_normalize(value)) == utm_normalize(value)


@given(st.sampled_from(["reddit", "LinkedIn", "chat gpt", "google"]),
       st.lists(st.sampled_from(["upper", "title", "pad", "plus", "pct", "tabs"]), max_size=4))
def test_case_space_and_encoding_variants_land_together(value, mutations):
    variant = value
    for m in mutations:
        variant = {"upper": variant.upper(), "title": variant.title(), "pad": f"  {variant} ",
                   "plus": variant.replace(" ", "+"), "pct": variant.replace(" ", "%20"),
                   "tabs": variant.replace(" ", "\t \t")}[m]
    assert utm_normalize(variant) == utm_normalize(value)


def test_normalization_examples():
    assert utm_normalize("  Spring+Launch%202026 ") == "spring launch 2026"
    assert utm_normalize("") == "" and utm_normalize(None) == ""
    assert utm_normalize("Chat%2520GPT") == "chat gpt"


@given(st.sampled_from(sorted({s for spellings in defaults.SOURCE_ALIASES.values() for s in spellings})),
       st.sampled_from([str.upper, str.lower, lambda s: f" {s}  "]))
def test_alias_variants_land_on_the_canonical_source(spelling, transform):
    ruleset = ruleset_build()
    canonical = next(c for c, spellings in defaults.SOURCE_ALIASES.items() if spelling in spellings)
    assert attribution_compute(raw={"source": transform(spelling), "medium": "social"}, ruleset=ruleset).source == canonical


# --- three states --------------------------------------------------------------------------------

def test_untagged_is_direct_with_the_backlog_markers(ruleset):
    result = attribution_compute(raw={}, ruleset=ruleset)
    assert (result.source, result.medium, result.campaign, result.channel) == ("(direct)", "(none)", "(not set)", DIRECT)


def test_utm_term_alone_is_a_visitor_id_not_attribution(ruleset):
    result = attribution_compute(raw={"term": "VisItor-42"}, ruleset=ruleset)
    assert result.channel == DIRECT and result.source == "(direct)"
    assert result.visitor_id == "VisItor-42"


def test_tagged_but_unmatched_is_unassigned_never_direct(ruleset):
    assert channel_of(ruleset, source="partnerportal", medium="widget") == UNASSIGNED
    assert channel_of(ruleset, source="(direct)", medium="cpc") != DIRECT


def test_medium_without_source_gets_not_set(ruleset):
    result = attribution_compute(raw={"medium": "email"}, ruleset=ruleset)
    assert result.source == "(not set)" and result.channel == "Email"
    assert "medium_without_source" in result.flags


@pytest.mark.parametrize("value", ["website", "N/A", "test", "none", "Sourcebook"])
def test_banned_values_land_in_unassigned_with_a_flag(ruleset, value):
    result = attribution_compute(raw={"source": value, "medium": "cpc"}, ruleset=ruleset)
    assert result.channel == UNASSIGNED
    assert "banned:source" in result.flags


# --- each default channel, and order -----------------------------------------------------------

@pytest.mark.parametrize("raw,channel", [
    ({"source": "chat.openai.com", "medium": "referral"}, "AI Assistants"),
    ({"source": "perplexity", "medium": "cpc"}, "AI Assistants"),
    ({"source": "google", "medium": "cpc"}, "Paid Search"),
    ({"source": "bing", "medium": "ppc"}, "Paid Search"),
    ({"source": "linkedin", "medium": "paid_social"}, "Paid Social"),
    ({"source": "fb", "medium": "retargeting"}, "Paid Social"),
    ({"source": "capterra", "medium": "paid"}, "Paid Other"),
    ({"source": "linkedin", "medium": "post"}, "Organic Social"),
    ({"source": "partner", "medium": "social media"}, "Organic Social"),
    ({"source": "youtube", "medium": "description"}, "Organic Video"),
    ({"source": "webinar", "medium": "video"}, "Organic Video"),
    ({"source": "duckduckgo", "medium": "serp"}, "Organic Search"),
    ({"source": "blog", "medium": "organic"}, "Organic Search"),
    ({"source": "newsletter", "medium": "weekly"}, "Email"),
    ({"source": "hubspot", "medium": "e-mail"}, "Email"),
    ({"source": "partnerstack", "medium": "affiliate"}, "Affiliates"),
    ({"source": "g2", "medium": "referral"}, "Referral"),
    ({"source": "saas-podcast", "medium": "podcast"}, "Audio"),
    ({"source": "sms", "medium": "text"}, "SMS"),
    ({"source": "billboard", "medium": "offline"}, UNASSIGNED),
])
def test_each_default_channel(ruleset, raw, channel):
    assert attribution_compute(raw=raw, ruleset=ruleset).channel == channel


def test_first_matching_rule_wins_and_order_is_editable():
    assert channel_of(ruleset_build(), source="linkedin", medium="paid") == "Paid Social"
    ChannelRule.objects.filter(channel="Organic Social").update(position=1)
    ruleset_changed()
    assert channel_of(ruleset_build(), source="linkedin", medium="paid") == "Organic Social"


def test_new_alias_and_banned_value_apply_after_a_change():
    Alias.objects.create(field="source", value="lnkd", canonical="linkedin")
    BannedValue.objects.create(value="tbd")
    ruleset_changed()
    ruleset = ruleset_build()
    assert attribution_compute(raw={"source": "LNKD", "medium": "social"}, ruleset=ruleset).source == "linkedin"
    assert attribution_compute(raw={"source": "x", "campaign": "tbd"}, ruleset=ruleset).channel == UNASSIGNED


raw_values = st.one_of(st.none(), st.text(max_size=20), st.sampled_from(
    ["google", "LinkedIn", "cpc", "paid", "email", "website", "fb", "", " ", "organic", "x.com", "%20"]))


@hsettings(max_examples=200)
@given(st.fixed_dictionaries({k: raw_values for k in ("source", "medium", "campaign", "content", "term")}))
def test_every_booking_gets_exactly_one_known_channel(raw):
    ruleset = ruleset_build()
    raw = {k: v for k, v in raw.items() if v is not None}
    result = attribution_compute(raw=raw, ruleset=ruleset)
    known = {r.channel for r in ruleset.rules} | {UNASSIGNED, DIRECT}
    assert result.channel in known
    untagged = not any(utm_normalize(raw.get(k)) for k in ("source", "medium", "campaign", "content"))
    assert (result.channel == DIRECT) == untagged
    assert result == attribution_compute(raw=raw, ruleset=ruleset)


# --- self-reported ----------------------------------------------------------------------------

@pytest.mark.parametrize("question,answer,expected", [
    ("How did you hear about us?", "ChatGPT", "chatgpt"),
    ("Where did you find us?", "I asked chat.openai.com", "chatgpt"),
    ("How did you hear about Sourcebook?", "Saw a post on LinkedIn", "linkedin"),
    ("Referred by", "A friend", "a friend"),
    ("Company size?", "ChatGPT", ""),
    ("How did you hear about us?", "C++ meetup, 100% recommended", "c++ meetup, 100% recommended"),  # not URL-decoded
])
def test_self_reported_source_is_extracted_and_normalized(question, answer, expected):
    fields = booking_attribution_fields(tracking={}, questions_and_answers=[{"question": question, "answer": answer}],
                                        ruleset=ruleset_build())
    assert fields["self_reported_source"] == expected
    assert fields["channel"] == DIRECT  # what the person says never overwrites the UTM attribution


def test_only_source_aliases_name_self_reported_sources():
    """A medium alias (cpc -> paid) must not turn the answer "a paid ad" into the source "paid"."""
    Alias.objects.create(field="medium", value="cpc", canonical="paid")
    ruleset_changed()
    fields = booking_attribution_fields(tracking={}, ruleset=ruleset_build(), questions_and_answers=[
        {"question": "How did you hear about us?", "answer": "a paid ad"}])
    assert fields["self_reported_source"] == "a paid ad"
