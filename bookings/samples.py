"""Realistic Calendly webhook bodies, shared by tests, demo data, send_test_webhook and benchmarks."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta, timezone

from bookings import calendly

API = "https://api.calendly.com"


def _iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def invitee_payload(
    *,
    event: str = calendly.INVITEE_CREATED,
    invitee_id: str | None = None,
    event_id: str | None = None,
    email: str = "dana@example.com",
    name: str = "Dana Reyes",
    booked_at: datetime | None = None,
    start_time: datetime | None = None,
    updated_at: datetime | None = None,
    occurred_at: datetime | None = None,
    event_type_name: str = "Product demo",
    tracking: dict | None = None,
    questions_and_answers: list | None = None,
    old_invitee: str | None = None,
    new_invitee: str | None = None,
    rescheduled: bool = False,
    cancel_reason: str = "",
    text_reminder_number: str | None = None,
    host_email: str = "host@sourcebook.example",
) -> dict:
    """A v2 invitee webhook envelope, shaped like reference/calendly.md section 4."""
    invitee_id = invitee_id or uuid.uuid4().hex
    event_id = event_id or f"EV-{invitee_id}"
    booked_at = booked_at or datetime.now(timezone.utc)
    start_time = start_time or booked_at + timedelta(days=3)
    updated_at = updated_at or booked_at
    occurred_at = occurred_at or updated_at
    canceled = event == calendly.INVITEE_CANCELED
    cancellation = (
        {"canceled_by": name, "reason": cancel_reason, "canceler_type": "invitee", "created_at": _iso(updated_at)}
        if canceled
        else None
    )
    no_show = (
        {"uri": f"{API}/invitee_no_shows/NS-{invitee_id}", "created_at": _iso(occurred_at)}
        if event == calendly.NO_SHOW_CREATED
        else None
    )
    tracking = {
        "utm_campaign": None, "utm_source": None, "utm_medium": None,
        "utm_content": None, "utm_term": None, "salesforce_uuid": None,
        **(tracking or {}),
    }
    event_uri = f"{API}/scheduled_events/{event_id}"
    return {
        "event": event,
        "created_at": _iso(occurred_at),
        "created_by": f"{API}/users/U1",
        "payload": {
            "uri": f"{event_uri}/invitees/{invitee_id}",
            "email": email,
            "name": name,
            "first_name": None,
            "last_name": None,
            "status": "canceled" if canceled else "active",
            "timezone": "Europe/Berlin",
            "event": event_uri,
            "created_at": _iso(booked_at),
            "updated_at": _iso(updated_at),
            "cancel_url": f"https://calendly.com/cancellations/{invitee_id}",
            "reschedule_url": f"https://calendly.com/reschedulings/{invitee_id}",
            "rescheduled": rescheduled,
            "old_invitee": old_invitee,
            "new_invitee": new_invitee,
            "questions_and_answers": questions_and_answers or [],
            "tracking": tracking,
            "text_reminder_number": text_reminder_number,
            "cancellation": cancellation,
            "no_show": no_show,
            "reconfirmation": None,
            "payment": None,
            "routing_form_submission": None,
            "scheduling_method": None,
            "invitee_scheduled_by": None,
            "scheduled_event": {
                "uri": event_uri,
                "name": event_type_name,
                "status": "canceled" if canceled else "active",
                "start_time": _iso(start_time),
                "end_time": _iso(start_time + timedelta(minutes=30)),
                "event_type": f"{API}/event_types/ET-{event_type_name.replace(' ', '-').lower()}",
                "location": {"type": "zoom"},
                "invitees_counter": {"total": 1, "active": 0 if canceled else 1, "limit": 1},
                "created_at": _iso(booked_at),
                "updated_at": _iso(updated_at),
                "event_memberships": [{"user": f"{API}/users/U1", "user_email": host_email, "user_name": "Host"}],
                "event_guests": [],
                "meeting_notes_plain": None,
                **({"cancellation": cancellation} if cancellation else {}),
            },
        },
    }


def encode(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def signed_headers(body: bytes, *, key: str, timestamp: int | None = None) -> dict[str, str]:
    """HTTP headers Calendly would send with this body."""
    header = calendly.signature_header(body=body, key=key, timestamp=int(time.time()) if timestamp is None else timestamp)
    return {"Content-Type": "application/json", calendly.SIGNATURE_HEADER: header}
