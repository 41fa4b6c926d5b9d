"""Calendly as it really behaves: subscription scopes, the fake's strictness (as Calendly's API reference
says), and a rate limit that does not clear failing visibly instead of waiting forever."""

from datetime import datetime, timedelta, timezone

import httpx
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from bookings.calendly_client import CalendlyClient, CalendlyRateLimited
from fakes.calendly import API
from bookings.models import BackfillRun, Booking
from bookings.samples import invitee_payload
from bookings.services.backfill import backfill_run

pytestmark = pytest.mark.django_db
SINCE = datetime.now(timezone.utc) - timedelta(days=90)
AUTH = {"Authorization": "Bearer fake-calendly-token"}
ORG, USER = f"{API}/organizations/ORG1", f"{API}/users/U1"


@pytest.fixture
def fake_calendly(fake_calendly_with):
    return fake_calendly_with(30)


def get(server, path, **params):
    return httpx.get(f"{server.url}{path}", params=params, headers=AUTH)


def post(server, path, body):
    return httpx.post(f"{server.url}{path}", json=body, headers=AUTH)


def sub_body(**overrides):
    return {"url": "https://sourcebook.example/webhooks/calendly/", "events": ["invitee.created"], "organization": ORG,
            "scope": "organization", "signing_key": "k", **overrides}


# --- 1. the subscription check sees the scope the subscription was created with ------------------


def test_check_reports_a_user_scoped_subscription_as_active(fake_calendly, post_signed, capsys):
    post_signed(invitee_payload(invitee_id="SCOPE1"))  # a recent delivery: not "silent"
    call_command("calendly_webhooks", "create", "--user-scope")
    [sub] = fake_calendly.fake.subscriptions.values()
    assert sub["scope"] == "user" and sub["user"] == USER
    capsys.readouterr()
    call_command("calendly_webhooks", "check")
    assert "subscription: active (user scope)" in capsys.readouterr().out


def test_the_beat_check_sees_a_user_scoped_subscription(fake_calendly, post_signed, admin_client):
    from bookings.tasks import calendly_subscription_check_task

    post_signed(invitee_payload(invitee_id="SCOPE2"))
    call_command("calendly_webhooks", "create", "--user-scope")
    report = calendly_subscription_check_task()
    assert report["state"] == "active" and report["scope"] == "user" and report["user"] == USER
    assert admin_client.get("/healthz/details").json()["checks"]["calendly_subscription"]["ok"] is True


def test_list_and_delete_see_a_user_scoped_subscription(fake_calendly, capsys):
    call_command("calendly_webhooks", "create", "--user-scope")
    capsys.readouterr()
    call_command("calendly_webhooks", "list")
    out = capsys.readouterr().out
    assert "user" in out and "← this Sourcebook" in out
    call_command("calendly_webhooks", "delete")
    assert fake_calendly.fake.subscriptions == {}


def test_repair_recreates_a_disabled_user_scoped_subscription_in_user_scope(fake_calendly, capsys):
    call_command("calendly_webhooks", "create", "--user-scope")
    httpx.post(f"{fake_calendly.url}/__fake__/disable_subscriptions")
    call_command("calendly_webhooks", "check", "--repair")
    assert "backfilled the gap" in capsys.readouterr().out
    [sub] = fake_calendly.fake.subscriptions.values()
    assert sub["state"] == "active" and sub["scope"] == "user" and sub["user"] == USER


# --- 2. the fake is as strict as Calendly -------------------------------------------------------


@pytest.mark.parametrize("params, parameter", [
    ({"organization": ORG}, "scope"),
    ({"scope": "organization"}, "organization"),
    ({"organization": ORG, "scope": "user"}, "user"),
    ({"organization": ORG, "scope": "group"}, "group"),
    ({"organization": ORG, "scope": "everyone"}, "scope"),
    ({"organization": ORG, "scope": "organization", "count": "101"}, "count"),
    ({"organization": ORG, "scope": "organization", "count": "0"}, "count"),
    ({"organization": ORG, "scope": "organization", "count": "many"}, "count"),
])
def test_fake_subscription_list_refuses_what_calendly_refuses(fake_calendly, params, parameter):
    response = get(fake_calendly, "/webhook_subscriptions", **params)
    assert response.status_code == 400
    body = response.json()
    assert body["title"] == "Invalid Argument" and body["details"][0]["parameter"] == parameter


def test_fake_subscription_list_returns_only_the_asked_scope(fake_calendly):
    assert post(fake_calendly, "/webhook_subscriptions", sub_body(scope="user", user=USER)).status_code == 201
    org_list = get(fake_calendly, "/webhook_subscriptions", organization=ORG, scope="organization", count=100).json()
    user_list = get(fake_calendly, "/webhook_subscriptions", organization=ORG, scope="user", user=USER).json()
    other_user = get(fake_calendly, "/webhook_subscriptions", organization=ORG, scope="user", user=f"{API}/users/U2").json()
    assert org_list["collection"] == [] and other_user["collection"] == []
    assert [s["scope"] for s in user_list["collection"]] == ["user"]
    assert "_signing_key" not in user_list["collection"][0]  # write-only


@pytest.mark.parametrize("overrides, parameter", [
    ({"events": ["invitee.booked"]}, "events"),
    ({"events": []}, "events"),
    ({"events": "invitee.created"}, "events"),
    ({"events": ["routing_form_submission.created"], "scope": "user", "user": USER}, "events"),
    ({"scope": "user"}, "user"),
    ({"scope": None}, "scope"),
    ({"organization": None}, "organization"),
    ({"url": "not a url"}, "url"),
])
def test_fake_subscription_create_validates_like_calendly(fake_calendly, overrides, parameter):
    response = post(fake_calendly, "/webhook_subscriptions", sub_body(**overrides))
    assert response.status_code == 400 and response.json()["details"][0]["parameter"] == parameter
    assert fake_calendly.fake.subscriptions == {}


def test_fake_accepts_the_events_we_subscribe_in_both_scopes(fake_calendly):
    from bookings.services.subscriptions import SUBSCRIBED_EVENTS

    assert post(fake_calendly, "/webhook_subscriptions", sub_body(events=SUBSCRIBED_EVENTS)).status_code == 201
    assert post(fake_calendly, "/webhook_subscriptions", sub_body(
        url="https://other.example/hook", events=SUBSCRIBED_EVENTS, scope="user", user=USER)).status_code == 201


def test_fake_event_and_invitee_lists_cap_count_and_check_filters(fake_calendly):
    event = fake_calendly.fake.events[0]
    invitees_path = f"/scheduled_events/{event['uri'].rsplit('/', 1)[-1]}/invitees"
    assert get(fake_calendly, "/scheduled_events", organization=ORG, count=100).status_code == 200
    assert get(fake_calendly, "/scheduled_events", organization=ORG, count=101).status_code == 400
    assert get(fake_calendly, "/scheduled_events", count=10).json()["details"][0]["parameter"] == "organization"
    assert get(fake_calendly, "/scheduled_events", organization=ORG, status="done").status_code == 400
    assert get(fake_calendly, invitees_path, count=100).status_code == 200
    assert get(fake_calendly, invitees_path, count=101).status_code == 400
    assert get(fake_calendly, invitees_path, status="maybe").status_code == 400


def test_fake_serves_one_scheduled_event_and_one_invitee_like_calendly(fake_calendly):
    event = fake_calendly.fake.events[0]
    invitee = fake_calendly.fake.invitees[event["uri"].rsplit("/", 1)[-1]][0]
    assert get(fake_calendly, event["uri"].removeprefix(API)).json() == {"resource": event}
    assert get(fake_calendly, invitee["uri"].removeprefix(API)).json() == {"resource": invitee}
    missing = get(fake_calendly, "/scheduled_events/NOPE")
    assert missing.status_code == 404 and missing.json()["title"] == "Resource Not Found"
    client = CalendlyClient(base_url=fake_calendly.url, token="fake-calendly-token", sleep=lambda s: None)
    assert client.scheduled_event(event["uri"]) == event and client.invitee(invitee["uri"]) == invitee


# --- 3. a rate limit that does not clear fails visibly -----------------------------------------


def test_the_client_stops_waiting_after_the_capped_number_of_429s(fake_calendly):
    fake_calendly.fake.rate_limit = 0  # every request is refused, as when another integration eats the budget
    waits = []
    client = CalendlyClient(base_url=fake_calendly.url, token="fake-calendly-token", sleep=waits.append,
                            max_rate_limit_waits=3, max_rate_limit_wait_seconds=1000)
    with pytest.raises(CalendlyRateLimited, match="rate limit still exceeded after 3 waits"):
        client.me()
    assert len(waits) == 3 and client.stats.waits_429 == 3 and fake_calendly.fake.throttled == 4


def test_the_client_does_not_wait_past_its_budget(fake_calendly):
    fake_calendly.fake.rate_limit = 0  # the fake announces a reset of up to 60 s
    waits = []
    client = CalendlyClient(base_url=fake_calendly.url, token="fake-calendly-token", sleep=waits.append,
                            max_rate_limit_waits=10, max_rate_limit_wait_seconds=5)
    with pytest.raises(CalendlyRateLimited) as info:
        client.me()
    assert waits == [] and info.value.status == 429 and info.value.transient


def test_the_client_honours_retry_after():
    calls = []

    def handler(request):
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(429, headers={"Retry-After": "7", "X-RateLimit-Reset": "60"}, json={"title": "Too Many Requests"})
        return httpx.Response(200, json={"resource": {"uri": USER}})

    waits = []
    client = CalendlyClient(base_url="https://api.calendly.test", token="t", transport=httpx.MockTransport(handler),
                            sleep=waits.append)
    assert client.me() == {"uri": USER} and waits == [7.0]


def test_a_backfill_that_stays_rate_limited_is_recorded_as_failed_and_resumes(fake_calendly):
    fake_calendly.fake.rate_limit = 0
    client = CalendlyClient(base_url=fake_calendly.url, token="fake-calendly-token", sleep=lambda s: None,
                            max_rate_limit_waits=2)
    with pytest.raises(CalendlyRateLimited):
        backfill_run(client=client, since=SINCE, organization=ORG)
    run = BackfillRun.objects.get()
    assert run.failed_at is not None and run.finished_at is None and "rate limit still exceeded" in run.error
    assert "failed" in str(run)
    fake_calendly.fake.rate_limit = 10_000
    run = backfill_run(client=client, since=SINCE, organization=ORG)
    assert run.finished_at is not None and run.failed_at is None and run.error == ""
    assert Booking.objects.count() == 30


def test_the_backfill_command_prints_why_it_stopped(fake_calendly, settings):
    settings.CALENDLY_RATE_LIMIT_MAX_WAIT_SECONDS = 5  # the fake's reset (~60 s) is past the budget: no real sleep
    fake_calendly.fake.rate_limit = 3  # /users/me, the first events page, one invitees page; then 429 for a minute
    with pytest.raises(CommandError) as info:
        call_command("backfill_calendly", "--since", SINCE.date().isoformat(), "--organization")
    assert "backfill stopped: Calendly 429: rate limit still exceeded" in str(info.value)
    assert "recorded as failed" in str(info.value)
    run = BackfillRun.objects.get()
    assert run.failed_at is not None and "rate limit" in run.error
