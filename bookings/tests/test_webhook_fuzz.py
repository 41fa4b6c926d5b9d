"""Fuzzing the webhook: validly signed random and mutated Calendly payloads never cause a 5xx,
and a rejected delivery never creates a booking."""

import json

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from bookings.models import Booking, WebhookDelivery
from bookings.samples import invitee_payload

pytestmark = pytest.mark.django_db
FUZZ = hsettings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
EVENTS = ["invitee.created", "invitee.canceled", "invitee_no_show.created", "invitee_no_show.deleted", "invitee.snapshot", "other"]


def _mutate(payload: dict, path: list[str], value):
    target = payload
    for key in path[:-1]:
        if not isinstance(target.get(key), dict):
            return payload
        target = target[key]
    target[path[-1]] = value
    return payload


FIELDS = [["event"], ["created_at"], ["payload"], ["payload", "uri"], ["payload", "email"], ["payload", "tracking"],
          ["payload", "created_at"], ["payload", "updated_at"], ["payload", "questions_and_answers"], ["payload", "cancellation"],
          ["payload", "no_show"], ["payload", "scheduled_event"], ["payload", "scheduled_event", "start_time"],
          ["payload", "tracking", "utm_source"], ["payload", "old_invitee"], ["payload", "status"], ["payload", "invitee"]]


@FUZZ
@given(event=st.sampled_from(EVENTS), mutations=st.lists(st.tuples(st.sampled_from(FIELDS), json_values), max_size=4))
def test_mutated_signed_payloads_never_cause_a_server_error(post_signed, event, mutations):
    payload = invitee_payload(event=event if event != "other" else "invitee.created")
    payload["event"] = event
    for path, value in mutations:
        payload = _mutate(payload, path, value)
    response = post_signed(payload)
    assert response.status_code == 200, response.content
    delivery = WebhookDelivery.objects.order_by("-id").first()
    assert delivery.state in ("processed", "ignored", "failed")


@FUZZ
@given(body=st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_random_signed_bodies_are_stored_and_never_crash(post_signed, body):
    response = post_signed(body)
    assert response.status_code == 200
    assert bytes(WebhookDelivery.objects.order_by("-id").first().body) == body


@FUZZ
@given(key=st.text(min_size=1, max_size=20).filter(lambda k: k != "test-signing-key"),
       skew=st.integers(min_value=-10_000, max_value=10_000))
def test_rejected_deliveries_never_make_a_booking(post_signed, key, skew):
    import time

    from bookings.throttle import rejection_throttle_reset

    Booking.objects.all().delete()
    rejection_throttle_reset()  # 120 examples from one address: the rejection rate limit is tested on its own
    good_key_but_skewed = abs(skew) > 180
    response = post_signed(invitee_payload(), key=key if not good_key_but_skewed else "test-signing-key",
                           timestamp=int(time.time()) + skew)
    assert response.status_code == 401
    assert WebhookDelivery.objects.order_by("-id").first().state == "rejected"
    assert not Booking.objects.exists()
