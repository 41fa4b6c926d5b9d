"""Calendly webhook wire format: signatures and payload parsing. Pure functions, no I/O.

Nothing outside this module reads Calendly JSON: it becomes an `InviteeEvent`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from datetime import datetime

from django.utils.dateparse import parse_datetime

INVITEE_CREATED = "invitee.created"
INVITEE_CANCELED = "invitee.canceled"
NO_SHOW_CREATED = "invitee_no_show.created"
NO_SHOW_DELETED = "invitee_no_show.deleted"
# Not a Calendly event: an invitee read from the REST API by the backfill.
INVITEE_SNAPSHOT = "invitee.snapshot"
HANDLED_EVENTS = (INVITEE_CREATED, INVITEE_CANCELED, NO_SHOW_CREATED, NO_SHOW_DELETED, INVITEE_SNAPSHOT)
# What Calendly itself sends (the snapshot kind is ours, never a webhook).
WEBHOOK_EVENTS = tuple(kind for kind in HANDLED_EVENTS if kind != INVITEE_SNAPSHOT)
SIGNATURE_HEADER = "Calendly-Webhook-Signature"


class PayloadError(ValueError):
    """A verified delivery whose body is not a Calendly invitee event we can read."""


# --- signatures ---------------------------------------------------------------------------------


def signature_header(*, body: bytes, key: str, timestamp: int) -> str:
    """Header value Calendly would send for this body (used by tests, demo data, send_test_webhook)."""
    digest = hmac.new(key.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def signature_verify(*, header: str | None, body: bytes, keys: list[str], now: float, tolerance: int | None) -> str:
    """Return "" when valid, else the reason it is not (never raises).

    `tolerance=None` checks the HMAC only: a replay of a stored delivery is late by nature."""
    if not header:
        return "missing signature header"
    parts = {}
    for item in header.split(","):
        name, sep, value = item.strip().partition("=")
        if sep:
            parts.setdefault(name, value)
    t, v1 = parts.get("t"), parts.get("v1")
    if not t or not v1:
        return "malformed signature header"
    try:
        timestamp = int(t)
    except ValueError:
        return "malformed signature timestamp"
    signed = t.encode() + b"." + body
    valid = False
    for key in keys:
        expected = hmac.new(key.encode(), signed, hashlib.sha256).hexdigest()
        # Compare against every key (no early exit) so timing does not reveal which key matched.
        valid |= hmac.compare_digest(expected, v1)
    if not valid:
        return "signature mismatch"
    if tolerance is not None and abs(now - timestamp) > tolerance:
        return "stale signature timestamp"
    return ""


# --- text PostgreSQL can store -------------------------------------------------------------------

# PostgreSQL text and jsonb cannot hold U+0000, and a lone surrogate (a JSON "\ud800" escape)
# cannot be encoded as UTF-8: either one made the whole delivery fail. The raw bytes stay as sent.
_UNSTORABLE = re.compile("[\\x00\\ud800-\\udfff]")


def text_clean(value: str) -> str:
    """`value` without NUL characters and lone surrogates."""
    if value.isascii():  # the usual case, ~20x cheaper than the regex: only a NUL can be wrong
        return value.replace("\x00", "") if "\x00" in value else value
    return _UNSTORABLE.sub("", value) if _UNSTORABLE.search(value) else value


def body_may_hold_unstorable(body: bytes) -> bool:
    """Cheap check of the raw bytes (three memchr), so the usual delivery skips cleaning: NUL and
    lone surrogates can only come from a backslash escape, a surrogate encoded in UTF-8 (json reads
    bytes with 'surrogatepass'), or a UTF-16/32 body (which has NUL bytes)."""
    return b"\\" in body or b"\xed" in body or b"\x00" in body


def json_clean(value):
    """A decoded JSON value without NUL or lone surrogates in any string (keys too), for jsonb."""
    if isinstance(value, str):
        return text_clean(value)
    if isinstance(value, dict):
        return {text_clean(k) if isinstance(k, str) else k: json_clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_clean(v) for v in value]
    return value


# NaN and Infinity are not JSON, yet Python's json reads them and jsonb refuses them: read them as null.
_DECODER = json.JSONDecoder(parse_constant=lambda _name: None)


def json_loads(body: bytes):
    """`json.loads` for a raw body (same encoding detection), with NaN/Infinity read as null."""
    return _DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))


# --- payloads -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class InviteeEvent:
    kind: str
    invitee_uri: str
    occurred_at: datetime | None  # envelope created_at: when Calendly emitted the event
    updated_at: datetime | None  # invitee updated_at: the version of the invitee it carries
    event_uri: str = ""
    email: str = ""
    name: str = ""
    first_name: str = ""
    last_name: str = ""
    status: str = ""
    timezone: str = ""
    event_type_uri: str = ""
    event_type_name: str = ""
    start_time: datetime | None = None
    end_time: datetime | None = None
    booked_at: datetime | None = None
    canceled_at: datetime | None = None
    canceled_by: str = ""
    canceler_type: str = ""
    cancel_reason: str = ""
    rescheduled: bool = False
    old_invitee_uri: str = ""
    new_invitee_uri: str = ""
    no_show: bool | None = None  # None: this payload says nothing about no-shows
    no_show_at: datetime | None = None
    questions_and_answers: list = field(default_factory=list)
    tracking: dict = field(default_factory=dict)
    phone: str = ""  # text_reminder_number: the number the invitee gave for SMS reminders
    host_email: str = ""  # the scheduled event's first member (event_memberships[0].user_email): the host

    @property
    def is_cancel(self) -> bool:
        return self.kind == INVITEE_CANCELED or self.status == "canceled"


def envelope_peek(body: bytes) -> tuple[str, str, object]:
    """Best-effort (event type, invitee URI, decoded JSON or None) for indexing a delivery; never raises."""
    try:
        data = json_loads(body)
    except Exception:
        return "", "", None
    try:
        payload = data.get("payload") or {}
        uri = payload.get("uri") or ""
        if not uri and isinstance(payload.get("invitee"), dict):
            uri = _legacy_invitee_uri(payload)
        return text_clean(str(data.get("event") or ""))[:64], text_clean(str(uri))[:255], data
    except Exception:
        return "", "", data


def envelope_is_webhook_event(data) -> bool:
    """A decoded body shaped like a Calendly webhook of an event we handle (whoever signed it)."""
    return isinstance(data, dict) and data.get("event") in WEBHOOK_EVENTS and isinstance(data.get("payload"), dict)


def event_parse(body: bytes) -> InviteeEvent | None:
    """Parse a delivery body. None = a well-formed event we do not handle; PayloadError = unreadable."""
    try:
        data = json_loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"body is not JSON: {exc}") from exc
    return event_from_data(data, clean=body_may_hold_unstorable(body))


def event_from_data(data, *, clean: bool = True) -> InviteeEvent | None:
    """Same as event_parse, for a body already decoded from JSON. Text PostgreSQL cannot store is
    removed (`clean=False` only when `body_may_hold_unstorable` said the body cannot hold any)."""
    if not isinstance(data, dict):
        raise PayloadError("body is not a JSON object")
    kind = data.get("event")
    if not isinstance(kind, str) or not kind:
        raise PayloadError("missing 'event' name")
    if kind not in HANDLED_EVENTS:
        return None
    payload = data.get("payload")
    if not isinstance(payload, dict):
        raise PayloadError("missing 'payload' object")
    if isinstance(payload.get("invitee"), dict):
        payload = _legacy_flatten(payload)
    uri = payload.get("uri")
    if not isinstance(uri, str) or not uri.startswith("http"):
        raise PayloadError("payload.uri (invitee URI) is missing or not a URI")
    _s = (lambda value: text_clean(_str(value))) if clean else _str
    uri = text_clean(uri) if clean else uri
    occurred_at = _dt(data.get("created_at"), "created_at")

    scheduled = payload.get("scheduled_event")
    scheduled = scheduled if isinstance(scheduled, dict) else {}
    event_ref = payload.get("event")
    event_uri = scheduled.get("uri") or (event_ref if isinstance(event_ref, str) else "")
    cancellation = payload.get("cancellation") or scheduled.get("cancellation") or {}
    if not isinstance(cancellation, dict):
        raise PayloadError("payload.cancellation is not an object")
    no_show = payload.get("no_show")
    if kind == NO_SHOW_CREATED:
        no_show_flag = True
    elif kind == NO_SHOW_DELETED:
        no_show_flag = False
    elif kind == INVITEE_SNAPSHOT:
        no_show_flag = bool(no_show)  # the API's current view of the invitee
    else:
        # A created/canceled payload's `no_show: null` is not news: only a filled one says something.
        no_show_flag = True if no_show else None
    tracking = payload.get("tracking") or {}
    if not isinstance(tracking, dict):
        raise PayloadError("payload.tracking is not an object")
    qa = payload.get("questions_and_answers") or []
    if not isinstance(qa, list):
        raise PayloadError("payload.questions_and_answers is not a list")
    qa = [q for q in qa if isinstance(q, dict)]
    tracking = {k: v for k, v in tracking.items() if isinstance(k, str)}
    status = _s(payload.get("status"))
    canceled_at = _dt(cancellation.get("created_at"), "cancellation.created_at")
    if kind == INVITEE_CANCELED and canceled_at is None:
        canceled_at = occurred_at
    return InviteeEvent(
        kind=kind,
        invitee_uri=uri[:255],
        occurred_at=occurred_at,
        updated_at=_dt(payload.get("updated_at"), "updated_at") or occurred_at,
        event_uri=_s(event_uri)[:255],
        email=_s(payload.get("email")).strip().lower()[:254],
        name=_s(payload.get("name"))[:255],
        first_name=_s(payload.get("first_name"))[:255],
        last_name=_s(payload.get("last_name"))[:255],
        status=status,
        timezone=_s(payload.get("timezone"))[:64],
        event_type_uri=_s(scheduled.get("event_type"))[:255],
        event_type_name=_s(scheduled.get("name"))[:255],
        start_time=_dt(scheduled.get("start_time"), "scheduled_event.start_time"),
        end_time=_dt(scheduled.get("end_time"), "scheduled_event.end_time"),
        booked_at=_dt(payload.get("created_at"), "payload.created_at"),
        canceled_at=canceled_at if (kind == INVITEE_CANCELED or status == "canceled") else None,
        canceled_by=_s(cancellation.get("canceled_by"))[:255],
        canceler_type=_s(cancellation.get("canceler_type"))[:16],
        cancel_reason=_s(cancellation.get("reason")),
        rescheduled=bool(payload.get("rescheduled")),
        old_invitee_uri=_s(payload.get("old_invitee"))[:255],
        new_invitee_uri=_s(payload.get("new_invitee"))[:255],
        no_show=no_show_flag,
        no_show_at=_dt((no_show or {}).get("created_at"), "no_show.created_at") if isinstance(no_show, dict) else None,
        questions_and_answers=json_clean(qa) if clean else qa,
        tracking=json_clean(tracking) if clean else tracking,
        phone=_s(_text_or_none(payload.get("text_reminder_number"))).strip()[:64],
        host_email=_s(_host_email(scheduled)).strip().lower()[:254],
    )


def _text_or_none(value):
    """Optional extras are read leniently: a value of another shape is left out, never a reason to refuse a booking."""
    return value if isinstance(value, (str, int)) and not isinstance(value, bool) else None


def _host_email(scheduled: dict):
    """The host: the first of the scheduled event's memberships (Calendly lists the organiser first). Only webhook
    payloads carry `user_email`; the REST API's memberships name the user only."""
    memberships = scheduled.get("event_memberships")
    if not isinstance(memberships, list):
        return None
    for member in memberships:
        if isinstance(member, dict):
            email = _text_or_none(member.get("user_email"))
            if email and "@" in str(email):
                return email
    return None


def _str(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        raise PayloadError(f"expected a string, got {type(value).__name__}")
    return str(value)


def _dt(value, name: str) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise PayloadError(f"{name} is not a timestamp string")
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None:
        raise PayloadError(f"{name} is not an ISO 8601 timestamp: {value[:40]!r}")
    if parsed.tzinfo is None:
        from datetime import timezone

        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


def _legacy_invitee_uri(payload: dict) -> str:
    invitee = payload.get("invitee") or {}
    event = payload.get("event") if isinstance(payload.get("event"), dict) else {}
    if invitee.get("uri"):
        return str(invitee["uri"])
    return f"https://api.calendly.com/scheduled_events/{event.get('uuid', 'unknown')}/invitees/{invitee.get('uuid', 'unknown')}"


def _legacy_flatten(payload: dict) -> dict:
    """Pre-v2 payloads nest `event`, `invitee` and `event_type`; map them onto the v2 shape."""
    invitee = payload["invitee"]
    event = payload.get("event") if isinstance(payload.get("event"), dict) else {}
    event_type = payload.get("event_type") if isinstance(payload.get("event_type"), dict) else {}
    canceled = bool(invitee.get("canceled"))
    return {
        "uri": _legacy_invitee_uri(payload),
        "email": invitee.get("email"),
        "name": invitee.get("name"),
        "first_name": invitee.get("first_name"),
        "last_name": invitee.get("last_name"),
        "status": "canceled" if canceled else "active",
        "timezone": invitee.get("timezone"),
        "created_at": invitee.get("created_at"),
        "updated_at": invitee.get("updated_at") or invitee.get("canceled_at") or invitee.get("created_at"),
        "event": f"https://api.calendly.com/scheduled_events/{event.get('uuid')}" if event.get("uuid") else None,
        "scheduled_event": {
            "name": event_type.get("name"),
            "start_time": event.get("start_time"),
            "end_time": event.get("end_time"),
        },
        "cancellation": {
            "canceled_by": invitee.get("canceler_name"),
            "reason": invitee.get("cancel_reason"),
            "created_at": invitee.get("canceled_at"),
        }
        if canceled
        else None,
        "questions_and_answers": payload.get("questions_and_answers") or [],
        "tracking": payload.get("tracking") or {},
    }

