import json
from datetime import datetime, timedelta, timezone

import pytest

from bookings import calendly
from bookings.models import Booking, WebhookDelivery
from bookings.samples import encode, invitee_payload, signed_headers

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 6, 9, 21, 37, tzinfo=timezone.utc)


def test_it_stores_the_delivery_and_derives_a_booking(post_signed):
    payload = invitee_payload(tracking={"utm_source": "LinkedIn", "utm_medium": "paid", "utm_campaign": "spring"},
                              questions_and_answers=[{"question": "Company size?", "answer": "11-50", "position": 0}])
    response = post_signed(payload)
    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert bytes(delivery.body) == encode(payload)
    assert delivery.state == "processed"
    assert delivery.signature_valid is True
    assert delivery.event_type == "invitee.created"
    booking = Booking.objects.get()
    assert booking.invitee_uri == payload["payload"]["uri"]
    assert booking.email == "dana@example.com"
    assert booking.status == "active"
    assert booking.event_type_name == "Product demo"
    assert booking.tracking["utm_source"] == "LinkedIn"
    assert booking.source == "linkedin"
    assert booking.questions_and_answers[0]["answer"] == "11-50"
    assert booking.start_time is not None and booking.booked_at is not None


def test_it_ignores_a_duplicate_delivery(post_signed):
    payload = invitee_payload()
    for _ in range(2):
        assert post_signed(payload).status_code == 200
    assert Booking.objects.count() == 1
    assert WebhookDelivery.objects.count() == 2
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"processed"}


@pytest.mark.parametrize(
    "header",
    [None, "garbage", "t=123", "v1=abc", "t=abc,v1=def"],
)
def test_it_rejects_missing_or_malformed_signatures(csrf_client, header):
    body = encode(invitee_payload())
    headers = {calendly.SIGNATURE_HEADER: header} if header else {}
    response = csrf_client.post("/webhooks/calendly/", data=body, content_type="application/json", headers=headers)
    assert response.status_code == 401
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "rejected"
    assert bytes(delivery.body) == body
    assert Booking.objects.count() == 0


def test_it_rejects_a_wrong_key(post_signed):
    assert post_signed(invitee_payload(), key="someone-else").status_code == 401
    assert WebhookDelivery.objects.get().signature_error == "signature mismatch"
    assert not Booking.objects.exists()


def test_it_rejects_stale_signature(post_signed, settings):
    import time

    stale = int(time.time()) - settings.CALENDLY_WEBHOOK_TOLERANCE_SECONDS - 5
    assert post_signed(invitee_payload(), timestamp=stale).status_code == 401
    assert WebhookDelivery.objects.get().signature_error == "stale signature timestamp"
    assert not Booking.objects.exists()


def test_it_accepts_any_configured_key_for_rotation(post_signed, settings):
    settings.CALENDLY_WEBHOOK_SIGNING_KEYS = ["new-key", "old-key"]
    assert post_signed(invitee_payload(), key="old-key").status_code == 200
    assert post_signed(invitee_payload(), key="new-key").status_code == 200
    assert Booking.objects.count() == 2


def test_it_rejects_a_tampered_body(csrf_client):
    body = encode(invitee_payload())
    headers = signed_headers(body, key="test-signing-key")
    tampered = body.replace(b"dana@example.com", b"evil@example.com")
    response = csrf_client.post("/webhooks/calendly/", data=tampered, content_type="application/json",
                                headers={calendly.SIGNATURE_HEADER: headers[calendly.SIGNATURE_HEADER]})
    assert response.status_code == 401
    assert not Booking.objects.exists()


def test_signature_matches_the_reference_test_vector():
    body = b'{"event":"invitee.created"}'
    expected = "t=1700000000,v1=35702d53e0c18f340fa3907a32ab5229ce2e29bf7919419d2408eeaf31335b7c"
    assert calendly.signature_header(body=body, key="test-signing-key", timestamp=1700000000) == expected
    assert calendly.signature_verify(header=expected, body=body, keys=["test-signing-key"], now=1700000000, tolerance=180) == ""


@pytest.mark.parametrize("body", [b"not json", b"[1,2]", b'{"payload":{}}', b'{"event":"invitee.created","payload":{"uri":5}}',
                                  b'{"event":"invitee.created","payload":{"uri":"https://x/i/1","tracking":"utm"}}'])
def test_it_keeps_unreadable_but_signed_bodies_as_failed(post_signed, body):
    response = post_signed(body)
    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "failed"
    assert delivery.error
    assert not Booking.objects.exists()


def test_it_ignores_unknown_event_types(post_signed):
    response = post_signed({"event": "routing_form_submission.created", "payload": {"uri": "https://x"}})
    assert response.status_code == 200
    assert WebhookDelivery.objects.get().state == "ignored"
    assert not Booking.objects.exists()


def test_it_refuses_bodies_over_one_mebibyte(post_signed):
    huge = invitee_payload(questions_and_answers=[{"question": "q", "answer": "x" * (1024 * 1024), "position": 0}])
    response = post_signed(huge)
    assert response.status_code == 413
    assert WebhookDelivery.objects.get().state == "rejected"
    assert not Booking.objects.exists()


def test_it_only_accepts_post(csrf_client):
    assert csrf_client.get("/webhooks/calendly/").status_code == 405
    assert csrf_client.put("/webhooks/calendly/", data=b"{}", content_type="application/json").status_code == 405


def _deadlock():
    from django.db import OperationalError
    from psycopg import errors

    exc = OperationalError("deadlock detected")
    exc.__cause__ = errors.DeadlockDetected("deadlock detected")
    return exc


def test_a_deadlock_with_a_concurrent_writer_is_retried(post_signed, monkeypatch):
    from bookings.services import intake as services

    real, calls = services.booking_rebuild, {"n": 0}

    def once_deadlocked(**kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise _deadlock()
        return real(**kwargs)

    monkeypatch.setattr(services, "booking_rebuild", once_deadlocked)
    assert post_signed(invitee_payload(invitee_id="A")).status_code == 200
    assert WebhookDelivery.objects.get().state == "processed" and Booking.objects.count() == 1


def test_a_lasting_conflict_keeps_the_delivery_for_the_stuck_sweep_not_as_failed(post_signed, monkeypatch):
    """A 200 must never mean 'stored but its effect forgotten': `failed` rows are not folded again."""
    from bookings.services import intake as services

    real = services.booking_rebuild

    def always_deadlocked(**kwargs):
        raise _deadlock()

    monkeypatch.setattr(services, "booking_rebuild", always_deadlocked)
    assert post_signed(invitee_payload(invitee_id="A")).status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "received" and "deadlock" in delivery.error and not Booking.objects.exists()
    monkeypatch.setattr(services, "booking_rebuild", real)
    assert services.deliveries_process_stuck(older_than_seconds=-5) == 1
    assert WebhookDelivery.objects.get().state == "processed" and Booking.objects.count() == 1


def test_it_answers_503_when_the_database_is_unreachable(post_signed, monkeypatch):
    from django.db import OperationalError

    def broken(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr("bookings.services.intake._delivery_insert", broken)
    response = post_signed(invitee_payload())
    assert response.status_code == 503
    assert response.headers["Retry-After"]


def test_a_cancel_marks_the_booking_canceled(post_signed):
    created = invitee_payload(invitee_id="A", booked_at=T0)
    canceled = invitee_payload(event=calendly.INVITEE_CANCELED, invitee_id="A", booked_at=T0,
                               updated_at=T0 + timedelta(hours=1), cancel_reason="Clash")
    post_signed(created)
    post_signed(canceled)
    booking = Booking.objects.get()
    assert booking.status == "canceled"
    assert booking.cancel_reason == "Clash"
    assert booking.canceled_by == "Dana Reyes"
    assert booking.canceled_at == T0 + timedelta(hours=1)


def test_a_late_create_does_not_undo_an_earlier_cancel(post_signed):
    canceled = invitee_payload(event=calendly.INVITEE_CANCELED, invitee_id="A", booked_at=T0, updated_at=T0 + timedelta(hours=1))
    created = invitee_payload(invitee_id="A", booked_at=T0)
    post_signed(canceled)
    assert Booking.objects.get().status == "canceled"
    post_signed(created)
    assert Booking.objects.get().status == "canceled"


def test_no_show_created_and_deleted_set_and_clear_the_flag(post_signed):
    post_signed(invitee_payload(invitee_id="A", booked_at=T0))
    post_signed(invitee_payload(event=calendly.NO_SHOW_CREATED, invitee_id="A", booked_at=T0, occurred_at=T0 + timedelta(days=3)))
    assert Booking.objects.get().no_show is True
    post_signed(invitee_payload(event=calendly.NO_SHOW_DELETED, invitee_id="A", booked_at=T0, occurred_at=T0 + timedelta(days=4)))
    assert Booking.objects.get().no_show is False


def test_older_payloads_without_scheduled_event_are_accepted(post_signed):
    payload = invitee_payload(invitee_id="OLD")
    del payload["payload"]["scheduled_event"]
    for key in ("first_name", "last_name", "scheduling_method", "invitee_scheduled_by"):
        payload["payload"].pop(key)
    assert post_signed(payload).status_code == 200
    booking = Booking.objects.get()
    assert booking.event_uri == payload["payload"]["event"]
    assert booking.start_time is None


def test_pre_v2_nested_payloads_are_accepted(post_signed):
    payload = {
        "event": "invitee.created",
        "time": "2019-08-07T06:05:04Z",
        "payload": {
            "event_type": {"uuid": "ET", "name": "Legacy demo"},
            "event": {"uuid": "EVOLD", "start_time": "2019-08-10T10:00:00Z", "end_time": "2019-08-10T10:30:00Z"},
            "invitee": {"uuid": "INVOLD", "email": "Old@Example.com", "name": "Old Timer", "created_at": "2019-08-07T06:05:04Z", "canceled": False},
            "questions_and_answers": [],
            "tracking": {"utm_source": "google", "utm_medium": "cpc"},
        },
    }
    assert post_signed(payload).status_code == 200
    booking = Booking.objects.get()
    assert booking.invitee_uri.endswith("/scheduled_events/EVOLD/invitees/INVOLD")
    assert booking.email == "old@example.com"
    assert booking.event_type_name == "Legacy demo"
    assert booking.source == "google"


def test_a_reschedule_links_both_halves_and_counts_once(post_signed):
    from bookings.selectors import booking_countable

    old_uri = "https://api.calendly.com/scheduled_events/EV-OLD/invitees/OLD"
    new_uri = "https://api.calendly.com/scheduled_events/EV-NEW/invitees/NEW"
    utm = {"utm_source": "linkedin", "utm_medium": "paid", "utm_campaign": "spring_launch"}
    post_signed(invitee_payload(invitee_id="OLD", event_id="EV-OLD", booked_at=T0, tracking=utm))
    # New half arrives before the cancel of the old half, with empty tracking.
    post_signed(invitee_payload(invitee_id="NEW", event_id="EV-NEW", booked_at=T0 + timedelta(hours=2), old_invitee=old_uri))
    post_signed(invitee_payload(event=calendly.INVITEE_CANCELED, invitee_id="OLD", event_id="EV-OLD", booked_at=T0,
                                updated_at=T0 + timedelta(hours=2), rescheduled=True, new_invitee=new_uri, tracking=utm))
    old, new = Booking.objects.get(invitee_uri=old_uri), Booking.objects.get(invitee_uri=new_uri)
    assert old.rescheduled is True and old.status == "canceled"
    assert new.rescheduled_from == old
    assert new.source == "linkedin" and new.campaign == "spring_launch"
    assert list(booking_countable().values_list("invitee_uri", flat=True)) == [new_uri]


def test_the_new_half_inherits_tracking_when_it_arrives_first(post_signed):
    old_uri = "https://api.calendly.com/scheduled_events/EV-OLD/invitees/OLD"
    post_signed(invitee_payload(invitee_id="NEW", event_id="EV-NEW", booked_at=T0 + timedelta(hours=2), old_invitee=old_uri))
    assert Booking.objects.get().source == "(direct)"
    post_signed(invitee_payload(invitee_id="OLD", event_id="EV-OLD", booked_at=T0, tracking={"utm_source": "google", "utm_medium": "cpc"}))
    new = Booking.objects.get(invitee_uri__endswith="/NEW")
    assert new.source == "google"
    assert Booking.objects.get(invitee_uri=old_uri).rescheduled is True


def test_the_webhook_response_never_leaks_the_signing_key(post_signed):
    response = post_signed(invitee_payload(), key="wrong")
    assert "test-signing-key" not in json.dumps(response.json())


def test_a_crash_while_deriving_keeps_the_raw_delivery_as_failed(post_signed, monkeypatch):
    def crash(**kwargs):
        raise RuntimeError("bug in derivation")

    monkeypatch.setattr("bookings.services.intake.booking_rebuild", crash)
    payload = invitee_payload()
    response = post_signed(payload)
    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "failed"
    assert "bug in derivation" in delivery.error and "Traceback" in delivery.traceback
    assert bytes(delivery.body) == encode(payload)
    assert not Booking.objects.exists()
    monkeypatch.undo()
    from django.core.management import call_command

    call_command("replay_deliveries", "--failed")
    assert Booking.objects.count() == 1


@pytest.mark.parametrize("debug", [True, False])
@pytest.mark.parametrize("url", ["/webhooks/calendly/", "/webhooks/calendly"])
def test_the_callback_answers_with_or_without_the_trailing_slash(post_signed, settings, debug, url):
    """Calendly counts a 3xx as a failed delivery: APPEND_SLASH's redirect (or its DEBUG-mode 500) loses it."""
    settings.DEBUG = debug
    if not debug:  # production's hardening, as project/settings.py sets it with DEBUG=0
        settings.SECURE_SSL_REDIRECT = True
        settings.SECURE_REDIRECT_EXEMPT = [r"^webhooks/"]
    payload = invitee_payload(invitee_id=f"SLASH-{debug}")
    response = post_signed(payload, url=url)
    assert response.status_code == 200, response.content
    assert Booking.objects.get().invitee_uri == payload["payload"]["uri"]
    assert post_signed(payload, url=url, key="forged").status_code == 401
    assert WebhookDelivery.objects.count() == 2


def test_the_phone_and_the_host_are_kept_from_the_payload(post_signed):
    """Calendly's text_reminder_number becomes the booking's phone (the HubSpot `phone` mapping writes it) and the
    first event membership's email its host (mapped to a HubSpot contact owner)."""
    booked = T0
    post_signed(invitee_payload(invitee_id="P", booked_at=booked, text_reminder_number=" +1 404-555-0199 ",
                                host_email="Sam.Seller@Sourcebook.example"))
    booking = Booking.objects.get()
    assert (booking.phone, booking.host_email) == ("+1 404-555-0199", "sam.seller@sourcebook.example")
    # A later delivery without a number (a no-show mark, a cancel) keeps the one given.
    post_signed(invitee_payload(invitee_id="P", booked_at=booked, event=calendly.INVITEE_CANCELED,
                                updated_at=booked + timedelta(hours=1)))
    assert Booking.objects.get().phone == "+1 404-555-0199"


@pytest.mark.parametrize("number,memberships", [({"n": 1}, "host"), (["+1"], [None, 3]), (True, [{"user_email": 5}])])
def test_an_oddly_shaped_phone_or_host_is_left_out_not_refused(post_signed, number, memberships):
    payload = invitee_payload(invitee_id="Q")
    payload["payload"]["text_reminder_number"] = number
    payload["payload"]["scheduled_event"]["event_memberships"] = memberships
    assert post_signed(payload).status_code == 200
    booking = Booking.objects.get()
    assert (booking.phone, booking.host_email) == ("", "")
