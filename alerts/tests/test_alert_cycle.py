"""Operational alerts: each one's fire → repeat (only after ALERTS_REPEAT_HOURS) → resolve cycle on a frozen clock,
as the ops destination (the local webhook receiver) sees it; silenced and disabled alerts send nothing."""

import json
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from django.core.management import call_command

from alerts.models import AlertState, Notification
from alerts.services.alerts import alerts_evaluate, alerts_silence, alerts_unsilence, alerts_watchdog_pass
from alerts.services.outbox import send_due
from bookings.models import Booking, WebhookDelivery
from hubspot_sync.models import BookingSync, ContactErasure, HubspotConnection
from project.health import HEARTBEAT_KEY, SUBSCRIPTION_KEY

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_redis")]
T0 = datetime(2026, 11, 3, 12, 0, tzinfo=timezone.utc)  # a Tuesday, noon


@pytest.fixture
def ops(destination, webhook_receiver):
    """An ops destination (the local webhook receiver); `ops.titles()` drains the outbox and lists what arrived."""
    destination("ops hook", marketing=False, digest=False)
    destination("marketing hook", ops=False, digest=False, url=webhook_receiver.json_url("/marketing"))

    class Inbox:
        def titles(self):
            send_due()
            return [p["payload"]["title"] for p in webhook_receiver.received if p["path"] == "/hook"]

        def last(self):
            return [p["payload"] for p in webhook_receiver.received if p["path"] == "/hook"][-1]

        def marketing(self):
            return [p for p in webhook_receiver.received if p["path"] == "/marketing"]

    return Inbox()


def _alive(r):
    r.set(HEARTBEAT_KEY, str(datetime.now(timezone.utc).timestamp()))


def _booking(n=1):
    return Booking.objects.get_or_create(invitee_uri=f"https://api.calendly.com/invitees/{n}")[0]


def _rejected(now, n=20):
    WebhookDelivery.objects.bulk_create(WebhookDelivery(
        received_at=now - timedelta(minutes=1), body=b"{}", signature_valid=False, signature_error="signature mismatch",
        remote_addr="203.0.113.9", state=WebhookDelivery.State.REJECTED) for _ in range(n))


def _pending(now):
    sync, _ = BookingSync.objects.get_or_create(booking=_booking(), defaults={"next_attempt_at": now})
    BookingSync.objects.filter(pk=sync.pk).update(state="pending", updated_at=now - timedelta(minutes=20))


# (alert key, subject when firing, make it fire at `now`, make it clear)
CASES = [
    ("calendly_subscription", "Calendly subscription disabled",
     lambda r, now: r.set(SUBSCRIPTION_KEY, json.dumps({"state": "disabled", "problem": "subscription X is disabled"})),
     lambda r, now: r.set(SUBSCRIPTION_KEY, json.dumps({"state": "active", "problem": ""}))),
    ("rejected_signatures", "Spike in rejected Calendly deliveries",
     lambda r, now: _rejected(now),
     lambda r, now: WebhookDelivery.objects.all().delete()),
    ("dead_letters", "Dead letters exist",
     lambda r, now: BookingSync.objects.update_or_create(booking=_booking(), defaults={"state": "dead", "next_attempt_at": now}),
     lambda r, now: BookingSync.objects.update(state="synced")),
    ("hubspot_connection", "HubSpot connection broken",
     lambda r, now: HubspotConnection.objects.update_or_create(name="default", defaults={"state": "broken",
                                                                                           "broken_reason": "BAD_REFRESH_TOKEN"}),
     lambda r, now: HubspotConnection.objects.update(state="ok")),
    ("hubspot_daily_limit", "HubSpot daily request limit hit",
     lambda r, now: HubspotConnection.objects.update_or_create(name="default", defaults={"daily_limit_until": now + timedelta(hours=3)}),
     lambda r, now: HubspotConnection.objects.update(daily_limit_until=None)),
    ("sync_backlog", "HubSpot sync is behind",
     lambda r, now: _pending(now),
     lambda r, now: BookingSync.objects.update(state="synced")),
]


@pytest.mark.parametrize("key, title, fire, clear", CASES, ids=[c[0] for c in CASES])
def test_fire_once_repeat_after_n_hours_then_resolve(key, title, fire, clear, ops, clean_redis, settings):
    settings.HUBSPOT_ACCESS_TOKEN = "pat-token"  # the connection checks read a token-mode connection
    settings.ALERTS_REPEAT_HOURS = 24

    def evaluate(firing=True):
        now = datetime.now(timezone.utc)  # the frozen clock
        _alive(clean_redis)
        (fire if firing else clear)(clean_redis, now)
        alerts_evaluate()
        return ops.titles()

    with time_machine.travel(T0, tick=False) as clock:
        assert evaluate() == [f"[Sourcebook] {title}"]
        message = ops.last()["message"]
        assert settings.SOURCEBOOK_PUBLIC_URL in message and "Silence this alert" in message
        for hours in (1, 22):  # still firing, not 24 hours yet: nothing more
            clock.shift(timedelta(hours=hours))
            assert evaluate() == [f"[Sourcebook] {title}"]
        clock.shift(timedelta(hours=1))  # 24 hours after the first message
        assert evaluate() == [f"[Sourcebook] {title}", f"[Sourcebook] Still firing: {title}"]
        clock.shift(timedelta(hours=2))
        assert len(evaluate()) == 2
        clock.shift(timedelta(minutes=5))
        evaluate(firing=False)
        assert evaluate(firing=False)[2:] == [f"[Sourcebook] Resolved: {title}"]  # resolved once
        state = AlertState.objects.get(key=key)
        assert not state.firing and state.resolved_at is not None
        assert ops.marketing() == []  # operational alerts go to ops destinations only
        clock.shift(timedelta(hours=1))  # a new episode is a new "fired"
        assert evaluate()[3:] == [f"[Sourcebook] {title}"]


def test_the_calendly_alert_points_at_the_repair_command(ops, clean_redis):
    clean_redis.set(SUBSCRIPTION_KEY, json.dumps({"state": "missing", "problem": "no subscription for http://x/"}))
    alerts_evaluate()
    assert ops.titles() == ["[Sourcebook] Calendly subscription missing"]
    assert "manage.py calendly_webhooks check --repair" in ops.last()["message"]


def test_dead_letters_count_erasures_too(ops):
    ContactErasure.objects.create(email_hash="h", state="dead", next_attempt_at=T0)
    alerts_evaluate()
    assert ops.titles() == ["[Sourcebook] Dead letters exist"]
    assert "1 HubSpot contact erasure" in ops.last()["message"]


def test_a_few_rejected_deliveries_are_not_a_spike(ops, settings):
    settings.ALERTS_REJECTED_THRESHOLD = 20
    _rejected(datetime.now(timezone.utc), n=19)
    alerts_evaluate()
    assert "[Sourcebook] Spike in rejected Calendly deliveries" not in ops.titles()


def test_a_silenced_alert_sends_nothing_until_unsilenced(ops, clean_redis):
    clean_redis.set(SUBSCRIPTION_KEY, json.dumps({"state": "disabled", "problem": "disabled"}))
    with time_machine.travel(T0, tick=False) as clock:
        alerts_evaluate()
        state = AlertState.objects.get(key="calendly_subscription")
        assert ops.titles() == ["[Sourcebook] Calendly subscription disabled"]
        alerts_silence([state.pk], until=T0 + timedelta(days=3))
        clock.shift(timedelta(days=2))  # a repeat would be due: silenced
        alerts_evaluate()
        assert len(ops.titles()) == 1
        clock.shift(timedelta(days=2))  # the silence ran out: the repeat goes
        alerts_evaluate()
        assert ops.titles()[1:] == ["[Sourcebook] Still firing: Calendly subscription disabled"]


def test_an_episode_that_fired_while_silenced_is_announced_once_unsilenced(ops, clean_redis):
    alerts_evaluate()  # creates the rows, all clear
    state = AlertState.objects.get(key="calendly_subscription")
    alerts_silence([state.pk])  # indefinitely
    clean_redis.set(SUBSCRIPTION_KEY, json.dumps({"state": "disabled", "problem": "disabled"}))
    alerts_evaluate()
    clean_redis.set(SUBSCRIPTION_KEY, json.dumps({"state": "active", "problem": ""}))
    alerts_evaluate()  # fired and cleared while silenced: no fired, so no resolved
    assert ops.titles() == []
    clean_redis.set(SUBSCRIPTION_KEY, json.dumps({"state": "disabled", "problem": "disabled"}))
    alerts_evaluate()
    assert ops.titles() == []
    alerts_unsilence([state.pk])
    alerts_evaluate()
    assert ops.titles() == ["[Sourcebook] Calendly subscription disabled"]


def test_a_disabled_alert_is_not_evaluated_and_a_firing_one_closes_quietly(ops, clean_redis, settings):
    clean_redis.set(SUBSCRIPTION_KEY, json.dumps({"state": "disabled", "problem": "disabled"}))
    settings.ALERTS_DISABLED = ["calendly_subscription", "delivery_silence"]
    alerts_evaluate()
    assert ops.titles() == [] and not AlertState.objects.filter(key="calendly_subscription").exists()
    settings.ALERTS_DISABLED = []
    alerts_evaluate()
    assert ops.titles() == ["[Sourcebook] Calendly subscription disabled"]
    settings.ALERTS_DISABLED = ["calendly_subscription"]
    alerts_evaluate()
    assert not AlertState.objects.get(key="calendly_subscription").firing
    assert ops.titles() == ["[Sourcebook] Calendly subscription disabled"]  # no "resolved" for a disabled alert


def test_a_broken_check_does_not_stop_the_others(ops, clean_redis, monkeypatch):
    from alerts.checks import CHECKS, Check
    from alerts.services import alerts as engine

    def broken(now):
        raise RuntimeError("boom")

    monkeypatch.setattr(engine, "CHECKS", [Check("broken", "ops", broken), *CHECKS])
    clean_redis.set(SUBSCRIPTION_KEY, json.dumps({"state": "disabled", "problem": "disabled"}))
    alerts_evaluate()
    assert ops.titles() == ["[Sourcebook] Calendly subscription disabled"]


# --- the worker heartbeat: the watchdog's, outside Celery ---------------------------------------------------------

def test_the_watchdog_sends_the_worker_alert_without_any_worker(ops, webhook_receiver, clean_redis, settings):
    settings.ALERTS_REPEAT_HOURS = 24
    with time_machine.travel(T0, tick=False) as clock:
        alerts_evaluate()  # the Celery side never sends it (one sender)
        assert AlertState.objects.filter(key="worker_heartbeat").exists() is False
        alerts_watchdog_pass()  # no heartbeat at all; nothing but the watchdog runs: no send_due, no worker
        [post] = webhook_receiver.received
        assert post["payload"]["title"] == "[Sourcebook] Celery worker heartbeat missing"
        assert Notification.objects.get().state == "sent"
        clock.shift(timedelta(minutes=1))
        alerts_watchdog_pass()
        assert len(webhook_receiver.received) == 1
        clock.shift(timedelta(hours=24))
        alerts_watchdog_pass()
        assert webhook_receiver.received[-1]["payload"]["title"] == "[Sourcebook] Still firing: Celery worker heartbeat missing"
        _alive(clean_redis)
        call_command("alerts_watchdog", "--once")
        assert webhook_receiver.received[-1]["payload"]["title"] == "[Sourcebook] Resolved: Celery worker heartbeat missing"
        assert len(webhook_receiver.received) == 3


def test_the_watchdog_retries_a_failed_send_itself(ops, webhook_receiver, clean_redis):
    webhook_receiver.fail_next(1, 503)
    with time_machine.travel(T0, tick=False) as clock:
        alerts_watchdog_pass()
        assert webhook_receiver.received == [] and Notification.objects.get().state == "pending"
        clock.shift(timedelta(minutes=2))  # past the first backoff (30 s at most)
        alerts_watchdog_pass()
        assert [p["payload"]["title"] for p in webhook_receiver.received] == ["[Sourcebook] Celery worker heartbeat missing"]


def test_a_stale_heartbeat_fires_a_fresh_one_does_not(ops, webhook_receiver, clean_redis, settings):
    settings.HEALTH_WORKER_MAX_AGE_SECONDS = 120
    clean_redis.set(HEARTBEAT_KEY, str(datetime.now(timezone.utc).timestamp() - 60))
    alerts_watchdog_pass()
    assert webhook_receiver.received == []
    clean_redis.set(HEARTBEAT_KEY, str(datetime.now(timezone.utc).timestamp() - 300))
    alerts_watchdog_pass()
    assert "The last heartbeat is 5 min old" in webhook_receiver.received[0]["payload"]["message"]


def test_the_watchdog_fires_when_redis_cannot_be_read(ops, webhook_receiver, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens: no heartbeat can be seen, no broker either
    alerts_watchdog_pass()
    [post] = webhook_receiver.received
    assert post["payload"]["title"] == "[Sourcebook] Celery worker heartbeat missing"
    assert "Redis cannot be read" in post["payload"]["message"]


def test_a_starting_watchdog_gives_the_worker_time_before_it_fires(ops, webhook_receiver, clean_redis, settings):
    """`make run` and every deploy start the watchdog beside the worker: an hour-old heartbeat from the last run, or
    none yet, is no alert until the worker had HEALTH_WORKER_MAX_AGE_SECONDS to write one."""
    settings.HEALTH_WORKER_MAX_AGE_SECONDS = 120
    with time_machine.travel(T0, tick=False) as clock:
        started = datetime.now(timezone.utc)
        clean_redis.set(HEARTBEAT_KEY, str(started.timestamp() - 1800))  # the previous run's worker, 30 min ago
        alerts_watchdog_pass(watching_since=started)
        clock.shift(timedelta(seconds=90))
        alerts_watchdog_pass(watching_since=started)
        assert webhook_receiver.received == [] and not AlertState.objects.filter(firing=True).exists()
        clock.shift(timedelta(seconds=60))  # 150 s in: the worker never came
        alerts_watchdog_pass(watching_since=started)
        assert ops.titles() == ["[Sourcebook] Celery worker heartbeat missing"]


def test_a_restarted_watchdog_still_resolves_a_firing_alert_at_once(ops, webhook_receiver, clean_redis):
    with time_machine.travel(T0, tick=False) as clock:
        alerts_watchdog_pass()  # fired: no heartbeat
        clock.shift(timedelta(minutes=5))
        _alive(clean_redis)
        alerts_watchdog_pass(watching_since=datetime.now(timezone.utc))  # a new watchdog, in its first seconds
        assert ops.titles()[-1] == "[Sourcebook] Resolved: Celery worker heartbeat missing"


def test_an_alert_e_mail_reads_as_sentences_in_its_plain_text_part(smtp_catcher, clean_redis):
    from alerts.models import Destination

    Destination.objects.create(name="mail", url=smtp_catcher.mailto())
    alerts_watchdog_pass()
    [mail] = smtp_catcher.messages
    assert "Start (or restart) the worker and beat processes; check Redis." in " ".join(mail.text.split())
    assert "restart) the\nworker\n" not in mail.text.replace("\r", "")
