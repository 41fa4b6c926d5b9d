"""Rejected deliveries cost bounded disk: trimmed to 16 KiB (unless a key rotation could explain them),
rate-limited per client, purged after the retention — and one signed with a rotated-out key is
recovered by a replay once the key is back."""

import hashlib
import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone

from bookings import calendly
from bookings.models import Booking, WebhookDelivery
from bookings.samples import encode, invitee_payload, signed_headers

pytestmark = pytest.mark.django_db
KIB = 1024
MIB = 1024 * 1024


def post_unsigned(client, body: bytes, **extra):
    return client.post("/webhooks/calendly/", data=body, content_type="application/json", **extra)


def big_invitee(size: int, **kwargs) -> dict:
    """A real-looking invitee.created of about `size` bytes (a long answer)."""
    return invitee_payload(questions_and_answers=[{"question": "Anything else?", "answer": "x" * size, "position": 0}],
                           **kwargs)


# --- what a rejected delivery keeps -----------------------------------------------------------------


def test_an_unsigned_body_keeps_its_first_16_kib_its_size_and_its_sha256(csrf_client):
    body = b"A" * MIB
    assert post_unsigned(csrf_client, body).status_code == 401
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "rejected" and delivery.signature_error == "missing signature header"
    assert bytes(delivery.body) == body[:16 * KIB]
    assert delivery.body_size == MIB
    assert delivery.body_sha256 == hashlib.sha256(body).hexdigest()


def test_an_unsigned_calendly_envelope_is_trimmed_too(csrf_client):
    """No signature header: no replay could ever verify it, so nothing is gained by keeping it whole."""
    body = encode(big_invitee(100 * KIB))
    assert post_unsigned(csrf_client, body).status_code == 401
    delivery = WebhookDelivery.objects.get()
    assert len(delivery.body) == 16 * KIB and delivery.body_size == len(body)


@pytest.mark.parametrize("event", calendly.WEBHOOK_EVENTS)
def test_a_known_calendly_event_with_a_wrong_key_is_kept_whole(post_signed, event):
    body = encode(big_invitee(100 * KIB, event=event))
    assert post_signed(body, key="rotated-out").status_code == 401
    delivery = WebhookDelivery.objects.get()
    assert bytes(delivery.body) == body
    assert delivery.body_size == len(body) and delivery.body_sha256 == hashlib.sha256(body).hexdigest()


@pytest.mark.parametrize("event", [calendly.INVITEE_SNAPSHOT, "routing_form_submission.created", "invitee.created "])
def test_other_event_kinds_with_a_wrong_key_are_trimmed(post_signed, event):
    payload = big_invitee(100 * KIB)
    payload["event"] = event
    body = encode(payload)
    assert post_signed(body, key="rotated-out").status_code == 401
    assert len(WebhookDelivery.objects.get().body) == 16 * KIB


def test_a_signed_delivery_is_kept_whole_with_its_digest(post_signed):
    body = encode(big_invitee(100 * KIB))
    assert post_signed(body).status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert bytes(delivery.body) == body and delivery.state == "processed"
    assert delivery.body_size == len(body) and delivery.body_sha256 == hashlib.sha256(body).hexdigest()


def test_the_delivery_admin_shows_size_digest_and_what_was_kept(client, csrf_client):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw-123456789"))
    body = b"B" * (64 * KIB)
    post_unsigned(csrf_client, body)
    delivery = WebhookDelivery.objects.get()
    page = client.get(f"/admin/bookings/webhookdelivery/{delivery.pk}/change/").content.decode()
    assert hashlib.sha256(body).hexdigest() in page
    assert "65536" in page and f"first {16 * KIB} of {64 * KIB} bytes" in page


# --- replay after a key fix -----------------------------------------------------------------------


def test_a_delivery_signed_with_a_rotated_out_key_is_recovered_by_replay(post_signed, settings, capsys):
    settings.CALENDLY_WEBHOOK_SIGNING_KEYS = ["new-key"]
    payload = invitee_payload(invitee_id="ROTATED", tracking={"utm_source": "google", "utm_medium": "cpc"})
    # Signed a while ago: by the time it is replayed its timestamp is long stale, as any replay's is.
    assert post_signed(payload, key="old-key", timestamp=int(time.time()) - 3600).status_code == 401
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "rejected" and not Booking.objects.exists()

    call_command("replay_deliveries")  # a plain replay leaves rejected deliveries alone
    assert WebhookDelivery.objects.get().state == "rejected"
    call_command("replay_deliveries", "--rejected")  # the key is still missing: still rejected
    assert WebhookDelivery.objects.get().state == "rejected" and not Booking.objects.exists()
    assert "1 rejected" in capsys.readouterr().out

    settings.CALENDLY_WEBHOOK_SIGNING_KEYS = ["new-key", "old-key"]  # the key is fixed
    call_command("replay_deliveries", "--rejected")
    assert "1 processed" in capsys.readouterr().out
    delivery.refresh_from_db()
    assert delivery.state == "processed" and delivery.signature_valid is True
    assert "verified on replay" in delivery.signature_error and "signature mismatch" in delivery.signature_error
    booking = Booking.objects.get()
    assert booking.invitee_uri == payload["payload"]["uri"] and booking.source == "google"


def test_a_trimmed_or_forged_rejection_never_verifies_on_replay(post_signed, csrf_client, settings):
    body = encode(big_invitee(100 * KIB, invitee_id="TRIM"))
    headers = signed_headers(body, key="test-signing-key")
    # Unsigned (header dropped): trimmed, and it would not verify anyway.
    post_unsigned(csrf_client, body)
    # Forged: kept whole, but no configured key signs it.
    post_signed(encode(invitee_payload(invitee_id="FORGED")), key="attacker")
    # Too large: nothing kept.
    settings.WEBHOOK_MAX_BODY_BYTES = 50 * KIB
    csrf_client.post("/webhooks/calendly/", data=body, content_type="application/json",
                     headers={calendly.SIGNATURE_HEADER: headers[calendly.SIGNATURE_HEADER]})
    assert WebhookDelivery.objects.filter(state="rejected").count() == 3
    call_command("replay_deliveries", "--rejected")
    assert WebhookDelivery.objects.filter(state="rejected").count() == 3
    assert not Booking.objects.exists()


def test_the_admin_replay_action_re_verifies_a_rejected_delivery(client, post_signed, settings):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw-123456789"))
    settings.CALENDLY_WEBHOOK_SIGNING_KEYS = ["new-key"]
    post_signed(invitee_payload(invitee_id="ADMIN"), key="old-key")
    delivery = WebhookDelivery.objects.get()
    settings.CALENDLY_WEBHOOK_SIGNING_KEYS = ["new-key", "old-key"]
    response = client.post("/admin/bookings/webhookdelivery/", {"action": "replay", "_selected_action": [delivery.pk]},
                           follow=True)
    assert "Replayed: 1 processed" in response.content.decode()
    assert Booking.objects.filter(invitee_uri=delivery.invitee_uri).exists()


# --- rate limit per client ------------------------------------------------------------------------


@pytest.fixture
def one_window():
    """The limiter counts per clock minute: start a throttling test well inside one."""
    if time.time() % 60 > 45:
        time.sleep(60.5 - time.time() % 60)


def test_a_flood_of_unsigned_mebibytes_costs_at_most_the_limit_of_16_kib_rows(csrf_client, settings, one_window):
    """206 unsigned 1 MiB requests used to store 206 MB."""
    assert settings.WEBHOOK_REJECT_RATE_LIMIT == 60  # the default
    body = b"{" + b"x" * (MIB - 1)
    codes = [post_unsigned(csrf_client, body) for _ in range(206)]
    assert [r.status_code for r in codes].count(401) == 60
    throttled = [r for r in codes if r.status_code == 429]
    assert len(throttled) == 146
    assert all(1 <= int(r.headers["Retry-After"]) <= 60 for r in throttled)
    assert WebhookDelivery.objects.count() == 60
    stored = sum(len(b) for b in WebhookDelivery.objects.values_list("body", flat=True))
    assert stored <= 60 * 16 * KIB


def test_a_correctly_signed_delivery_is_never_throttled(csrf_client, post_signed, settings, one_window):
    settings.WEBHOOK_REJECT_RATE_LIMIT = 2
    for _ in range(4):
        post_unsigned(csrf_client, b"junk")
    assert post_unsigned(csrf_client, b"junk").status_code == 429
    for n in range(5):  # same address, right after it was throttled
        assert post_signed(invitee_payload(invitee_id=f"OK{n}")).status_code == 200
    assert Booking.objects.count() == 5
    assert post_signed(invitee_payload(), key="forged").status_code == 429


def test_the_limit_is_per_client_address(csrf_client, settings, one_window):
    settings.WEBHOOK_REJECT_RATE_LIMIT = 1
    assert post_unsigned(csrf_client, b"junk", REMOTE_ADDR="198.51.100.1").status_code == 401
    assert post_unsigned(csrf_client, b"junk", REMOTE_ADDR="198.51.100.1").status_code == 429
    assert post_unsigned(csrf_client, b"junk", REMOTE_ADDR="198.51.100.2").status_code == 401
    # IPv6 counts per /64: rotating the interface id does not buy a fresh budget.
    assert post_unsigned(csrf_client, b"junk", REMOTE_ADDR="2001:db8:1:2::1").status_code == 401
    assert post_unsigned(csrf_client, b"junk", REMOTE_ADDR="2001:db8:1:2::ffff").status_code == 429
    assert post_unsigned(csrf_client, b"junk", REMOTE_ADDR="2001:db8:1:3::1").status_code == 401


def test_a_forwarded_for_header_anyone_can_send_buys_no_fresh_budget(csrf_client, settings, one_window):
    settings.WEBHOOK_REJECT_RATE_LIMIT = 1
    settings.TRUSTED_PROXY_COUNT, settings.TRUSTED_PROXIES = 0, []
    assert post_unsigned(csrf_client, b"junk", HTTP_X_FORWARDED_FOR="203.0.113.1").status_code == 401
    assert post_unsigned(csrf_client, b"junk", HTTP_X_FORWARDED_FOR="203.0.113.2").status_code == 429
    assert WebhookDelivery.objects.get().remote_addr == "127.0.0.1"


def test_behind_a_trusted_proxy_the_client_is_the_forwarded_address(csrf_client, settings, one_window):
    settings.WEBHOOK_REJECT_RATE_LIMIT = 1
    settings.TRUSTED_PROXY_COUNT = 1
    assert post_unsigned(csrf_client, b"junk", HTTP_X_FORWARDED_FOR="spoofed, 203.0.113.1").status_code == 401
    assert post_unsigned(csrf_client, b"junk", HTTP_X_FORWARDED_FOR="203.0.113.1").status_code == 429
    assert post_unsigned(csrf_client, b"junk", HTTP_X_FORWARDED_FOR="203.0.113.2").status_code == 401
    assert sorted(WebhookDelivery.objects.values_list("remote_addr", flat=True)) == ["203.0.113.1", "203.0.113.2"]


def test_oversized_bodies_count_as_rejections(post_signed, settings, one_window):
    settings.WEBHOOK_REJECT_RATE_LIMIT = 1
    settings.WEBHOOK_MAX_BODY_BYTES = 10 * KIB
    assert post_signed(big_invitee(20 * KIB)).status_code == 413
    assert post_signed(big_invitee(20 * KIB)).status_code == 429
    delivery = WebhookDelivery.objects.get()
    assert bytes(delivery.body) == b"" and delivery.body_size > 20 * KIB and delivery.body_sha256 == ""


def test_without_redis_rejections_are_still_answered_and_stored(csrf_client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    settings.WEBHOOK_REJECT_RATE_LIMIT = 1
    for _ in range(3):
        assert post_unsigned(csrf_client, b"junk").status_code == 401
    assert WebhookDelivery.objects.count() == 3


# --- retention ------------------------------------------------------------------------------------


def test_beat_purges_old_rejected_deliveries_and_keeps_everything_else(csrf_client, post_signed, settings):
    from bookings.services.intake import deliveries_purge_rejected
    from bookings.tasks import purge_rejected_deliveries_task
    from project.celery import app

    assert settings.WEBHOOK_REJECTED_RETENTION_DAYS == 30
    entry = next(e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "bookings.purge_rejected_deliveries")
    assert entry["schedule"] == 86400.0 and "bookings.purge_rejected_deliveries" in app.tasks

    for n in range(5):
        post_unsigned(csrf_client, b"old junk %d" % n)
    post_signed(invitee_payload(invitee_id="OLD"))
    post_signed(b'{"event": "invitee.created", "payload": "broken"}')  # failed
    old = timezone.now() - timedelta(days=31)
    WebhookDelivery.objects.update(received_at=old)
    post_unsigned(csrf_client, b"recent junk")
    WebhookDelivery.objects.filter(body=b"recent junk").update(received_at=timezone.now() - timedelta(days=29))

    assert deliveries_purge_rejected(batch_size=2) == 5  # in batches, to the end
    assert purge_rejected_deliveries_task() == 0
    states = sorted(WebhookDelivery.objects.values_list("state", flat=True))
    assert states == ["failed", "processed", "rejected"]
    assert bytes(WebhookDelivery.objects.get(state="rejected").body) == b"recent junk"
    assert Booking.objects.count() == 1


def test_a_zero_retention_keeps_rejected_deliveries(csrf_client, settings):
    from bookings.tasks import purge_rejected_deliveries_task

    settings.WEBHOOK_REJECTED_RETENTION_DAYS = 0
    post_unsigned(csrf_client, b"junk")
    WebhookDelivery.objects.update(received_at=timezone.now() - timedelta(days=400))
    assert purge_rejected_deliveries_task() == 0
    assert WebhookDelivery.objects.count() == 1
