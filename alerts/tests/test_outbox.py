"""The notification outbox: queued per subscribed destination, sent by the drain, retried, dead-lettered."""

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.channels import Message
from alerts.models import Destination, Notification
from alerts.services.outbox import notifications_retry, notify, send_claim, send_due, send_one, send_sweep

pytestmark = pytest.mark.django_db
MSG = Message(subject="Dead letters exist", text="3 bookings could not be synced", markdown="*3* bookings", html="<b>3</b>")


def test_each_subscribed_enabled_destination_gets_one_message(destination, webhook_receiver):
    ops = destination("ops", marketing=False, digest=False)
    destination("marketing only", ops=False, digest=False)
    destination("disabled", enabled=False)
    rows = notify("ops", MSG)
    assert [r.destination for r in rows] == [ops]
    assert send_due() == {"sent": 1, "failed": 0}
    [post] = webhook_receiver.received
    assert post["payload"]["title"] == "Dead letters exist" and post["payload"]["message"] == MSG.text
    assert Notification.objects.get().state == "sent"


def test_a_key_is_sent_once_per_destination(destination, webhook_receiver):
    destination("a"), destination("b")
    assert len(notify("digest", MSG, key="digest:2026-11-16")) == 2
    assert notify("digest", MSG, key="digest:2026-11-16") == []
    send_due()
    assert len(webhook_receiver.received) == 2


def test_email_gets_html_with_a_plain_text_part(smtp_catcher, db):
    Destination.objects.create(name="mail", url=smtp_catcher.mailto(to="lead@example.com"))
    notify("ops", Message(subject="Weekly digest", text="ignored for mail", html="<h1>Bookings</h1><p>42 booked</p>"))
    assert send_due()["sent"] == 1
    [mail] = smtp_catcher.messages
    assert mail.subject == "Weekly digest" and mail.recipients == ["lead@example.com"]
    assert "<h1>Bookings</h1>" in mail.html and "42 booked" in mail.text and "<p>" not in mail.text


def test_a_failure_is_retried_with_backoff_then_dead_lettered(destination, webhook_receiver, settings):
    settings.ALERTS_MAX_ATTEMPTS = 3
    destination()
    notify("ops", MSG)
    webhook_receiver.fail_next(3, 503)
    assert send_due() == {"sent": 0, "failed": 1}
    row = Notification.objects.get()
    assert row.state == "pending" and row.attempts == 1 and "503" in row.last_error
    assert row.next_attempt_at > timezone.now()  # backoff: not due yet
    assert send_due() == {"sent": 0, "failed": 0}
    for attempt in (2, 3):
        Notification.objects.update(next_attempt_at=timezone.now())
        send_due()
    row.refresh_from_db()
    assert row.state == "dead" and row.attempts == 3
    assert webhook_receiver.received == []
    assert notifications_retry([row.pk]) == 1  # the admin's retry: sent now, fresh budget
    assert send_due()["sent"] == 1
    row.refresh_from_db()
    assert row.state == "sent" and row.attempts == 1 and webhook_receiver.received


def test_an_unreachable_destination_is_retried(destination):
    destination(url="json://127.0.0.1:9/nothing-listens")
    notify("ops", MSG)
    send_due()
    row = Notification.objects.get()
    assert row.state == "pending" and row.last_error


def test_a_swept_claim_cannot_finish_the_new_owners_row(destination, webhook_receiver, settings):
    destination()
    notify("ops", MSG)
    [stale] = send_claim()
    settings.ALERTS_CLAIM_TIMEOUT_SECONDS = 0
    Notification.objects.update(claimed_at=timezone.now() - timedelta(seconds=5))
    assert send_sweep() == 1  # back to pending: another worker takes it
    [fresh] = send_claim()
    assert send_one(stale) is False  # the stalled worker reaches it: no longer its row, it neither sends ...
    assert Notification.objects.get().state == "in_flight"  # ... nor finishes the new claim
    assert send_one(fresh) is True
    assert Notification.objects.get().state == "sent" and len(webhook_receiver.received) == 1


def test_a_row_swept_while_its_batch_waited_on_a_slow_destination_is_sent_once(destination, webhook_receiver,
                                                                               settings):
    """A worker claims 20 rows at once; behind a hanging SMTP server (15 s per try) the last ones wait longer than
    ALERTS_CLAIM_TIMEOUT_SECONDS, the sweep hands them to another worker, and both used to send them."""
    destination()
    notify("ops", MSG)
    notify("ops", Message(subject="second", text="second"))
    first, late = send_claim()
    assert send_one(first) is True
    settings.ALERTS_CLAIM_TIMEOUT_SECONDS = 0
    Notification.objects.filter(pk=late.pk).update(claimed_at=timezone.now() - timedelta(seconds=5))
    assert send_sweep() == 1 and send_due() == {"sent": 1, "failed": 0}  # the other worker sends it
    send_one(late)  # the first worker gets to it at last
    assert [p["payload"]["title"] for p in webhook_receiver.received].count(late.subject) == 1


def test_a_disabled_destination_keeps_its_messages_pending(destination, webhook_receiver):
    d = destination()
    notify("ops", MSG)
    Destination.objects.filter(pk=d.pk).update(enabled=False)
    send_due()
    assert Notification.objects.get().state == "pending" and webhook_receiver.received == []


def test_unsent_messages_are_scraped_by_prometheus(client, monkeypatch, tmp_path, destination):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    destination()
    rows = notify("ops", MSG) + notify("ops", Message(subject="second", text="t"))
    Notification.objects.filter(pk=rows[0].pk).update(state="dead")
    body = client.get("/metrics").content.decode()
    assert 'sourcebook_notifications{state="pending"} 1.0' in body
    assert 'sourcebook_notifications{state="dead"} 1.0' in body


def test_an_unexpected_error_inside_apprise_is_a_counted_failure_not_a_poison_row(destination, webhook_receiver, settings):
    from unittest import mock

    settings.ALERTS_MAX_ATTEMPTS = 2
    destination()
    notify("ops", MSG)
    with mock.patch("alerts.services.outbox.deliver", side_effect=RuntimeError("plugin bug")):
        assert send_due() == {"sent": 0, "failed": 1}  # the batch goes on; the row is not left in flight
        row = Notification.objects.get()
        assert row.state == "pending" and row.attempts == 1 and row.last_error == "RuntimeError: plugin bug"
        Notification.objects.update(next_attempt_at=timezone.now())
        send_due()
    assert Notification.objects.get().state == "dead"
