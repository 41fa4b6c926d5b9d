from datetime import datetime, timedelta, timezone

import httpx
import pytest
from django.core.management import call_command

from bookings.calendly_client import CalendlyClient, CalendlyError
from bookings.models import BackfillRun, Booking, WebhookDelivery
from bookings.services.backfill import backfill_run

pytestmark = pytest.mark.django_db
SINCE = datetime.now(timezone.utc) - timedelta(days=90)


@pytest.fixture
def fake_calendly(fake_calendly_with):
    return fake_calendly_with(230)


def client_for(server, **kw):
    return CalendlyClient(base_url=server.url, token="fake-calendly-token", sleep=lambda s: None, **kw)


def test_pagination_walks_every_page(fake_calendly):
    client = client_for(fake_calendly)
    events = [e for page, _ in client.scheduled_events(organization="x") for e in page]
    assert len(events) == 230 and client.stats.calls == 3  # pages of 100


def test_429_waits_for_the_reset_header_and_retries(fake_calendly):
    fake_calendly.fake.rate_limit, fake_calendly.fake.window_seconds = 2, 1.0
    waits = []
    client = CalendlyClient(base_url=fake_calendly.url, token="fake-calendly-token", sleep=lambda s: (waits.append(s), __import__("time").sleep(s)))
    events = [e for page, _ in client.scheduled_events(organization="x") for e in page]
    assert len(events) == 230
    assert client.stats.waits_429 >= 1 and all(1 <= w <= 2 for w in waits)


def test_clear_errors_for_401_and_404(fake_calendly):
    with pytest.raises(CalendlyError, match="token was rejected"):
        CalendlyClient(base_url=fake_calendly.url, token="wrong", sleep=lambda s: None).me()
    with pytest.raises(CalendlyError, match="not found"):
        client_for(fake_calendly).invitees("https://api.calendly.com/scheduled_events/NOPE")


def test_backfill_and_webhook_of_the_same_invitee_give_one_booking(fake_calendly, post_signed):
    event = fake_calendly.fake.events[0]
    invitee = fake_calendly.fake.invitees[event["uri"].rsplit("/", 1)[-1]][0]
    post_signed({"event": "invitee.created", "created_at": invitee["created_at"], "payload": {**invitee, "scheduled_event": event}})
    run = backfill_run(client=client_for(fake_calendly), since=SINCE, organization="org")
    assert run.invitees == 230 and run.created == 229 and run.unchanged + run.updated == 1
    assert Booking.objects.count() == 230
    assert WebhookDelivery.objects.filter(origin="backfill").count() == 230
    again = backfill_run(client=client_for(fake_calendly), since=SINCE, organization="org")
    assert again.unchanged == 230 and Booking.objects.count() == 230
    assert WebhookDelivery.objects.filter(origin="backfill").count() == 230  # identical snapshots are not stored twice
    canceled = sum(1 for e in fake_calendly.fake.events if e["status"] == "canceled")
    assert Booking.objects.filter(status="canceled").count() == canceled


def test_an_interrupted_backfill_continues_from_its_checkpoint(fake_calendly):
    client = client_for(fake_calendly)
    real = client.invitees
    calls = {"n": 0}

    def flaky(uri):
        calls["n"] += 1
        if calls["n"] == 150:
            raise KeyboardInterrupt
        return real(uri)

    client.invitees = flaky
    with pytest.raises(KeyboardInterrupt):
        backfill_run(client=client, since=SINCE, organization="org")
    checkpoint = BackfillRun.objects.get()
    assert checkpoint.checkpoint == {"active": "100"} and checkpoint.finished_at is None
    before = client.stats.calls
    client.invitees = real
    run = backfill_run(client=client, since=SINCE, organization="org")
    assert run.finished_at is not None and Booking.objects.count() == 230
    assert client.stats.calls - before < 230 + 10  # it did not start over from the first page


def test_the_command_prints_a_summary(fake_calendly, capsys):
    call_command("backfill_calendly", "--since", SINCE.date().isoformat(), "--organization")
    out = capsys.readouterr().out
    assert "230 invitees: 230 new, 0 updated, 0 unchanged" in out and "API calls" in out


def test_subscriptions_create_list_delete(fake_calendly, capsys):
    call_command("calendly_webhooks", "create")
    out = capsys.readouterr().out
    assert "signing key (shown once):" in out and "CALENDLY_WEBHOOK_SIGNING_KEYS" in out
    key = out.split("signing key (shown once): ")[1].split()[0]
    [sub] = fake_calendly.fake.subscriptions.values()
    assert sub["_signing_key"] == key and sub["callback_url"] == "https://sourcebook.example/webhooks/calendly/"
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="409"):
        call_command("calendly_webhooks", "create")
    call_command("calendly_webhooks", "list")
    assert "← this Sourcebook" in capsys.readouterr().out
    call_command("calendly_webhooks", "delete")
    assert fake_calendly.fake.subscriptions == {}


def test_check_notices_a_disabled_subscription_and_repair_recreates_and_backfills(fake_calendly, capsys, admin_client):
    call_command("calendly_webhooks", "create")
    httpx.post(f"{fake_calendly.url}/__fake__/disable_subscriptions")
    with pytest.raises(SystemExit):
        call_command("calendly_webhooks", "check")
    assert "subscription: disabled" in capsys.readouterr().out
    health = admin_client.get("/healthz/details").json()  # the checks are for staff (issue 11)
    assert health["checks"]["calendly_subscription"]["ok"] is False
    call_command("calendly_webhooks", "check", "--repair")
    out = capsys.readouterr().out
    assert "backfilled the gap" in out
    assert [s["state"] for s in fake_calendly.fake.subscriptions.values()] == ["active"]
    assert Booking.objects.count() > 0


def test_stopping_a_backfill_stops_its_fetcher_even_in_a_rate_limit_wait():
    """A stopped run must not keep spending Calendly's rate limit in the background."""
    import threading
    import time

    from bookings.services.backfill import _fetched_ahead

    class Client:
        def __init__(self):
            self.sleep, self.calls = time.sleep, 0

        def invitees(self, uri):
            self.calls += 1
            if self.calls > 1:
                self.sleep(30)  # as the real client waits out a 429
            return [{"uri": f"{uri}/invitees/1"}]

    client = Client()
    items = _fetched_ahead(iter([([{"uri": f"e{i}"} for i in range(5)], None)]), client)
    assert next(items)[0] == {"uri": "e0"}
    started = time.monotonic()
    items.close()  # what Ctrl-C or an error in the caller does
    assert time.monotonic() - started < 5
    assert not [t for t in threading.enumerate() if t.name == "calendly-backfill-fetch"]
    assert client.calls == 2 and client.sleep is time.sleep
