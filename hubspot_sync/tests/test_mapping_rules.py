"""The policy rule itself (hubspot_sync.mapping.properties_mapped), over any values, mappings and HubSpot states."""

from hypothesis import given, strategies as st

from hubspot_sync.mapping import ALWAYS, IF_EMPTY, NEVER, Rule, properties_mapped, properties_to_read

FIELDS = ["a", "b", "c", "d"]
value = st.one_of(st.none(), st.just(""), st.just("  "), st.text(min_size=1, max_size=5))
rules = st.lists(st.builds(Rule, field=st.sampled_from(FIELDS), prop=st.sampled_from(["p", "q", "r", "s"]),
                           policy=st.sampled_from([ALWAYS, IF_EMPTY, NEVER]), portal_has=st.sampled_from([None, True, False])),
                 max_size=4, unique_by=(lambda r: r.field, lambda r: r.prop))


def _empty(v):
    return v is None or str(v).strip() == ""


@given(values=st.dictionaries(st.sampled_from(FIELDS), value), rules=rules,
       current=st.one_of(st.none(), st.dictionaries(st.sampled_from(["p", "q", "r", "s"]), value)))
def test_each_policy_decides_exactly_what_is_sent(values, rules, current):
    sent = properties_mapped(values, rules, current)
    for rule in rules:
        have = values.get(rule.field)
        hubspot = (current or {}).get(rule.prop)
        expected = (not _empty(have) and rule.policy != NEVER and rule.portal_has is not False
                    and (rule.policy == ALWAYS or _empty(hubspot)))
        assert (rule.prop in sent) == expected, (rule, have, hubspot)
        if expected:
            assert sent[rule.prop] == have
    assert set(sent) <= {r.prop for r in rules}
    # Only-if-empty properties are the ones read; never and missing ones are not.
    assert set(properties_to_read(rules)) == {r.prop for r in rules if r.policy == IF_EMPTY and r.portal_has is not False}
