"""Text PostgreSQL cannot store (NUL, lone surrogates) never costs a delivery or its booking.

A signed delivery carrying them is a real lead: its text fields are cleaned at the parse
boundary, the raw bytes stay verbatim, and the booking is made. Unsigned or odd deliveries
get their 401 and are stored, never a 500 or 503.
"""

import json
import re
import uuid

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from bookings import calendly
from bookings.models import Booking, WebhookDelivery
from bookings.samples import invitee_payload, signed_headers

pytestmark = pytest.mark.django_db
UNSTORABLE = ["\x00", "\ud800", "\udbff", "\udc00", "\udfff"]
BAD = re.compile("[\x00\ud800-\udfff]")


def _raw(payload: dict) -> bytes:
    """JSON as a sender may write it: NUL and lone surrogates as \\u escapes (valid JSON)."""
    return json.dumps(payload, ensure_ascii=True).encode()


@st.composite
def dirty_text(draw):
    """Ordinary text with at least one NUL or lone surrogate somewhere in it."""
    text = draw(st.text(max_size=12))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        at = draw(st.integers(min_value=0, max_value=len(text)))
        text = text[:at] + draw(st.sampled_from(UNSTORABLE)) + text[at:]
    return text


TEXT_FIELDS = ["email", "name", "first_name", "last_name", "timezone", "event_type_name", "utm_source", "utm_campaign",
               "custom_tracking", "tracking_key", "question", "answer", "cancel_reason", "uri"]


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(TEXT_FIELDS), text=dirty_text(), cancel=st.booleans())
def test_signed_text_with_nul_or_lone_surrogates_is_cleaned_and_the_booking_made(post_signed, field, text, cancel):
    invitee_id = uuid.uuid4().hex
    payload = invitee_payload(event=calendly.INVITEE_CANCELED if cancel else calendly.INVITEE_CREATED,
                              invitee_id=invitee_id, tracking={"utm_source": "google", "utm_medium": "cpc"},
                              questions_and_answers=[{"question": "How did you hear about us?", "answer": "podcast",
                                                      "position": 0}])
    inner = payload["payload"]
    if field in ("email", "name", "first_name", "last_name", "timezone"):
        inner[field] = text
    elif field == "event_type_name":
        inner["scheduled_event"]["name"] = text
    elif field in ("utm_source", "utm_campaign"):
        inner["tracking"][field] = text
    elif field == "custom_tracking":
        inner["tracking"]["salesforce_uuid"] = text
    elif field == "tracking_key":
        inner["tracking"]["x" + text] = "v"
    elif field in ("question", "answer"):
        inner["questions_and_answers"][0][field] = text
    elif field == "cancel_reason":
        inner["cancellation"] = {"canceled_by": text, "reason": text, "canceler_type": "invitee"}
    elif field == "uri":
        inner["uri"] += text
    body = _raw(payload)

    response = post_signed(body)

    assert response.status_code == 200, response.content
    delivery = WebhookDelivery.objects.order_by("-id").first()
    assert delivery.state == "processed", delivery.error
    assert bytes(delivery.body) == body  # the evidence stays verbatim
    # What the receiver reads: adjacent high+low surrogate escapes decode as one (valid) character.
    decoded = json.loads(json.dumps(text))
    booking = Booking.objects.get(invitee_uri=BAD.sub("", json.loads(json.dumps(inner["uri"]))))
    clean = BAD.sub("", decoded)
    stored = json.dumps([booking.email, booking.name, booking.first_name, booking.last_name, booking.timezone,
                         booking.event_type_name, booking.tracking, booking.questions_and_answers, booking.canceled_by,
                         booking.cancel_reason, booking.invitee_uri, booking.utm_raw, booking.self_reported_raw],
                        ensure_ascii=False)  # NUL would show as \u0000, a lone surrogate as itself
    assert "\\u0000" not in stored and not BAD.search(stored)
    expected = {
        "email": clean.strip().lower(), "name": clean, "first_name": clean, "last_name": clean, "timezone": clean,
        "event_type_name": clean, "question": clean, "answer": clean,
    }
    if field in expected:
        actual = {"email": booking.email, "name": booking.name, "first_name": booking.first_name,
                  "last_name": booking.last_name, "timezone": booking.timezone,
                  "event_type_name": booking.event_type_name,
                  "question": booking.questions_and_answers[0]["question"],
                  "answer": booking.questions_and_answers[0]["answer"]}[field]
        assert actual == expected[field]
    elif field in ("utm_source", "utm_campaign", "custom_tracking"):
        key = "salesforce_uuid" if field == "custom_tracking" else field
        assert booking.tracking[key] == clean
    elif field == "tracking_key":
        assert booking.tracking["x" + clean] == "v"
    elif field == "cancel_reason" and cancel:
        assert (booking.canceled_by, booking.cancel_reason) == (clean, clean)


def test_an_unsigned_body_with_a_nul_is_refused_and_stored(csrf_client):
    body = b'{"event": "invitee.created\\u0000", "payload": {"uri": "https://x/\\u0000"}}'
    response = csrf_client.post("/webhooks/calendly/", data=body, content_type="application/json")
    assert response.status_code == 401
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "rejected"
    assert (delivery.event_type, delivery.invitee_uri) == ("invitee.created", "https://x/")
    assert bytes(delivery.body) == body


@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("event", ['"\\ud800"', '"invitee.created\\udfff"', '"\\u0000"'])
def test_an_event_name_postgres_cannot_store_never_answers_500(csrf_client, post_signed, signed, event):
    body = ('{"event": %s, "payload": {"uri": "https://api.calendly.com/x\\ud83d"}}' % event).encode()
    if signed:
        response = post_signed(body)
    else:
        response = csrf_client.post("/webhooks/calendly/", data=body, content_type="application/json")
    assert response.status_code == (200 if signed else 401)
    delivery = WebhookDelivery.objects.get()
    assert not BAD.search(delivery.event_type) and not BAD.search(delivery.invitee_uri)
    assert bytes(delivery.body) == body


@pytest.mark.parametrize("signed", [True, False])
def test_header_values_postgres_cannot_store_are_cleaned(csrf_client, signed):
    body = _raw(invitee_payload())
    headers = {k: v for k, v in signed_headers(body, key="test-signing-key").items() if k != "Content-Type"}
    if not signed:
        headers.pop(calendly.SIGNATURE_HEADER)
    response = csrf_client.post("/webhooks/calendly/", data=body, content_type="application/json",
                                headers={**headers, "User-Agent": "bot\x00/1\ud800", "X-Forwarded-For": "1.2.3.4\x00"})
    assert response.status_code == (200 if signed else 401)
    delivery = WebhookDelivery.objects.get()
    assert delivery.headers["user-agent"] == "bot/1"
    assert delivery.headers["x-forwarded-for"] == "1.2.3.4"
    assert Booking.objects.count() == (1 if signed else 0)


def test_a_signed_delivery_with_nan_tracking_makes_its_booking(post_signed):
    """jsonb has no NaN: Python's json reads it, PostgreSQL refused to store it."""
    body = _raw(invitee_payload(invitee_id="NAN")).replace(b'"salesforce_uuid": null', b'"salesforce_uuid": NaN')
    assert b"NaN" in body
    assert post_signed(body).status_code == 200
    assert WebhookDelivery.objects.get().state == "processed"
    assert Booking.objects.get().tracking["salesforce_uuid"] is None


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


ENCODINGS = {
    "escaped": lambda p: json.dumps(p, ensure_ascii=True).encode(),
    # json reads bytes with 'surrogatepass': a surrogate encoded in UTF-8 comes back as itself.
    "utf-8 surrogatepass": lambda p: json.dumps(p, ensure_ascii=False).encode("utf-8", "surrogatepass"),
    "utf-16": lambda p: json.dumps(p, ensure_ascii=True).encode("utf-16"),
}


@hsettings(max_examples=200, deadline=None)
@given(path=st.sampled_from(TEXT_FIELDS), text=dirty_text(), encoding=st.sampled_from(sorted(ENCODINGS)))
def test_a_parsed_event_never_holds_text_postgres_cannot_store(path, text, encoding):
    """However the bytes spell it, no string of the parsed event (tracking, answers included) keeps a NUL
    or a lone surrogate, so the cheap pre-check on the raw bytes never lets one through."""
    from dataclasses import astuple

    payload = invitee_payload(event=calendly.INVITEE_CANCELED, invitee_id="P",
                              questions_and_answers=[{"question": "q", "answer": "a", "position": 0}])
    inner = payload["payload"]
    target = {"event_type_name": (inner["scheduled_event"], "name"), "utm_source": (inner["tracking"], "utm_source"),
              "utm_campaign": (inner["tracking"], "utm_campaign"), "custom_tracking": (inner["tracking"], "x"),
              "question": (inner["questions_and_answers"][0], "question"),
              "answer": (inner["questions_and_answers"][0], "answer"), "cancel_reason": (inner["cancellation"], "reason")}
    if path == "tracking_key":
        inner["tracking"][text] = text
    elif path == "uri":
        inner["uri"] += text
    elif path in target:
        holder, key = target[path]
        holder[key] = text
    else:
        inner[path] = text
    body = ENCODINGS[encoding](payload)
    event = calendly.event_parse(body)
    assert not any(BAD.search(s) for s in _strings(astuple(event)))
    kind, uri, _ = calendly.envelope_peek(body)
    assert not BAD.search(kind) and not BAD.search(uri)
