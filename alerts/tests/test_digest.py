"""The weekly digest's numbers: the report API's for the same week, the week before beside them, money per
currency, the backlog and new hygiene findings; and what the e-mail, Slack and the dry run show of them."""

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import transaction
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from alerts.digest import Change, digest_build, last_full_week, week_of
from alerts.digest_render import change_label, render_html, render_markdown, render_text
from alerts.models import Notification
from alerts.services.digest import digest_due
from bookings.tests.factories import BookingFactory
from hubspot_sync.models import Deal, DealContact, DealSyncState
from hubspot_sync.services.deal_credit import deals_credit

pytestmark = pytest.mark.django_db
URL = "/api/reports/breakdown/"
WEEK = week_of(date(2026, 5, 6))  # Monday 4 May – Sunday 10 May 2026 (UTC: the test settings' time zone)
MON = datetime(2026, 5, 4, tzinfo=timezone.utc)
PAST = datetime(2026, 5, 1, tzinfo=timezone.utc)  # meetings already held


def book(channel, when, *, campaign="(not set)", source=None, medium="cpc", **extra):
    return BookingFactory(channel=channel, source=source or channel.lower().replace(" ", "-"), medium=medium,
                          campaign=campaign, booked_at=when, start_time=extra.pop("start_time", PAST), **extra)


def deal(email, *, created, amount, currency="USD", won=False):
    d = Deal.objects.create(hubspot_id=f"D{Deal.objects.count() + 1}", amount=Decimal(amount), currency=currency,
                            closed_won=won, created_at=created)
    DealContact.objects.create(deal=d, hubspot_contact_id=f"C-{email}", email=email)
    deals_credit(deal_ids=[d.pk])
    return d


@pytest.fixture
def api(login_as):
    return login_as("analyst", group="Marketing")


def report(api, **params):
    response = api.get(URL, params)
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def a_week():
    """Bookings in the week, the week before and just outside; held, no-shows, canceled; deals in one currency."""
    h = timedelta(hours=1)
    for i in range(3):
        book("Paid Search", MON + i * h, campaign="brand_search")
    book("Paid Search", MON + 6 * timedelta(days=1) + 23 * h + timedelta(minutes=59), campaign="competitor")  # Sun 23:59
    book("Paid Social", MON + 2 * h, campaign="spring_launch", no_show=True)
    book("Paid Social", MON + 3 * h, campaign="spring_launch", status="canceled")
    book("Paid Social", MON + 4 * h, campaign="spring_launch", start_time=datetime.now(timezone.utc) + timedelta(days=3))
    book("Email", MON + 5 * h, campaign="newsletter", email="buyer@example.com")
    book("Direct", MON + 6 * h, source="(direct)", medium="(none)")
    for c in ("c1", "c2", "c3", "c4", "c5", "c6"):
        book("Referral", MON + 7 * h, campaign=c)
    # the week before (and its last minute), and the week after's first minute
    book("Paid Search", MON - timedelta(minutes=1), campaign="brand_search")
    book("Direct", MON - timedelta(days=40), source="(direct)", medium="(none)", event_type_name="Intro call")
    for _ in range(4):
        book("Organic Search", MON - timedelta(days=3), medium="organic")
    book("Paid Search", MON + timedelta(days=7), campaign="brand_search")
    deal("buyer@example.com", created=MON + timedelta(days=2), amount="1200", won=True)
    deal("buyer@example.com", created=MON + timedelta(days=3), amount="300")


def test_the_digest_numbers_are_the_report_apis_for_the_same_week(api, a_week):
    d = digest_build(WEEK)
    params = {"booked_after": "2026-05-04", "booked_before": "2026-05-11"}
    body = report(api, group_by="channel", **params)
    assert {r.name: r.change.now for r in d.channels if r.change.now} == {r["channel"]: r["bookings"] for r in body["rows"]}
    assert d.bookings.now == body["total"] == 15
    assert d.no_show == sum(r["no_show"] for r in body["rows"]) == 1
    assert d.canceled == sum(r["canceled"] for r in body["rows"]) == 1
    before = report(api, group_by="channel", booked_after="2026-04-27", booked_before="2026-05-04")
    assert {r.name: r.change.before for r in d.channels if r.change.before} == {
        r["channel"]: r["bookings"] for r in before["rows"]}
    assert d.bookings.before == before["total"] == 5
    campaigns = report(api, group_by="campaign", **params)["rows"]
    named = [(r["campaign"], r["bookings"]) for r in campaigns if r["campaign"] != "(not set)"][:5]
    assert [(r.name, r.change.now) for r in d.campaigns] == named
    assert d.campaigns[0].name == "brand_search" and d.campaigns[0].change == Change(3, 1)
    assert d.held == report(api, group_by="channel", metric="held", **params)["total"] == 12
    pipeline = report(api, group_by="channel", metric="pipeline", **params)
    revenue = report(api, group_by="channel", metric="revenue", **params)
    assert (str(d.money.pipeline), str(d.money.revenue)) == (
        f"{pipeline['currency']} {Decimal(pipeline['total']):,.2f}", f"{revenue['currency']} {Decimal(revenue['total']):,.2f}")
    assert (d.money.deals, d.money.won) == (report(api, metric="deals", **params)["total"], 1)
    assert str(d.money.pipeline) == "USD 1,500.00"


def test_week_over_week_change_and_its_labels(a_week):
    d = digest_build(WEEK)
    rows = {r.name: r.change for r in d.channels}
    assert rows["Paid Search"] == Change(4, 1) and rows["Organic Search"] == Change(0, 4)  # kept, at 0 now
    assert [change_label(c) for c in (Change(4, 1), Change(0, 4), Change(3, 0), Change(2, 2))] == [
        "+3 (+300%)", "−4 (−100%)", "+3 (new)", "±0"]
    assert "Paid Search: 4 (week before 1, +3 (+300%))" in render_text(d)
    assert d.backlog_size == 2 and d.backlog_added == 1  # up to the week's end: the older one and this week's
    assert d.oldest_untagged == date(2026, 3, 25) and d.oldest_untagged_event_type == "Intro call"


def test_an_empty_week_says_so_in_every_format():
    d = digest_build(WEEK)
    assert (d.bookings, d.channels, d.campaigns, d.held, d.money, d.findings) == (Change(0, 0), [], [], 0, None, [])
    text = render_text(d)
    assert "No bookings." in text and "No booking came from a named campaign." in text and "No HubSpot deals" in text
    assert "No bookings this week." in render_html(d) and "No bookings." in render_markdown(d)


def test_mixed_currencies_are_shown_per_currency_never_summed(a_week):
    book("Email", MON + timedelta(days=1), email="euro@example.com")
    deal("euro@example.com", created=MON + timedelta(days=2), amount="200", currency="EUR", won=True)
    DealSyncState.objects.create(company_currency="USD", exchange_rates={})
    d = digest_build(WEEK)
    assert d.money.mixed and str(d.money.pipeline) == "EUR 200.00 + USD 1,500.00"
    for body in (render_text(d), render_html(d)):
        assert "EUR 200.00 + USD 1,500.00" in body and "never summed" in body
    assert "1,700" not in render_text(d)
    DealSyncState.objects.update(exchange_rates={"EUR": "1.10"})  # HubSpot's rates: one company-currency amount
    d = digest_build(WEEK)
    assert not d.money.mixed and str(d.money.revenue) == "USD 1,420.00"


def test_new_hygiene_findings_are_those_the_week_brought(a_week):
    book("Unassigned", MON - timedelta(days=10), source="oldsrc", medium="weird")  # seen before: not new
    book("Unassigned", MON + timedelta(days=2), source="oldsrc", medium="weird")
    book("Unassigned", MON + timedelta(days=2), source="newsrc", medium="strange")
    book("Paid Social", MON - timedelta(days=10), source="linkedin", medium="paid_social")
    book("Paid Social", MON + timedelta(days=1), source="linked-in", medium="paid_social")  # a new spelling
    book("Unassigned", MON + timedelta(days=3), source="website", medium="banner", campaign="x")  # a banned value
    findings = {(f.kind, f.label): f.bookings for f in digest_build(WEEK).findings}
    assert findings == {("unassigned", "source=newsrc / medium=strange"): 1,
                        ("unassigned", "source=website / medium=banner"): 1,
                        ("banned", "source=website / medium=banner / campaign=x"): 1,
                        ("collision", "source: linked-in / linkedin"): 1}
    assert digest_build(week_of(date(2026, 5, 13))).findings == []  # the week after: nothing new


def test_last_full_week_is_the_monday_to_sunday_before(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    # Monday 00:30 in Berlin is still Sunday in UTC: the week that just ended is the last full one.
    assert last_full_week(datetime(2026, 5, 10, 22, 30, tzinfo=timezone.utc)).start == date(2026, 5, 4)
    assert last_full_week(datetime(2026, 5, 10, 21, 30, tzinfo=timezone.utc)).start == date(2026, 4, 27)
    assert week_of(date(2026, 5, 10)) == week_of(date(2026, 5, 4)) and WEEK.last == date(2026, 5, 10)


def test_the_dry_run_prints_the_week_and_records_nothing(a_week, destination, webhook_receiver):
    destination("hook")
    out = StringIO()
    call_command("send_digest", "--dry-run", "--week", "2026-05-06", stdout=out)
    text = out.getvalue()
    assert text.startswith("Sourcebook weekly digest, 4 May 2026 – 10 May 2026: 15 bookings, +10 (+200%)")
    assert "brand_search: 3" in text and "Held so far: 12" in text and "USD 1,500.00" in text
    assert Notification.objects.count() == 0 and webhook_receiver.received == []


def test_send_digest_queues_once_per_destination_and_week(a_week, destination):
    hook = destination("hook")
    destination("ops only", digest=False)
    out = StringIO()
    call_command("send_digest", "--week", "2026-05-04", stdout=out)
    assert "queued the digest of 4 May 2026 – 10 May 2026 for hook" in out.getvalue()
    [row] = Notification.objects.all()
    assert (row.destination, row.topic, row.key) == (hook, "digest", "digest:2026-05-04")
    out = StringIO()
    call_command("send_digest", "--week", "2026-05-10", "--to", "hook", stdout=out)
    assert "hook already has the digest" in out.getvalue() and Notification.objects.count() == 1


@pytest.mark.parametrize(("args", "message"), [
    (["--to", "nobody"], "No destination named 'nobody'. Destinations: hook, ops only."),
    (["--to", "ops only"], "'ops only' is not subscribed to the weekly digest"),
    (["--dry-run", "--to", "nobody"], "No destination named 'nobody'"),  # a typo is not a silent success
    (["--to", "hook\x00"], "No destination named 'hook"),  # not a database error
    (["--week", "2026-13-01"], "--week: '2026-13-01' is not a date"),
    (["--week", "2999-01-01"], "outside"),
    (["--week", "2100-01-01"], "has not started yet"),
])
def test_send_digest_refuses_clearly(destination, args, message):
    destination("hook")
    destination("ops only", digest=False)
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call_command("send_digest", *args, stdout=StringIO())
    assert Notification.objects.count() == 0


shapes = st.lists(st.fixed_dictionaries({
    "channel": st.sampled_from(["Email", "Paid Search", "Direct", "Unassigned"]),
    "campaign": st.sampled_from(["(not set)", "a", "b", "c", "d", "e", "f"]),
    "minutes": st.integers(-8 * 24 * 60, 15 * 24 * 60),  # from the week before to the week after
    "state": st.sampled_from(["held", "no_show", "canceled", "ahead"]),
}), max_size=12)


@hsettings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shapes)
def test_for_any_bookings_the_digest_agrees_with_the_report_api(api, bookings):
    with transaction.atomic():
        for b in bookings:
            state = b["state"]
            book(b["channel"], MON + timedelta(minutes=b["minutes"]), campaign=b["campaign"],
                 no_show=state == "no_show", status="canceled" if state == "canceled" else "active",
                 start_time=datetime.now(timezone.utc) + timedelta(days=2) if state == "ahead" else PAST)
        d = digest_build(WEEK)
        params = {"booked_after": "2026-05-04", "booked_before": "2026-05-11"}
        body = report(api, group_by="channel", **params)
        assert {r.name: r.change.now for r in d.channels if r.change.now} == {r["channel"]: r["bookings"] for r in body["rows"]}
        before = report(api, group_by="channel", booked_after="2026-04-27", booked_before="2026-05-04")
        assert {r.name: r.change.before for r in d.channels if r.change.before} == {
            r["channel"]: r["bookings"] for r in before["rows"]}
        named = [(r["campaign"], r["bookings"]) for r in report(api, group_by="campaign", **params)["rows"]
                 if r["campaign"] != "(not set)"][:5]
        assert [(r.name, r.change.now) for r in d.campaigns] == named
        assert (d.no_show, d.canceled) == (sum(r["no_show"] for r in body["rows"]), sum(r["canceled"] for r in body["rows"]))
        assert d.held == report(api, group_by="channel", metric="held", **params)["total"]
        transaction.set_rollback(True)


def test_a_week_still_running_is_not_sent_by_hand_so_mondays_digest_still_goes(destination):
    """The digest key is per week: a running week's digest sent by hand on a Wednesday would make Monday's beat find
    "already sent" and skip the full week's numbers. It can be looked at (--dry-run), not sent."""
    destination("hook")
    wednesday = datetime(2026, 5, 6, 12, tzinfo=timezone.utc)
    with time_machine.travel(wednesday, tick=False):
        with pytest.raises(CommandError, match="has not ended yet"):
            call_command("send_digest", "--week", "2026-05-06", stdout=StringIO())
        out = StringIO()
        call_command("send_digest", "--dry-run", "--week", "2026-05-06", stdout=out)
        assert "still running" in out.getvalue()
    with time_machine.travel(datetime(2026, 5, 11, 9, tzinfo=timezone.utc), tick=False):
        assert len(digest_due().queued) == 1
