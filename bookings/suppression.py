"""Forgotten people: the hashed suppression list the intake checks, and the redaction of a raw delivery.

A person erased with `manage.py forget_person` leaves one `Suppression` row: an HMAC-SHA256 of their
normalised email under a server-side key (PRIVACY_SUPPRESSION_KEY, else derived from SECRET_KEY), never
the email itself. Every way data enters (a webhook, a replay of stored deliveries, a Calendly backfill or
event fetch) folds through `intake._derive`, which hands the fold the email's `suppression_hash`; the fold
looks it up in the same statement that reads the invitee's deliveries (a unique index lookup, no round trip
of its own); for a suppressed person nothing is written, and the intake stores the delivery redacted
(`body_redact`) as `suppressed`. The erasure itself lives in the `privacy` app (which imports this module; this
module imports nothing of it).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json

from django.conf import settings
from django.db import connection

from attribution.rules import VISITOR_ID_PREFIX
from bookings import calendly
from bookings.models import Suppression

# Calendly tracking keys that are attribution (kept) — everything else in `tracking` is dropped.
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
ATTRIBUTION_UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_content")
# What a redacted invitee payload keeps: what the fold needs for status, dates, event and attribution.
_PAYLOAD_KEPT = ("uri", "status", "event", "created_at", "updated_at", "rescheduled", "old_invitee", "new_invitee")
_EVENT_KEPT = ("uri", "name", "status", "start_time", "end_time", "event_type", "created_at", "updated_at")
_CANCELLATION_KEPT = ("created_at", "canceler_type")
_NO_SHOW_KEPT = ("uri", "created_at")
REDACTED_MARK = "sourcebook_redacted"


def email_normalise(email: str) -> str:
    """The form every hash is taken of: trimmed and lower-cased (as the fold stores `Booking.email`)."""
    return (email or "").strip().lower()


def _key() -> bytes:
    configured = getattr(settings, "PRIVACY_SUPPRESSION_KEY", "")
    return configured.encode() if configured else _derived_key(settings.SECRET_KEY)


@functools.lru_cache(maxsize=4)
def _derived_key(secret: str) -> bytes:
    """Derived, not SECRET_KEY itself: the same secret never keys two different things. Derived once per secret,
    not on every delivery the intake checks."""
    return hmac.new(secret.encode(), b"sourcebook.privacy.suppression", hashlib.sha256).digest()


def email_hash(email: str) -> str:
    """HMAC-SHA256 (hex) of the normalised email: without the key, the list cannot be tested against emails."""
    return hmac.new(_key(), email_normalise(email).encode(), hashlib.sha256).hexdigest()


def suppression_hash(email: str) -> str:
    """What the suppression list is searched for: the email's hash, or "" for no email (never suppressed)."""
    return email_hash(email) if email_normalise(email) else ""


def email_suppressed(email: str) -> bool:
    """Is this email forgotten? One lookup through the unique index (the webhook path pays it once)."""
    hashed = suppression_hash(email)
    if not hashed:
        return False
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {Suppression._meta.db_table} WHERE email_hash = %s", [hashed])
        return cursor.fetchone() is not None


def tracking_redact(tracking: dict | None) -> dict:
    """Calendly tracking without what identifies a person: the UTMs stay (attribution and counts do not
    move), a visitor id goes (our `sbv_` ids anywhere, and a lone `utm_term`, which the rules read as an
    identifier, not attribution), `salesforce_uuid` and any other key go."""
    tracking = tracking if isinstance(tracking, dict) else {}
    kept = {key: tracking.get(key) for key in UTM_KEYS if key in tracking}
    for key, value in kept.items():  # a visitor id rides in any UTM field (attribution.rules.visitor_id_in)
        if str(value or "").strip().startswith(VISITOR_ID_PREFIX):
            kept[key] = None
    term = str(kept.get("utm_term") or "").strip()
    lone = not any(str(tracking.get(key) or "").strip() for key in ATTRIBUTION_UTM_KEYS)
    if term and (term.startswith(VISITOR_ID_PREFIX) or lone):
        kept["utm_term"] = None
    if "salesforce_uuid" in tracking:
        kept["salesforce_uuid"] = None
    return kept


def term_redact(term: str) -> str:
    """A stored `term` (Booking.term, utm_raw['term']) that is one of our visitor ids is personal."""
    return "" if str(term or "").strip().startswith(VISITOR_ID_PREFIX) else (term or "")


def _kept(value, keys) -> dict | None:
    return {key: value.get(key) for key in keys if key in value} if isinstance(value, dict) else None


def body_redact(body: bytes) -> bytes:
    """A raw delivery without personal data: the envelope's event type and timestamps, the invitee and event
    URIs, status, dates, cancellation time, no-show, the UTMs — so the fold still gives the same booking,
    minus the person. Email, names, time zone, answers, cancel reason and canceler, phone numbers, guests,
    locations, payment and routing answers are gone. A body that is not a readable Calendly event (a trimmed
    rejected one, garbage) cannot be redacted field by field: nothing of it is kept."""
    try:
        data = calendly.json_loads(bytes(body))
    except Exception:  # noqa: BLE001 - unreadable: keep nothing
        return b""
    if not isinstance(data, dict) or not isinstance(data.get("payload"), dict):
        return b""
    payload = data["payload"]
    if isinstance(payload.get("invitee"), dict):  # a pre-v2 payload: redact its v2 reading
        payload = calendly._legacy_flatten(payload)  # noqa: SLF001 - same app, the one home of the legacy mapping
    redacted = {key: payload.get(key) for key in _PAYLOAD_KEPT if key in payload}
    redacted.update(email="", name="", first_name=None, last_name=None, timezone="", questions_and_answers=[],
                    tracking=tracking_redact(payload.get("tracking")))
    cancellation = _kept(payload.get("cancellation"), _CANCELLATION_KEPT)
    if cancellation is not None:
        redacted["cancellation"] = cancellation
    no_show = _kept(payload.get("no_show"), _NO_SHOW_KEPT)
    if no_show is not None:
        redacted["no_show"] = no_show
    scheduled = _kept(payload.get("scheduled_event"), _EVENT_KEPT)
    if scheduled is not None:
        event_cancellation = _kept(payload["scheduled_event"].get("cancellation"), _CANCELLATION_KEPT)
        if event_cancellation is not None:
            scheduled["cancellation"] = event_cancellation
        redacted["scheduled_event"] = scheduled
    envelope = {"event": data.get("event"), "created_at": data.get("created_at"), "payload": redacted,
                REDACTED_MARK: True}
    return json.dumps(envelope, sort_keys=True, separators=(",", ":")).encode()
