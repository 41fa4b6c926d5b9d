"""Choosing values from lists (pure rules): a typed channel name finds its channel whatever its case and spacing,
a typo is told its close match, a chosen channel gets a medium the rules really put there, and spellings of one
value share a key."""

from hypothesis import given, strategies as st

from attribution.rules import (DIRECT, UNASSIGNED, attribution_compute, channel_lookup, medium_for_channel,
                               rules_from_defaults, ruleset_channels, spelling_key)

RULES = rules_from_defaults(brand_names=["sourcebook"])
CHANNELS = ruleset_channels(RULES)
SOURCES = sorted(RULES.known_sources)


def test_the_rules_channels_are_the_defaults_in_order_then_unassigned():
    assert CHANNELS[0] == DIRECT and CHANNELS[-1] == UNASSIGNED
    assert {"Referral", "Paid Social", "Organic Social", "Email"} <= set(CHANNELS) and len(CHANNELS) == len(set(CHANNELS))


@given(channel=st.sampled_from(CHANNELS), upper=st.lists(st.booleans(), min_size=30, max_size=30),
       pad=st.sampled_from(["", " ", "  ", "\t"]))
def test_a_known_channel_is_found_whatever_its_case_and_spacing(channel, upper, pad):
    typed = pad + "  ".join("".join(c.upper() if u else c.lower() for c, u in zip(word, upper)) for word in channel.split()) + pad
    assert channel_lookup(typed, CHANNELS) == (channel, [])


@given(channel=st.sampled_from([c for c in CHANNELS if len(c) >= 5]), at=st.integers(1, 3))
def test_a_one_letter_typo_is_not_a_channel_but_suggests_it(channel, at):
    typo = channel[:at] + channel[at + 1:]  # "Referral" → "Rferral"
    found, close = channel_lookup(typo, CHANNELS)
    assert found is None and channel in close


def test_referal_suggests_referral_and_a_new_name_suggests_nothing():
    assert channel_lookup("referal", CHANNELS) == (None, ["Referral"])
    assert channel_lookup("Partners", CHANNELS) == (None, [])


@given(source=st.sampled_from(SOURCES), channel=st.sampled_from(CHANNELS))
def test_a_medium_picked_for_a_channel_really_lands_there(source, channel):
    medium = medium_for_channel(source=source, channel=channel, ruleset=RULES)
    if medium is not None:
        raw = {"source": source, **({"medium": medium} if medium else {})}
        assert attribution_compute(raw=raw, ruleset=RULES).channel == channel
    if channel == DIRECT:
        assert medium is None  # a tagged booking is never Direct


def test_the_mediums_real_links_used_come_first():
    assert medium_for_channel(source="linkedin", channel="Paid Social", ruleset=RULES, candidates=["paid_social"]) == "paid_social"
    assert medium_for_channel(source="linkedin", channel="Paid Social", ruleset=RULES) == "cpc"
    assert medium_for_channel(source="linkedin", channel="Organic Social", ruleset=RULES) == ""  # its source says it


@given(value=st.sampled_from(["linkedin", "newsletter", "saas-weekly", "g2"]),
       variant=st.sampled_from(["{}", "www.{}.com", "{}.io", "m.{}", "{}  ", "{}"]))
def test_spellings_of_one_value_share_a_key(value, variant):
    spelled = variant.format(value.replace("-", "_").upper() if "-" in value else value.upper())
    assert spelling_key(spelled) == spelling_key(value)


def test_different_values_keep_different_keys():
    keys = [spelling_key(v) for v in ("linkedin", "lnkd.in", "google", "google ads", "bing", "(direct)")]
    assert len(set(keys[:3])) == 3 and spelling_key("google ads") == "googleads"


# --- the forms that use them ----------------------------------------------------------------------

from attribution.forms import AssignForm, BacklogFilterForm, RuleForm  # noqa: E402


def assign(**data):
    form = AssignForm(data, ruleset=RULES, mediums=lambda source: {"linkedin": ["paid_social", "social"]}.get(source, []))
    return form, form.is_valid()


def test_an_assignment_is_normalized_like_a_utm_and_lands_where_the_rules_say():
    form, ok = assign(source="  NewsLetter ", medium="E-Mail")
    assert ok and (form.cleaned_data["source"], form.cleaned_data["medium"]) == ("newsletter", "e-mail")
    assert form.cleaned_data["result_channel"] == "Email"
    assert AssignForm.manual_utm(form.cleaned_data) == {"utm_source": "newsletter", "utm_medium": "e-mail"}


def test_a_chosen_channel_takes_the_medium_real_links_used():
    form, ok = assign(source="linkedin", channel="paid social")
    assert ok and (form.cleaned_data["channel"], form.cleaned_data["medium"]) == ("Paid Social", "paid_social")
    assert form.cleaned_data["result_channel"] == "Paid Social"


def test_the_brand_is_refused():
    form, ok = assign(source="Sourcebook")
    assert not ok and "placeholder or our own brand" in form.errors["source"][0]


def test_a_rule_channel_is_a_known_one_or_ticked_new():
    assert RuleForm({"channel": "REFERRAL", "source": "g2"}, channels=CHANNELS).is_valid()
    typo = RuleForm({"channel": "Referal", "source": "g2"}, channels=CHANNELS)
    assert not typo.is_valid() and "Did you mean “Referral”?" in typo.errors["channel"][0]
    assert not RuleForm({"channel": "Partners", "source": "g2"}, channels=CHANNELS).is_valid()
    new = RuleForm({"channel": " Partners  Program", "source": "g2", "new_channel": "1"}, channels=CHANNELS)
    assert new.is_valid() and new.cleaned_data["channel"] == "Partners Program"


@given(month=st.text(max_size=12))
def test_a_month_filter_is_a_month_or_an_error(month):
    form = BacklogFilterForm({"month": month})
    form.is_valid()
    if form.value("month"):
        year, mon = (int(p) for p in form.value("month").split("-"))
        assert 1900 <= year <= 2100 and 1 <= mon <= 12
    elif month.strip():
        assert form.errors["month"]


def test_a_channel_that_needs_a_campaign_is_reached_with_it_and_not_without():
    """Paid Shopping is a paid medium with a shopping campaign (GA4's rule): the campaign being assigned counts."""
    medium = medium_for_channel(source="google", channel="Paid Shopping", campaign="spring_shop", ruleset=RULES)
    assert medium
    raw = {"source": "google", "medium": medium, "campaign": "spring_shop"}
    assert attribution_compute(raw=raw, ruleset=RULES).channel == "Paid Shopping"
    assert medium_for_channel(source="google", channel="Paid Shopping", ruleset=RULES) is None


def test_a_typo_suggests_at_most_three_channels_closest_first():
    known = ["Partner A", "Partner B", "Partner C", "Partner D", "Referral"]
    found, close = channel_lookup("Partner", known)
    assert found is None and len(close) == 3 and set(close) <= set(known[:4])
