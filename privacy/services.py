"""Forget a person: erase their journey, blank their bookings, redact their raw deliveries, suppress their
email for good, and queue HubSpot's GDPR delete of their contact.

What stays: each booking row with its invitee/event URIs, status, dates, event type and attribution
(source, medium, campaign, content, channel, self-reported source, manual assignment), so every report
counts exactly what it counted before. What goes: email, names, time zone, questions and answers, cancel
reason and canceler, the visitor ids in tracking (and `visitor_id`), the HubSpot contact id, the booking
outbox's stored request/response, every touch and click of the person's visitor ids, and everything
personal in the stored deliveries (bookings.suppression.body_redact).

Order (so a webhook racing the erasure cannot bring the person back): the suppression entry is committed
first, on its own, so every delivery derived after it is suppressed; then, in one transaction, the
bookings are locked (a webhook mid-fold finishes first and its delivery is then found and redacted), the
deliveries are read and redacted, the touches deleted, the HubSpot erasure queued. A booking a webhook
created between the two is caught by a last pass.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from django.db import transaction
from django.db.models import Q
from django.db.models.expressions import RawSQL

from bookings import calendly
from bookings.models import Booking, Suppression, WebhookDelivery
from bookings.services.intake import delivery_body_redact
from bookings.suppression import body_redact, email_hash, email_normalise, term_redact, tracking_redact
from hubspot_sync.services.erasure import erasure_enqueue
from hubspot_sync.services.outbox import sync_forget
from journeys.models import Touch
from journeys.selectors import booking_visitor_ids

PASSES = 3  # the last pass normally finds nothing; a booking created mid-erasure is caught by the next one


class ForgetError(ValueError):
    """Input the command cannot use (not an email)."""


@dataclass
class ForgetReport:
    email_hash: str
    dry_run: bool
    known: bool = True  # False: no data and no earlier suppression — nothing was done
    already_suppressed: bool = False
    bookings: int = 0  # personal fields blanked
    visitor_ids: int = 0
    touches: int = 0  # deleted (touches and clicks)
    deliveries: int = 0  # raw deliveries redacted
    hubspot_syncs: int = 0  # booking outbox rows stopped and emptied
    hubspot_erasure_queued: bool = False
    suppression_created: bool = False
    booking_ids: list = field(default_factory=list)

    def counts(self) -> dict:
        data = asdict(self)
        return {k: data[k] for k in ("bookings", "visitor_ids", "touches", "deliveries", "hubspot_syncs")}


def person_forget(*, email: str, dry_run: bool = False, note: str = "") -> ForgetReport:
    """Erase one person (see the module docstring). `dry_run`: the same work in a transaction rolled back,
    so the counts are exact and nothing changes (no HubSpot request is queued). An email we hold nothing
    of and never suppressed is `known=False`, and nothing is written."""
    email = email_normalise(email)
    if "@" not in email or len(email) > 254 or any(c.isspace() for c in email):
        raise ForgetError(f"not an email address: {email!r}")
    digest = email_hash(email)
    report = ForgetReport(email_hash=digest, dry_run=dry_run)
    report.already_suppressed = Suppression.objects.filter(email_hash=digest).exists()
    if not report.already_suppressed and not _anything_held(email):
        report.known = False
        return report
    if dry_run:
        with transaction.atomic():
            _suppress(digest=digest, note=note, report=report)
            _erase_pass(email=email, digest=digest, report=report, queue_hubspot=True)
            transaction.set_rollback(True)
        return report
    with transaction.atomic():  # committed first: from here on, every delivery of this email is suppressed
        _suppress(digest=digest, note=note, report=report)
    for attempt in range(PASSES):
        with transaction.atomic():
            found = _erase_pass(email=email, digest=digest, report=report, queue_hubspot=attempt == 0)
        if not found:
            break
    return report


def _suppress(*, digest: str, note: str, report: ForgetReport) -> None:
    _, created = Suppression.objects.get_or_create(email_hash=digest, defaults={"note": note[:255]})
    report.suppression_created = created


def _anything_held(email: str) -> bool:
    return Booking.objects.filter(email=email).exists() or _deliveries_naming(email, uris=[]).exists()


def _deliveries_naming(email: str, *, uris: list[str]):
    """Deliveries of these invitees, and any other whose raw body mentions the email (a failed, rejected or
    suppressed one has no booking to find it by). The body search reads the whole table: a rare command."""
    pattern = "%" + email.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    table = WebhookDelivery._meta.db_table
    matches = Q(pk__in=RawSQL(f"SELECT id FROM {table} WHERE encode(body, 'escape') ILIKE %s", [pattern]))
    if uris:
        matches |= Q(invitee_uri__in=uris)
    return WebhookDelivery.objects.filter(matches)


def _invitee_email(body: bytes) -> str | None:
    """The invitee email a raw body carries; None when the body is no readable invitee event."""
    _, _, data = calendly.envelope_peek(body)
    payload = data.get("payload") if isinstance(data, dict) else None
    if not isinstance(payload, dict):
        return None
    if isinstance(payload.get("invitee"), dict):
        payload = payload["invitee"]
    return email_normalise(str(payload.get("email") or ""))


def _redaction_for(*, email: str, uris: set[str]):
    """The person's own deliveries (and unreadable ones naming them) lose everything personal; another
    invitee's delivery that merely mentions the email (a guest, an answer) loses only that mention, so that
    person's booking is untouched by a replay."""
    mention = re.compile(re.escape(email).encode(), re.IGNORECASE)

    def redact(body: bytes) -> bytes:
        own = _invitee_email(body)
        uri = calendly.envelope_peek(body)[1]
        if own is None or own == email or uri in uris:
            return body_redact(body)
        return mention.sub(b"", body)

    return redact


def _erase_pass(*, email: str, digest: str, report: ForgetReport, queue_hubspot: bool) -> bool:
    """One pass in the caller's transaction; True when it found anything of the person."""
    bookings = list(Booking.objects.filter(email=email).order_by("pk").select_for_update())
    visitor_ids = sorted({v for booking in bookings for v in booking_visitor_ids(booking)})
    uris = [b.invitee_uri for b in bookings]
    for booking in bookings:
        raw = dict(booking.utm_raw or {})
        if "term" in raw:
            raw["term"] = term_redact(raw["term"])
        Booking.objects.filter(pk=booking.pk).update(
            email="", name="", first_name="", last_name="", phone="", timezone="", questions_and_answers=[],
            tracking=tracking_redact(booking.tracking), visitor_id="", term=term_redact(booking.term), utm_raw=raw,
            canceled_by="", cancel_reason="", self_reported_raw="", hubspot_contact_id="",
        )
    redact = _redaction_for(email=email, uris=set(uris))
    redacted = 0
    for delivery_id in _deliveries_naming(email, uris=uris).order_by("pk").values_list("pk", flat=True):
        redacted += delivery_body_redact(delivery_id=delivery_id, redact=redact)[1]
    touches = Touch.objects.filter(visitor_id__in=visitor_ids).delete()[0] if visitor_ids else 0
    syncs = sync_forget(booking_ids=[b.pk for b in bookings]) if bookings else 0
    report.bookings += len(bookings)
    report.booking_ids += [b.pk for b in bookings]
    report.visitor_ids += len(visitor_ids)
    report.touches += touches
    report.deliveries += redacted
    report.hubspot_syncs += syncs
    found = bool(bookings or redacted or touches)
    if queue_hubspot and (found or not report.already_suppressed):
        erasure_enqueue(email=email, email_hash=digest)
        report.hubspot_erasure_queued = True
    return found
