"""`manage.py forget_person`: what a person's erasure removes, what it keeps, and that they never come back."""

import io
from datetime import timedelta

import httpx
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from bookings import calendly
from bookings.models import Booking, Suppression, WebhookDelivery
from bookings.samples import encode, invitee_payload, signed_headers
from bookings.services.backfill import backfill_invitee
from bookings.services.intake import deliveries_replay, delivery_record
from bookings.suppression import body_redact, email_hash
from conftest import TEST_KEY
from hubspot_sync.models import BookingSync, ContactErasure
from hubspot_sync.services.erasure import erasure_drain, erasure_retry
from journeys.models import Touch
from journeys.services import visitor_id_new
from journeys.tests.factories import TouchFactory
from privacy.services import person_forget
from privacy.tests.conftest import fake_config, fake_state

pytestmark = pytest.mark.django_db

DANA = "dana@example.com"
QA = [{"question": "How did you hear about us?", "answer": "LinkedIn, my phone is +49 170 1234567", "position": 0}]


def _forget(*args) -> str:
    out = io.StringIO()
    call_command("forget_person", *args, stdout=out, stderr=out)
    return out.getvalue()


@pytest.fixture
def dana(post_signed):
    """Dana booked with her visitor id beside UTMs, answered a question, then canceled; she has two touches.
    Erin, someone else, booked too and has a touch."""
    vid = visitor_id_new()
    TouchFactory(visitor_id=vid, source="linkedin", medium="paid_social", channel="Paid Social")
    TouchFactory(visitor_id=vid)
    TouchFactory()  # an anonymous visitor: not Dana's
    tracking = {"utm_source": "linkedin", "utm_medium": "paid_social", "utm_campaign": "spring_launch_202606",
                "utm_term": vid}
    booked = timezone.now() - timedelta(days=2)
    assert post_signed(invitee_payload(invitee_id="DANA", email="Dana@Example.com", name="Dana Reyes", tracking=tracking,
                                       questions_and_answers=QA, booked_at=booked,
                                       text_reminder_number="+49 170 7654321")).status_code == 200
    assert post_signed(invitee_payload(invitee_id="DANA", email="Dana@Example.com", name="Dana Reyes", tracking=tracking,
                                       questions_and_answers=QA, booked_at=booked, event=calendly.INVITEE_CANCELED,
                                       updated_at=booked + timedelta(hours=1), cancel_reason="Dana is ill")).status_code == 200
    assert post_signed(invitee_payload(invitee_id="ERIN", email="erin@example.com", name="Erin Cole",
                                       tracking={"utm_source": "google", "utm_medium": "cpc"})).status_code == 200
    return vid


def _personal(body: bytes) -> list[str]:
    text = bytes(body).decode().lower()
    return [s for s in ("dana@example.com", "dana reyes", "+49 170", "dana is ill") if s in text]


def test_forget_erases_touches_personal_fields_and_raw_data_and_reports_counts(dana):
    before = Booking.objects.get(invitee_uri__endswith="/DANA")
    # The id beside other UTMs is the visitor (issue 13 stitching), never the term.
    assert before.email == DANA and before.visitor_id == dana and before.term == "" and before.tracking["utm_term"] == dana
    assert before.phone == "+49 170 7654321"  # kept from text_reminder_number (a later delivery without it keeps it)

    out = _forget("--email", " DANA@example.com ")

    assert "journey touches and clicks deleted: 2" in out
    assert "raw deliveries redacted: 2" in out
    assert "bookings blanked (personal fields): 1" in out
    assert "HubSpot GDPR delete: queued" in out
    assert not Touch.objects.filter(visitor_id=dana).exists() and Touch.objects.count() == 1
    after = Booking.objects.get(pk=before.pk)
    assert (after.email, after.name, after.questions_and_answers, after.cancel_reason, after.canceled_by) == ("", "", [], "", "")
    assert after.phone == ""
    assert after.tracking.get("utm_term") is None and dana not in str(after.tracking)
    assert after.visitor_id == ""
    # attribution and status stay, so every report counts what it counted before
    for name in ("source", "medium", "campaign", "channel", "status", "booked_at", "start_time", "canceled_at",
                 "event_type_name", "rescheduled"):
        assert getattr(after, name) == getattr(before, name), name
    deliveries = WebhookDelivery.objects.filter(invitee_uri=before.invitee_uri)
    assert deliveries.count() == 2
    for delivery in deliveries:
        assert _personal(delivery.body) == []
        assert before.invitee_uri in delivery.body_text and "spring_launch_202606" in delivery.body_text
        assert delivery.body_size == len(delivery.body)
    erin = Booking.objects.get(invitee_uri__endswith="/ERIN")
    assert erin.email == "erin@example.com" and erin.name == "Erin Cole"
    [entry] = Suppression.objects.all()
    assert entry.email_hash == email_hash(DANA) and "@" not in entry.email_hash and len(entry.email_hash) == 64
    assert ContactErasure.objects.get().state == "pending"
    sync = BookingSync.objects.get(booking=before)
    assert sync.state == "discarded" and sync.last_request is None


def test_a_replay_of_every_stored_delivery_does_not_bring_the_person_back(dana):
    _forget("--email", DANA)
    deliveries_replay(queryset=WebhookDelivery.objects.all())
    assert not Booking.objects.filter(email=DANA).exists()
    booking = Booking.objects.get(invitee_uri__endswith="/DANA")
    assert (booking.email, booking.name, booking.status, booking.source) == ("", "", "canceled", "linkedin")
    assert Booking.objects.count() == 2


def test_a_new_webhook_of_a_forgotten_email_is_stored_redacted_and_makes_no_booking(dana, post_signed):
    _forget("--email", DANA)
    response = post_signed(invitee_payload(invitee_id="AGAIN", email="DANA@example.com", name="Dana Reyes",
                                           questions_and_answers=QA))
    assert response.status_code == 200
    assert not Booking.objects.filter(invitee_uri__endswith="/AGAIN").exists()
    delivery = WebhookDelivery.objects.get(invitee_uri__endswith="/AGAIN")
    assert delivery.state == "suppressed" and _personal(delivery.body) == []
    deliveries_replay(queryset=WebhookDelivery.objects.filter(pk=delivery.pk))  # a replay keeps it so
    assert not Booking.objects.filter(invitee_uri__endswith="/AGAIN").exists()


def test_a_stored_unprocessed_delivery_of_a_forgotten_email_is_suppressed_on_replay(dana):
    person_forget(email=DANA)
    body = encode(invitee_payload(invitee_id="LATE", email=DANA, name="Dana Reyes"))
    signature = signed_headers(body, key=TEST_KEY)[calendly.SIGNATURE_HEADER]
    delivery = delivery_record(body=body, headers={"calendly-webhook-signature": signature}, remote_addr="127.0.0.1")
    assert delivery.state == "received"
    deliveries_replay(queryset=WebhookDelivery.objects.filter(pk=delivery.pk))
    delivery.refresh_from_db()
    assert delivery.state == "suppressed" and _personal(delivery.body) == []
    assert not Booking.objects.filter(invitee_uri__endswith="/LATE").exists()


def test_a_backfill_of_a_forgotten_email_stores_nothing(dana):
    person_forget(email=DANA)
    payload = invitee_payload(invitee_id="BACK", email="Dana@example.com")["payload"]
    event = payload.pop("scheduled_event")
    assert backfill_invitee(invitee=payload, event=event) == "suppressed"
    assert not WebhookDelivery.objects.filter(invitee_uri__endswith="/BACK").exists()
    assert not Booking.objects.filter(invitee_uri__endswith="/BACK").exists()


def test_dry_run_changes_nothing(dana):
    booking = Booking.objects.get(invitee_uri__endswith="/DANA")
    bodies = {d.pk: bytes(d.body) for d in WebhookDelivery.objects.all()}
    out = _forget("--email", DANA, "--dry-run")
    assert "Dry run" in out and "journey touches and clicks deleted: 2" in out and "raw deliveries redacted: 2" in out
    assert Touch.objects.filter(visitor_id=dana).count() == 2
    assert Booking.objects.get(pk=booking.pk).email == DANA
    assert {d.pk: bytes(d.body) for d in WebhookDelivery.objects.all()} == bodies
    assert not Suppression.objects.exists() and not ContactErasure.objects.exists()
    assert BookingSync.objects.get(booking=booking).state == "pending"


def test_an_unknown_email_says_so_exits_1_and_writes_nothing(dana):
    err = io.StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("forget_person", "--email", "nobody@example.com", stdout=io.StringIO(), stderr=err)
    assert exit_info.value.code == 1
    assert "No data held for this email" in err.getvalue()
    assert not Suppression.objects.exists() and not ContactErasure.objects.exists()
    with pytest.raises(CommandError, match="not an email"):
        call_command("forget_person", "--email", "not-an-email", stdout=io.StringIO())


def test_forgetting_twice_is_harmless(dana):
    _forget("--email", DANA)
    out = _forget("--email", DANA)  # exits 0
    assert "suppression: already on the list" in out and "bookings blanked (personal fields): 0" in out
    assert Suppression.objects.count() == 1 and ContactErasure.objects.count() == 1


# --- HubSpot's GDPR delete, through the outbox -------------------------------------------------------


def test_the_gdpr_delete_reaches_hubspot_through_the_outbox(dana, fake_hubspot):
    httpx.post(f"{fake_hubspot.url}/crm/objects/2026-09/contacts/batch/upsert", headers={"Authorization": "Bearer fake-token"},
               json={"inputs": [{"idProperty": "email", "id": DANA, "properties": {"firstname": "Dana"}}]}).raise_for_status()
    assert DANA in fake_state(fake_hubspot)["contacts"]
    _forget("--email", DANA)
    assert DANA in fake_state(fake_hubspot)["contacts"]  # never sent by the command itself
    report = erasure_drain()
    assert report.done == 1
    state = fake_state(fake_hubspot)
    assert DANA not in state["contacts"] and DANA in state["gdpr_blocklist"]
    row = ContactErasure.objects.get()
    assert row.state == "done" and row.email == "" and row.email_hash == email_hash(DANA)


def test_the_gdpr_delete_is_retried_after_5xx_and_429_then_dead_lettered(dana, fake_hubspot, settings):
    settings.HUBSPOT_MAX_ATTEMPTS = 2
    person_forget(email=DANA)
    fake_config(fake_hubspot, down=True)
    erasure_drain()
    row = ContactErasure.objects.get()
    assert (row.state, row.attempts, row.last_status) == ("pending", 1, 503)
    assert erasure_drain().claimed == 0  # backing off
    fake_config(fake_hubspot, down=False, rate_429=1.0)
    ContactErasure.objects.update(next_attempt_at=timezone.now())
    erasure_drain()
    row.refresh_from_db()
    assert (row.state, row.attempts, row.last_status) == ("pending", 1, 429)  # a 429 costs no attempt
    fake_config(fake_hubspot, rate_429=0.0, down=True)
    ContactErasure.objects.update(next_attempt_at=timezone.now())
    erasure_drain()
    row.refresh_from_db()
    assert row.state == "dead" and "gave up after 2 attempts" in row.last_error and row.email == DANA
    # the admin's retry sends it again once HubSpot is back
    fake_config(fake_hubspot, down=False)
    assert erasure_retry(ids=[row.pk]) == 1
    erasure_drain()
    row.refresh_from_db()
    assert row.state == "done" and DANA in fake_state(fake_hubspot)["gdpr_blocklist"]


def test_without_hubspot_credentials_the_erasure_is_skipped_not_sent(dana, settings):
    settings.HUBSPOT_ACCESS_TOKEN = ""
    settings.HUBSPOT_CLIENT_ID = ""
    person_forget(email=DANA)
    erasure_drain()
    row = ContactErasure.objects.get()
    assert row.state == "skipped" and row.email == DANA  # kept, so a retry can send it once connected


def test_the_fake_refuses_what_hubspot_refuses(fake_hubspot):
    url = f"{fake_hubspot.url}/crm/objects/2026-09/contacts/gdpr-delete"
    auth = {"Authorization": "Bearer fake-token"}
    assert httpx.post(url, headers=auth, json={"idProperty": "email"}).status_code == 400  # objectId is required
    assert httpx.post(url, headers=auth, json={"objectId": 42, "idProperty": "email"}).status_code == 400
    assert httpx.post(url, headers=auth, json={"objectId": DANA, "idProperty": "phone"}).status_code == 400
    assert httpx.post(url, headers=auth, json={"objectId": DANA, "idProperty": "email", "email": DANA}).status_code == 400
    assert httpx.post(url, headers=auth, json={"objectId": "not-an-email", "idProperty": "email"}).status_code == 400
    assert httpx.post(url, headers=auth, json={"objectId": "999999"}).status_code == 404  # by id: must exist
    assert httpx.post(url, json={"objectId": DANA, "idProperty": "email"}).status_code == 401
    retired = f"{fake_hubspot.url}/crm/v3/objects/contacts/gdpr-delete"
    assert httpx.post(retired, headers=auth, json={"objectId": DANA, "idProperty": "email"}).status_code == 404
    ok = httpx.post(url, headers=auth, json={"objectId": DANA, "idProperty": "email"})  # unknown email: blocklisted
    assert ok.status_code == 204 and ok.content == b""


# --- the redaction itself -------------------------------------------------------------------------------

_text = st.text(alphabet=st.characters(min_codepoint=0x41, max_codepoint=0x17F), min_size=3, max_size=20)


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(local=st.from_regex(r"[a-z][a-z0-9._+]{2,15}", fullmatch=True), name=_text, answer=_text,
       event=st.sampled_from([calendly.INVITEE_CREATED, calendly.INVITEE_CANCELED, calendly.NO_SHOW_CREATED]),
       with_term=st.booleans())
def test_a_redacted_body_keeps_what_the_fold_needs_and_nothing_personal(local, name, answer, event, with_term):
    email = f"{local}@example.org"
    name, answer = f"Name§{name}", f"Answer§{answer}"  # a marker no JSON key or URI holds
    vid = visitor_id_new()
    tracking = {"utm_source": "newsletter", "utm_medium": "email", "salesforce_uuid": "SF-" + name}
    if with_term:
        tracking["utm_term"] = vid
    body = encode(invitee_payload(invitee_id="X", event=event, email=email, name=name, tracking=tracking,
                                  questions_and_answers=[{"question": "Anything?", "answer": answer, "position": 0}],
                                  cancel_reason=answer))
    redacted = body_redact(body)
    assert body_redact(redacted) == redacted  # idempotent: a second erasure changes nothing
    text = redacted.decode()
    for secret in (email, name, answer, vid, "SF-"):
        assert secret not in text
    original, kept = calendly.event_parse(body), calendly.event_parse(redacted)
    for field in ("kind", "invitee_uri", "occurred_at", "updated_at", "event_uri", "status", "event_type_name",
                  "start_time", "end_time", "booked_at", "canceled_at", "no_show", "rescheduled"):
        assert getattr(kept, field) == getattr(original, field), field
    assert (kept.email, kept.name, kept.questions_and_answers) == ("", "", [])
    assert {k: v for k, v in kept.tracking.items() if v} == {"utm_source": "newsletter", "utm_medium": "email"}


def test_a_visitor_id_in_any_utm_field_is_redacted():
    from bookings.suppression import tracking_redact

    vid = "sbv_" + "a" * 22
    redacted = tracking_redact({"utm_source": "linkedin", "utm_medium": "paid_social", "utm_content": vid,
                                "utm_campaign": vid, "salesforce_uuid": vid})
    assert vid not in {str(v) for v in redacted.values()}
    assert (redacted["utm_source"], redacted["utm_medium"]) == ("linkedin", "paid_social")
