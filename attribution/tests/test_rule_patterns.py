"""Admin-edited rule regexes run on RE2: linear time on hostile input, refused at save if RE2 can't run them."""

import contextlib
import re
import signal

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from attribution import defaults
from attribution.models import ChannelRule
from attribution.patterns import MAX_INPUT_LENGTH, PatternError, pattern_compile
from attribution.rules import UNASSIGNED, utm_normalize
from attribution.ruleset import ruleset_changed
from bookings.models import Booking
from bookings.samples import invitee_payload
from bookings.tests.factories import staff_user

pytestmark = pytest.mark.django_db

CATASTROPHIC = r"^(a+)+$"


@contextlib.contextmanager
def hang_guard(seconds: float):
    """Fail instead of hanging the suite if something backtracks for ever (SIGALRM interrupts `re`)."""

    def expire(*_):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_a_backtracking_rule_and_a_hostile_utm_value_still_make_the_booking(post_signed):
    ChannelRule.objects.create(position=1, channel="Hostile", medium_regex=CATASTROPHIC)
    ruleset_changed()
    hostile = invitee_payload(invitee_id="HOSTILE", tracking={"utm_source": "zine", "utm_medium": "a" * 30 + "!"})
    benign = invitee_payload(invitee_id="BENIGN", tracking={"utm_source": "zine", "utm_medium": "a" * 30})
    with hang_guard(5):
        assert post_signed(hostile).status_code == 200
        assert post_signed(benign).status_code == 200
    assert Booking.objects.get(invitee_uri__endswith="/HOSTILE").channel == UNASSIGNED
    assert Booking.objects.get(invitee_uri__endswith="/BENIGN").channel == "Hostile"  # the rule still matches


@pytest.fixture
def marketing_client(client):
    user = staff_user("marketer", "add_channelrule", "change_channelrule", "view_channelrule")
    client.force_login(user)
    return client


def rule_form(**overrides):
    return {"position": "5", "channel": "Partners", "enabled": "on", "combine": "all", "note": "", "source_category": "",
            "source_values": "", "source_regex": "", "medium_values": "", "medium_regex": "", "campaign_regex": "",
            **overrides}


@pytest.mark.parametrize("pattern", [r"(a)\1", r"^(?=paid).*$", r"(?<!x)cpc", "(unclosed", "x" * 300])
def test_the_admin_refuses_a_pattern_re2_cant_run(marketing_client, pattern):
    before = ChannelRule.objects.count()
    response = marketing_client.post("/admin/attribution/channelrule/add/", rule_form(medium_regex=pattern))
    assert response.status_code == 200  # the form again, with the error
    assert response.context["adminform"].form.errors["medium_regex"]
    assert ChannelRule.objects.count() == before


def test_the_admin_saves_a_pattern_re2_runs(marketing_client):
    response = marketing_client.post("/admin/attribution/channelrule/add/", rule_form(campaign_regex=r"^partner_\d{6}$"))
    assert response.status_code == 302
    assert ChannelRule.objects.filter(channel="Partners", campaign_regex=r"^partner_\d{6}$").exists()


def test_a_rule_saved_before_re2_that_it_cant_run_is_skipped_not_fatal(post_signed):
    ChannelRule.objects.create(position=1, channel="Lookahead", medium_regex=r"^(?=cpc)")  # bypasses form validation
    ruleset_changed()
    assert post_signed(invitee_payload(tracking={"utm_source": "google", "utm_medium": "cpc"})).status_code == 200
    assert Booking.objects.get().channel == "Paid Search"


def test_patterns_cap_their_length_and_their_input():
    with pytest.raises(PatternError):
        pattern_compile("a" * 256)
    tail = pattern_compile("b$")
    assert not tail.search("a" * MAX_INPUT_LENGTH + "b")  # past the cap is never looked at
    assert tail.search("a" * (MAX_INPUT_LENGTH - 1) + "b")
    assert pattern_compile("x").search("\ud800x")  # a lone surrogate can't crash the matcher


DEFAULT_PATTERNS = sorted({c[k] for _, _, c in defaults.CHANNEL_RULES for k in c if k.endswith("_regex")})


@hsettings(max_examples=300, deadline=None)
@given(pattern=st.sampled_from(DEFAULT_PATTERNS),
       value=st.one_of(st.text(), st.text(alphabet="acdeiopprtgv- _.", max_size=20),
                       st.sampled_from(["cpc", "ppc", "paid", "paid_social", "retargeting", "video", "youtube-video",
                                        "CPC ", "Paid%20Social", "cpm", "display"])))
def test_re2_and_re_agree_on_the_default_rules(pattern, value):
    medium = utm_normalize(value)  # rules only ever see normalized values
    assert pattern_compile(pattern).search(medium) == bool(re.search(pattern, medium))


@hsettings(max_examples=300, deadline=None)
@given(question=st.one_of(st.text(), st.sampled_from([
    "How did you hear about us?", "WHERE DO YOU FIND new tools?", "Referred by (name)", "Anything else?",
    "how did you learn about Sourcebook", "Did you hear about us from a friend?"])))
def test_re2_and_re_agree_on_the_self_reported_question_pattern(question):
    pattern = defaults.SELF_REPORTED_QUESTION_PATTERN
    assert pattern_compile(pattern, ignore_case=True).search(question) == bool(re.search(pattern, question, re.IGNORECASE))
