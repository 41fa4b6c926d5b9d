"""The rules engine as a pure module (attribution/rules.py): data in, attribution out, no database.

Written against `make mutate`'s survivors: each test pins a rule a plausible slip in rules.py would break.
"""

import logging
from urllib.parse import quote

import pytest

from attribution import defaults
from attribution.patterns import pattern_compile
from attribution.rules import (
    DIRECT, MEMO_SIZE, NOT_SET, SELF_REPORTED_QUESTION_PATTERN, UNASSIGNED, Attribution, CompiledRule,
    attribution_compute, booking_attribution_fields, has_any_utm, has_attribution, rules_compile,
    rules_from_defaults, self_reported_answer, self_reported_normalize, utm_normalize, utm_raw,
)


def compile_(rules=(), aliases=(), banned=(), question_pattern="", version=3):
    return rules_compile(version=version, aliases=aliases, banned=banned, rules=rules, question_pattern=question_pattern)


def rule(channel="X", combine="all", sources=None, source_regex=None, mediums=None, medium_regex=None, campaign_regex=None):
    compile_pattern = lambda p: pattern_compile(p) if p else None  # noqa: E731
    return CompiledRule(channel=channel, combine=combine, sources=frozenset(sources) if sources is not None else None,
                        source_regex=compile_pattern(source_regex), mediums=frozenset(mediums) if mediums is not None else None,
                        medium_regex=compile_pattern(medium_regex), campaign_regex=compile_pattern(campaign_regex))


# --- normalization -------------------------------------------------------------------------------

def test_normalize_decodes_until_stable_but_at_most_ten_times():
    assert utm_normalize("a%2520b") == "a b"
    eleven = "a b"
    for _ in range(11):
        eleven = quote(eleven)
    assert utm_normalize(eleven) == "a%20b"  # ten decodes, then it stops: hostile input can't loop
    assert utm_normalize("caf%E9") == "caf\ufffd"  # undecodable bytes are replaced, never an error
    assert utm_normalize(" Spring \t Launch ") == "spring launch"
    assert utm_normalize(2026) == "2026" and utm_normalize(None) == ""


# --- compiled rules -----------------------------------------------------------------------------

def test_a_rule_matches_by_value_or_pattern_per_field():
    assert rule(sources={"google"}).matches("google", "cpc", "")
    assert not rule(sources={"google"}).matches("bing", "cpc", "")
    assert rule(source_regex="^goo").matches("google", "", "")
    assert rule(sources={"bing"}, source_regex="^goo").matches("google", "", "")  # either one of them
    assert rule(mediums={"cpc"}).matches("x", "cpc", "") and not rule(mediums={"cpc"}).matches("x", "ppc", "")
    assert rule(medium_regex="^pp").matches("x", "ppc", "")
    assert rule(mediums={"cpc"}, medium_regex="^pp").matches("x", "ppc", "")
    assert rule(campaign_regex="spring").matches("x", "y", "spring_2026")
    assert not rule(campaign_regex="spring").matches("x", "y", "autumn")
    assert not rule().matches("google", "cpc", "spring")  # a rule without conditions matches nothing


def test_all_needs_every_condition_any_needs_one():
    both = dict(sources={"google"}, mediums={"cpc"}, campaign_regex="brand")
    assert rule(combine="all", **both).matches("google", "cpc", "brand")
    assert not rule(combine="all", **both).matches("google", "cpc", "other")
    assert not rule(combine="all", **both).matches("bing", "cpc", "brand")
    assert rule(combine="any", **both).matches("bing", "organic", "brand")
    assert rule(combine="any", **both).matches("google", "organic", "other")
    assert not rule(combine="any", **both).matches("bing", "organic", "other")


def test_compile_normalizes_values_and_keeps_the_rule_order():
    ruleset = compile_(
        rules=[{"channel": "Paid", "combine": None, "source_values": [" Google "], "medium_values": ["CPC"]},
               {"channel": "Later", "combine": "any", "source_values": ["google"], "source_regex": "",
                "medium_regex": "^x", "campaign_regex": "c"}],
        aliases=[("source", " FB ", " Facebook "), ("medium", "Social", "social-network")],
        banned=[" Website "], version=7)
    first, second = ruleset.rules
    assert (first.channel, first.combine, first.sources, first.mediums) == ("Paid", "all", frozenset({"google"}), frozenset({"cpc"}))
    assert first.source_regex is None and first.medium_regex is None and first.campaign_regex is None
    assert (second.channel, second.combine, second.sources, second.mediums) == ("Later", "any", frozenset({"google"}), None)
    assert second.medium_regex == pattern_compile("^x") and second.campaign_regex == pattern_compile("c")
    assert ruleset.aliases == {("source", "fb"): "facebook", ("medium", "social"): "social-network"}
    assert ruleset.banned == frozenset({"website"}) and ruleset.version == 7
    assert ruleset.alias("source", "fb") == "facebook" and ruleset.alias("source", "bing") == "bing"
    assert ruleset.alias("medium", "fb") == "fb"


def test_compile_without_values_leaves_the_field_unchecked():
    [only] = compile_(rules=[{"channel": "R", "source_values": [], "medium_values": [], "source_regex": "^a"}]).rules
    assert only.sources is None and only.mediums is None and only.source_regex == pattern_compile("^a")


def test_known_sources_are_rule_values_and_source_alias_targets_longest_first():
    ruleset = compile_(rules=[{"channel": "A", "source_values": ["ai", "meta-ai", "(direct)"]},
                              {"channel": "B", "source_values": ["chatgpt"]}],
                       aliases=[("source", "openai", "chatgpt-plus"), ("medium", "cpc", "paid-search-medium")])
    assert ruleset.known_sources[0] == "chatgpt-plus"
    assert set(ruleset.known_sources) == {"ai", "meta-ai", "chatgpt", "chatgpt-plus"}  # never (direct), never a medium
    assert [len(s) for s in ruleset.known_sources] == sorted((len(s) for s in ruleset.known_sources), reverse=True)


def test_a_rule_whose_pattern_re2_cant_run_is_skipped_and_logged(caplog):
    with caplog.at_level(logging.ERROR, logger="sourcebook.attribution"):
        ruleset = compile_(rules=[{"id": 41, "channel": "Bad", "source_regex": "(a)\\1"},
                                  {"id": 42, "channel": "Good", "source_values": ["x"]}])
    assert [r.channel for r in ruleset.rules] == ["Good"]
    assert "channel rule 41 skipped: invalid regex" in caplog.text


def test_the_question_pattern_is_case_insensitive_and_can_be_replaced():
    default = compile_()
    assert default.question_pattern.search("HOW DID YOU HEAR ABOUT US?")
    assert default.question_pattern.pattern == SELF_REPORTED_QUESTION_PATTERN
    custom = compile_(question_pattern="wie hast du")
    assert custom.question_pattern.search("Wie hast du uns gefunden?")
    assert not custom.question_pattern.search("How did you hear about us?")


def test_the_defaults_compile_in_memory_with_brand_names_banned():
    ruleset = rules_from_defaults(brand_names=["acme"], question_pattern="which channel")
    assert ruleset.version == 0
    assert [r.channel for r in ruleset.rules] == [channel for channel, _, _ in defaults.CHANNEL_RULES]
    assert ruleset.banned == frozenset([*defaults.BANNED_VALUES, "acme"])
    assert ruleset.alias("source", "lnkd.in") == "linkedin" and ruleset.alias("source", "bard") == "gemini"
    assert ruleset.question_pattern.search("Which channel brought you?")
    ai = next(r for r in ruleset.rules if r.channel == "AI Assistants")
    assert ai.sources == frozenset(defaults.SOURCE_CATEGORIES["ai"]) and ai.combine == "all"
    social = next(r for r in ruleset.rules if r.channel == "Organic Social")
    assert social.combine == "any" and "linkedin" in social.sources and "social media" in social.mediums
    email = next(r for r in ruleset.rules if r.channel == "Email")
    assert "newsletter" in email.sources  # source_values and a category's sources are merged
    assert attribution_compute(raw={"source": "google", "medium": "cpc"}, ruleset=ruleset).channel == "Paid Search"
    assert attribution_compute(raw={"source": "acme", "medium": "cpc"}, ruleset=ruleset).channel == UNASSIGNED
    assert rules_from_defaults().question_pattern.pattern == SELF_REPORTED_QUESTION_PATTERN
    assert rules_from_defaults().banned == frozenset(defaults.BANNED_VALUES)


# --- attribution --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def defaults_ruleset():
    return rules_from_defaults()


def test_utm_raw_keeps_the_five_values_as_received_capped():
    assert utm_raw(None) == {} and utm_raw({}) == {}
    tracking = {"utm_source": " Google ", "utm_medium": "", "utm_campaign": None, "utm_content": 7,
                "utm_term": "t" * 600, "salesforce_uuid": "x"}
    assert utm_raw(tracking) == {"source": " Google ", "content": "7", "term": "t" * 500}


def test_as_fields_names_every_column():
    fields = Attribution("s", "m", "c", "co", "t", "ch", visitor_id="v", flags=("a", "b")).as_fields()
    assert fields == {"source": "s", "medium": "m", "campaign": "c", "content": "co", "term": "t", "channel": "ch",
                      "visitor_id": "v", "attribution_flags": ["a", "b"]}


def test_classification_flags_what_was_cleaned_up(defaults_ruleset):
    result = attribution_compute(raw={"source": " LinkedIn", "medium": "Paid", "campaign": "Spring"}, ruleset=defaults_ruleset)
    assert (result.source, result.medium, result.campaign, result.channel) == ("linkedin", "paid", "spring", "Paid Social")
    assert result.flags == ("not_normalized:source", "not_normalized:medium", "not_normalized:campaign")
    aliased = attribution_compute(raw={"source": "lnkd.in", "medium": "cpc"}, ruleset=defaults_ruleset)
    assert aliased.source == "linkedin" and aliased.flags == ("alias:source",)
    clean = attribution_compute(raw={"source": "google", "medium": "cpc", "content": "Ad 1", "term": "Kw"}, ruleset=defaults_ruleset)
    assert clean.flags == () and (clean.content, clean.term) == ("ad 1", "kw")


def test_medium_and_campaign_aliases_apply_too():
    ruleset = compile_(aliases=[("medium", "ppc", "cpc"), ("campaign", "spring", "spring_2026")],
                       rules=[{"channel": "Paid", "medium_values": ["cpc"], "campaign_regex": "_2026$"}])
    result = attribution_compute(raw={"source": "bing", "medium": "ppc", "campaign": "spring"}, ruleset=ruleset)
    assert (result.medium, result.campaign, result.channel) == ("cpc", "spring_2026", "Paid")
    assert result.flags == ("alias:medium", "alias:campaign")


def test_untagged_keeps_the_term_as_visitor_id(defaults_ruleset):
    result = attribution_compute(raw={"term": "  v-" + "9" * 300}, ruleset=defaults_ruleset)
    assert (result.source, result.medium, result.campaign, result.content, result.term, result.channel) == \
           ("(direct)", "(none)", NOT_SET, "", "", DIRECT)
    assert result.visitor_id == ("v-" + "9" * 300)[:255] and result.flags == ()
    assert attribution_compute(raw={}, ruleset=defaults_ruleset).visitor_id == ""
    assert attribution_compute(raw={"content": "banner"}, ruleset=defaults_ruleset).channel == UNASSIGNED


def test_missing_values_read_not_set_and_a_lone_medium_is_flagged(defaults_ruleset):
    result = attribution_compute(raw={"medium": "email"}, ruleset=defaults_ruleset)
    assert (result.source, result.medium, result.campaign, result.channel) == (NOT_SET, "email", NOT_SET, "Email")
    assert result.flags == ("medium_without_source",)
    only_source = attribution_compute(raw={"source": "newsletter"}, ruleset=defaults_ruleset)
    assert (only_source.medium, only_source.channel, only_source.flags) == (NOT_SET, "Email", ())
    only_campaign = attribution_compute(raw={"campaign": "launch"}, ruleset=defaults_ruleset)
    assert (only_campaign.source, only_campaign.medium, only_campaign.flags) == (NOT_SET, NOT_SET, ())


@pytest.mark.parametrize("name", ["source", "medium", "campaign"])
def test_a_banned_value_in_any_field_is_unassigned_and_flagged(name):
    ruleset = compile_(rules=[{"channel": "Everything", "source_regex": ".*"}], banned=["test"])
    raw = {"source": "google", "medium": "cpc", "campaign": "spring", name: "test"}
    result = attribution_compute(raw=raw, ruleset=ruleset)
    assert result.channel == UNASSIGNED and result.flags == (f"banned:{name}",)
    assert attribution_compute(raw={"source": "google"}, ruleset=ruleset).channel == "Everything"


def test_a_tagged_booking_is_never_direct_and_unmatched_is_unassigned():
    ruleset = compile_(rules=[{"channel": DIRECT, "source_values": ["(direct)", "typed"]}])
    assert attribution_compute(raw={"source": "typed"}, ruleset=ruleset).channel == UNASSIGNED
    assert attribution_compute(raw={"source": "other"}, ruleset=ruleset).channel == UNASSIGNED
    first_wins = compile_(rules=[{"channel": "One", "source_values": ["a"]}, {"channel": "Two", "source_values": ["a"]}])
    assert attribution_compute(raw={"source": "a"}, ruleset=first_wins).channel == "One"


def test_every_value_is_capped_to_its_column(defaults_ruleset):
    long = {name: name[0] * 400 for name in ("source", "medium", "campaign", "content", "term")}
    result = attribution_compute(raw=long, ruleset=defaults_ruleset)
    assert [len(v) for v in (result.source, result.medium, result.campaign, result.content, result.term)] == [255] * 5


def test_classifications_are_remembered_per_ruleset_and_the_memo_is_bounded():
    ruleset = compile_(rules=[{"channel": "A", "source_values": ["a"]}])
    first = attribution_compute(raw={"source": "a", "medium": "m"}, ruleset=ruleset)
    assert attribution_compute(raw={"medium": "m", "source": "a"}, ruleset=ruleset) is first  # key ignores dict order
    assert list(ruleset.memo) == [(("medium", "m"), ("source", "a"))]
    ruleset.memo.update({("filler", i): None for i in range(MEMO_SIZE - 1)})
    assert len(ruleset.memo) == MEMO_SIZE
    attribution_compute(raw={"source": "b"}, ruleset=ruleset)
    assert list(ruleset.memo) == [(("source", "b"),)]  # cleared when full, then the new one kept


# --- self-reported --------------------------------------------------------------------------

def test_the_answer_to_the_first_matching_question_is_taken(defaults_ruleset):
    qa = [{"question": None, "answer": "no"}, {"question": "Company size?", "answer": "10"},
          {"question": "How did you hear about us?", "answer": "  " + "x" * 600}, {"question": "Referred by", "answer": "Bo"}]
    assert self_reported_answer(qa, defaults_ruleset) == "x" * 500
    assert self_reported_answer([{"question": "Referred by", "answer": None}], defaults_ruleset) == ""
    assert self_reported_answer(None, defaults_ruleset) == "" and self_reported_answer([], defaults_ruleset) == ""
    assert self_reported_answer([{"question": "Company size?", "answer": "ChatGPT"}], defaults_ruleset) == ""


@pytest.mark.parametrize("answer, expected", [
    ("", ""), (None, ""), ("   ", ""),
    ("  Chat.OpenAI.com ", "chatgpt"),  # the whole answer is a source alias
    ("Meta-AI", "meta-ai"),  # the whole answer is a known source
    ("I asked ChatGPT, then perplexity", "perplexity"),  # the longest known source among its words first
    ("a colleague on lnkd.in", "linkedin"),  # a word that is a source alias
    ("my friend   Bob", "my friend bob"),  # unknown: kept, normalized
    ("you.com said so", "you.com"),
    ("n", "n"),
])
def test_self_reported_answers_are_normalized(defaults_ruleset, answer, expected):
    assert self_reported_normalize(answer, defaults_ruleset) == expected


def test_an_unknown_long_answer_is_capped():
    assert self_reported_normalize("z" * 300, compile_()) == "z" * 255


def test_known_sources_are_tried_longest_first():
    ruleset = compile_(rules=[{"channel": "A", "source_values": ["meta", "meta-ai"]}])
    assert self_reported_normalize("meta meta-ai", ruleset) == "meta-ai"


# --- booking fields -----------------------------------------------------------------------------

def test_utm_presence_checks():
    assert not has_any_utm(None) and not has_attribution(None)
    assert has_any_utm({"utm_term": "v1"}) and not has_attribution({"utm_term": "v1"})
    assert has_attribution({"utm_content": "c"}) and has_any_utm({"utm_content": "c"})
    assert not has_any_utm({"utm_source": ""}) and not has_attribution({"gclid": "x"})


def test_booking_attribution_fields_are_every_column():
    ruleset = compile_(rules=[{"channel": "News", "source_values": ["newsletter"]}], version=9)
    fields = booking_attribution_fields(tracking={"utm_source": "Newsletter", "utm_term": "k"},
                                        questions_and_answers=[{"question": "How did you hear about us?", "answer": "Newsletter"}],
                                        ruleset=ruleset)
    assert fields == {"source": "newsletter", "medium": NOT_SET, "campaign": NOT_SET, "content": "", "term": "k",
                      "channel": "News", "visitor_id": "", "attribution_flags": ["not_normalized:source"],
                      "utm_raw": {"source": "Newsletter", "term": "k"}, "self_reported_raw": "Newsletter",
                      "self_reported_source": "newsletter", "rules_version": 9}


def test_a_default_rule_merges_its_values_with_its_category_and_errors_name_it(monkeypatch, caplog):
    monkeypatch.setattr(defaults, "CHANNEL_RULES", [
        ("Mixed", "any", {"source_values": ["own"], "source_category": "video", "note": "both kinds of sources"}),
        ("Broken", "all", {"source_regex": "(a)\\1"}),
    ])
    with caplog.at_level(logging.ERROR, logger="sourcebook.attribution"):
        ruleset = rules_from_defaults()
    [mixed] = ruleset.rules
    assert mixed.sources == frozenset({"own", *defaults.SOURCE_CATEGORIES["video"]}) and mixed.combine == "any"
    assert "channel rule default-2 skipped" in caplog.text  # numbered from 1, in evaluation order


def test_a_self_reported_answer_goes_through_the_source_aliases_whole_or_word_by_word():
    ruleset = compile_(aliases=[("source", "lnkd", "linkedin"), ("source", "hacker news", "ycombinator")])
    assert self_reported_normalize("LNKD", ruleset) == "linkedin"
    assert self_reported_normalize("Hacker  News", ruleset) == "ycombinator"  # a two-word alias, as a whole


def test_a_visitor_id_outside_the_utms_is_still_the_bookings_visitor():
    """A link that keeps our `sbv_` id in another tracking field (salesforce_uuid) while its UTMs are real."""
    visitor = "sbv_" + "A" * 22
    fields = booking_attribution_fields(tracking={"utm_source": "google", "utm_medium": "cpc", "salesforce_uuid": visitor},
                                        questions_and_answers=[], ruleset=compile_())
    assert fields["visitor_id"] == visitor and fields["source"] == "google"
