"""The digest on its way: the e-mail (HTML + plain-text part) through the local SMTP catcher, Slack's blocks at
apprise's plugin boundary, hostile campaign names, the Monday-morning schedule on a frozen clock (a DST week
too) and the admin preview."""

import json
import re
from datetime import date, datetime, timedelta, timezone
from unittest import mock

import pytest
import time_machine
from django.apps import apps
from hypothesis import given, strategies as st
from apprise.plugins.slack import NotifySlack

from alerts.channels import Message, deliver, normalize
from alerts.digest import digest_build, week_of
from alerts.digest_render import MARKDOWN_LIMIT, clean, md, render_html, render_markdown, render_text
from alerts.models import Destination, Notification
from alerts.services.digest import digest_send
from alerts.services.outbox import send_due
from alerts.tasks import digest_due_task
from alerts.tests.test_digest import MON, WEEK, a_week, book  # noqa: F401 - a_week is a fixture
from attribution.apps import rollup_time_zone_follow
from bookings.tests.factories import staff_user
from project.tests.test_startup_guards import check_deploy

pytestmark = pytest.mark.django_db
SLACK = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"
HOSTILE = "<b>x</b> <!channel> *boss* _x_ [c](https://evil.example) `z` " + "long" * 35  # 60 characters shown


def test_the_email_has_html_and_a_plain_text_part_with_the_numbers_and_dashboard_links(a_week, smtp_catcher, settings):
    settings.SOURCEBOOK_PUBLIC_URL = "https://sourcebook.example.com/"
    Destination.objects.create(name="marketing mail", url=smtp_catcher.mailto())
    digest_send(WEEK)
    assert send_due() == {"sent": 1, "failed": 0}
    [mail] = smtp_catcher.messages
    assert mail.subject.startswith("Sourcebook weekly digest, 4 May 2026 – 10 May 2026: 15 bookings")
    period = "range=custom&start=2026-05-04&end=2026-05-10"
    for link in (f"https://sourcebook.example.com/dashboard/?{period}&compare=previous&dim=channel",
                 f"https://sourcebook.example.com/dashboard/?{period}&compare=previous&dim=campaign",
                 "https://sourcebook.example.com/dashboard/direct/?range=custom&start=2026-03-25&end=2026-05-10",
                 "https://sourcebook.example.com/dashboard/hygiene/"):
        assert link.replace("&", "&amp;") in mail.html
    assert "<table" in mail.html and "<img" not in mail.html and 'name="viewport"' in mail.html
    assert f"https://sourcebook.example.com/dashboard/?{period}&compare=previous&dim=campaign" in mail.text
    assert "Paid Search: 4 · week before 1 · +3 (+300%)" in mail.text  # a row reads as a line
    for part in (mail.html, mail.text):
        for shown in ("Bookings by channel", "brand_search", "Paid Search", "+3 (+300%)", "USD 1,500.00", "Held so far"):
            assert shown.lower() in part.lower(), (shown, part[:2000])


def _slack_payload(message_url=SLACK):
    response = mock.Mock(status_code=200, content=b"ok", text="ok")
    with mock.patch("requests.request", return_value=response) as request:
        assert send_due() == {"sent": 1, "failed": 0}
    [call] = request.call_args_list
    return json.loads(call.kwargs["data"])


def test_slack_gets_the_sections_as_block_kit_mrkdwn(a_week):
    Destination.objects.create(name="slack", url=normalize(SLACK))
    digest_send(WEEK)
    [attachment] = _slack_payload()["attachments"]
    header, section = attachment["blocks"]
    assert header["type"] == "header" and "4 May 2026" in header["text"]["text"]
    assert section["text"]["type"] == "mrkdwn" and len(section["text"]["text"]) <= 3000
    text = section["text"]["text"]
    for shown in ("*Bookings by channel*", "*Top campaigns*", "*Meetings*", "*Untagged bookings*",
                  "*New hygiene findings*", "*Pipeline and revenue*", "Paid Search: 4 (+3 (+300%))",
                  "1. brand_search: 3", "USD 1,500.00", "<http://127.0.0.1:8000/dashboard/?range=custom"):
        assert shown in text, (shown, text)


def test_hostile_campaign_names_are_escaped_in_html_and_neutralised_in_slack_markdown():
    for _ in range(2):
        book("Paid Social", MON + timedelta(hours=1), campaign=HOSTILE)
    Destination.objects.create(name="slack", url=normalize(SLACK))
    digest_send(WEEK)
    row = Notification.objects.get()
    assert "<b>x" not in row.html and "&lt;b&gt;x&lt;/b&gt; &lt;!channel&gt;" in row.html
    assert "<!channel>" not in row.html
    assert "long" * 20 not in row.text and "…" in row.text  # cut
    text = _slack_payload()["attachments"][0]["blocks"][1]["text"]["text"]
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    assert "<https://evil.example" not in text and "*boss*" not in text and "\\*boss\\*" in text
    assert "<b>" not in text and "`z`" not in text


@given(st.text())
def test_a_cleaned_value_is_printable_and_short(value):
    shown = clean(value)
    assert shown.isprintable() and len(shown) <= 60 and "\x00" not in shown


@given(st.text(alphabet=st.sampled_from("<>!@*_~`[]()|#&\\ab\x00\n:/"), max_size=80))
def test_markdown_values_never_reach_slack_as_markup(value):
    """Whatever a value holds, apprise's CommonMark → mrkdwn turns it into text: no Slack control sequence
    (<!channel>, <@U1>, <url|label>) and no unescaped emphasis or code."""
    mrkdwn = NotifySlack._commonmark_to_slack(f"• {md(value)}: 3")
    assert "<" not in mrkdwn and ">" not in mrkdwn
    for mark in "*~`":
        assert mrkdwn.count(mark) == mrkdwn.count("\\" + mark), mrkdwn
    # an underscore is escaped unless it sits inside a word (no emphasis there, in Slack or CommonMark)
    for i, ch in enumerate(mrkdwn):
        if ch == "_":
            inside_a_word = 0 < i < len(mrkdwn) - 1 and mrkdwn[i - 1].isalnum() and mrkdwn[i + 1].isalnum()
            assert mrkdwn[i - 1] == "\\" or inside_a_word, mrkdwn


def test_markdown_keeps_ordinary_campaign_names_readable():
    assert md("brand_search_202609") == "brand_search_202609"
    assert md("_x_ *y* <!here>") == "\\_x\\_ \\*y\\* \\<!here\\>"


def test_a_long_digest_is_cut_at_a_line_for_slack(a_week):
    for i in range(40):
        book("Unassigned", MON + timedelta(hours=2), source=f"weird-source-{i}-" + "x" * 40, medium=f"m{i}")
    d = digest_build(WEEK)
    markdown = render_markdown(d)
    assert len(markdown) <= MARKDOWN_LIMIT
    assert "… and 32 more" in render_text(d) and "New Unassigned" in render_html(d)



@pytest.mark.parametrize("value", ["&" * 150, "<" * 150])
def test_a_digest_of_hostile_values_still_fits_slacks_section(a_week, value):
    """Slack refuses a section over 3000 characters; apprise turns each & into &amp; and each \\< into &lt;, so a
    source or campaign made of them (anyone can book through such a link) must not push the digest past it."""
    for i in range(40):
        book("Unassigned", MON + timedelta(hours=2), source=f"{i}{value}", medium=f"m{i}", campaign=f"{i}{value}")
    response = mock.Mock(status_code=200, content=b"ok", text="ok")
    with mock.patch("requests.request", return_value=response) as request:
        deliver(normalize(SLACK), Message(subject="s", text="t", markdown=render_markdown(digest_build(WEEK))))
    [call] = request.call_args_list
    section = json.loads(call.kwargs["data"])["attachments"][0]["blocks"][1]["text"]["text"]
    assert len(section) <= 3000 and "(shortened)" in section

# --- the schedule --------------------------------------------------------------------------------


@pytest.fixture
def berlin(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    settings.DIGEST_SEND_HOUR = 8
    rollup_time_zone_follow(apps.get_app_config("attribution"), verbosity=0)  # the rollup's days in Berlin


def _at(when):
    with time_machine.travel(when, tick=False):
        digest_due_task()
    return list(Notification.objects.order_by("pk").values_list("destination__name", "key"))


def test_the_digest_is_queued_once_on_monday_from_the_hour_in_the_time_zone(berlin, destination):
    destination("hook")
    monday = datetime(2026, 11, 23, tzinfo=timezone.utc)  # 08:00 in Berlin (CET) is 07:00 UTC
    assert _at(monday + timedelta(hours=6, minutes=59)) == []
    assert _at(monday + timedelta(hours=7)) == [("hook", "digest:2026-11-16")]
    assert _at(monday + timedelta(hours=9)) == [("hook", "digest:2026-11-16")]  # a re-run (restart) sends nothing
    destination("late", url=Destination.objects.get().url)
    assert _at(monday + timedelta(hours=10))[-1] == ("late", "digest:2026-11-16")  # added on Monday: still gets it
    assert len(_at(monday + timedelta(days=1, hours=8))) == 2  # Tuesday: not sent late
    assert _at(monday + timedelta(days=7, hours=7))[-2:] == [("hook", "digest:2026-11-23"), ("late", "digest:2026-11-23")]


def test_a_beat_down_at_the_hour_sends_at_its_next_run(berlin, destination):
    destination("hook")
    assert _at(datetime(2026, 11, 23, 8, 15, tzinfo=timezone.utc)) == [("hook", "digest:2026-11-16")]  # 09:15 local


def test_the_dst_week_counts_its_167_hours_and_sends_at_8_summer_time(berlin, destination):
    """Berlin moved to summer time on Sunday 29 March 2026: that week ends at 22:00 UTC and the digest goes at
    06:00 UTC on Monday 30 March."""
    destination("hook")
    book("Email", datetime(2026, 3, 29, 21, 30, tzinfo=timezone.utc))  # Sunday 23:30 CEST: in the week
    book("Email", datetime(2026, 3, 29, 22, 30, tzinfo=timezone.utc))  # Monday 00:30 CEST: the next week
    book("Email", datetime(2026, 3, 22, 23, 30, tzinfo=timezone.utc))  # Monday 23 March 00:30 CET: in the week
    assert _at(datetime(2026, 3, 30, 5, 59, tzinfo=timezone.utc)) == []
    assert _at(datetime(2026, 3, 30, 6, 0, tzinfo=timezone.utc)) == [("hook", "digest:2026-03-23")]
    row = Notification.objects.get()
    assert row.subject.startswith("Sourcebook weekly digest, 23 Mar 2026 – 29 Mar 2026: 2 bookings")
    start, end = week_of(date(2026, 3, 25)).bounds()
    assert end.astimezone(timezone.utc) - start.astimezone(timezone.utc) == timedelta(hours=167)


def test_the_schedule_can_be_turned_off(berlin, destination, settings):
    settings.DIGEST_ENABLED = False
    destination("hook")
    assert _at(datetime(2026, 11, 23, 7, tzinfo=timezone.utc)) == []


def test_beat_runs_the_check(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["alerts-digest-due"]
    assert entry["task"] == "alerts.digest_due" and entry["schedule"] <= 3600


# --- the admin preview ---------------------------------------------------------------------------


def test_the_admin_preview_shows_the_chosen_week_as_email_and_text(a_week, client):
    client.force_login(staff_user("viewer", "view_destination"))
    listing = client.get("/admin/alerts/destination/").content.decode()
    assert "/admin/alerts/destination/digest/" in listing
    page = client.get("/admin/alerts/destination/digest/", {"week": "2026-05-07"})
    assert page.status_code == 200
    body = page.content.decode()
    assert "Weekly digest: 4 May 2026 – 10 May 2026" in body
    assert "brand_search: 3" in body and "15 bookings" in body
    frame = re.search(r'<iframe[^>]* src="([^"]+)"', body).group(1).replace("&amp;", "&")
    email = client.get(frame)
    assert email.status_code == 200 and email.headers["X-Frame-Options"] == "SAMEORIGIN"  # framed by the preview only
    assert "2026-05-04" in frame and "brand_search" in email.content.decode() and "<table" in email.content.decode()
    bad = client.get("/admin/alerts/destination/digest/", {"week": "not-a-day"})
    assert bad.status_code == 200 and "is not a date" in bad.content.decode()


def test_the_admin_preview_needs_the_view_permission(client):
    client.force_login(staff_user("nobody"))
    assert client.get("/admin/alerts/destination/digest/").status_code == 403
    assert client.get("/admin/alerts/destination/digest/email/").status_code == 403


# --- the links and the other channels ------------------------------------------------------------


def test_the_links_open_the_dashboard_views_with_the_same_numbers(a_week, login_as):
    d = digest_build(WEEK)
    client = login_as("marketer", group="Marketing")
    path = lambda url: url.removeprefix("http://127.0.0.1:8000")  # noqa: E731 - the test settings' public URL
    page = client.get(path(d.links["channels"]))
    assert page.status_code == 200 and page.context["period"].label == WEEK.label
    assert page.context["data"]["kpis"]["bookings"] == d.bookings.now
    assert {r["channel"]: r["previous"] for r in page.context["data"]["rows"]} == {r.name: r.change.before for r in d.channels}
    campaigns = client.get(path(d.links["campaigns"])).context["data"]["rows"]
    assert {(r["campaign"], r["bookings"]) for r in campaigns} >= {(r.name, r.change.now) for r in d.campaigns}
    backlog = client.get(path(d.links["backlog"]))
    assert backlog.status_code == 200 and backlog.context["total"] == d.backlog_size
    assert client.get(path(d.links["hygiene"])).status_code == 200


def test_a_webhook_gets_the_plain_text(a_week, destination, webhook_receiver):
    destination("hook")
    digest_send(WEEK)
    assert send_due() == {"sent": 1, "failed": 0}
    [post] = webhook_receiver.received
    assert post["payload"]["title"].startswith("Sourcebook weekly digest") and "TOP CAMPAIGNS" in post["payload"]["message"]


def test_teams_gets_the_markdown_in_an_adaptive_card(a_week):
    Destination.objects.create(name="teams", url=normalize("workflows://prod-00.westus.logic.azure.com:443/4f2b1a/S3cretSig/"))
    digest_send(WEEK)
    response = mock.Mock(status_code=200, content=b"ok", text="ok")
    with mock.patch("requests.post", return_value=response) as post:
        assert send_due() == {"sent": 1, "failed": 0}
    rendered = json.dumps(json.loads(post.call_args.kwargs["data"]))
    assert "AdaptiveCard" in rendered and "Top campaigns" in rendered and "1. brand_search: 3" in rendered


@pytest.mark.parametrize("hour", ["24", "-1", "eight"])
def test_a_send_hour_that_is_no_hour_stops_start_up(hour):
    result = check_deploy(DIGEST_SEND_HOUR=hour)
    assert result.returncode != 0 and "DIGEST_SEND_HOUR" in result.stderr


def test_links_follow_the_port_make_run_serves_when_no_public_url_is_set():
    from project.tests.test_health_split_and_metrics_guard import run_python

    code = "import django; django.setup(); from django.conf import settings; print(settings.SOURCEBOOK_PUBLIC_URL)"
    assert run_python(code, PORT="8123", DEBUG="1").stdout.strip() == "http://127.0.0.1:8123"
    assert run_python(code, PORT="8123", DEBUG="1", SOURCEBOOK_PUBLIC_URL="https://sb.example.com").stdout.strip() \
        == "https://sb.example.com"
