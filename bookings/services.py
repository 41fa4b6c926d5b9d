"""Every write to deliveries and bookings. A booking is derived, never edited by hand."""

from __future__ import annotations

import logging
import time
import traceback as tb
from datetime import datetime, timedelta, timezone as dt_timezone

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from attribution.services import booking_attribution_fields
from bookings import calendly
from bookings.calendly import InviteeEvent, PayloadError
from bookings.models import Booking, WebhookDelivery, _has_utm
from hubspot_sync.services.outbox import sync_mark_changed

logger = logging.getLogger("sourcebook.intake")

KEPT_HEADERS = ("content-type", "content-length", "user-agent", "calendly-webhook-signature", "x-forwarded-for")
_EPOCH = datetime(1970, 1, 1, tzinfo=dt_timezone.utc)
_RANK = {
    calendly.INVITEE_CREATED: 1,
    calendly.INVITEE_SNAPSHOT: 2,
    calendly.NO_SHOW_CREATED: 3,
    calendly.NO_SHOW_DELETED: 4,
    calendly.INVITEE_CANCELED: 5,
}
# Fields copied from the newest delivery that has a value for them.
DETAIL_FIELDS = (
    "event_uri", "email", "name", "first_name", "last_name", "timezone", "event_type_uri",
    "event_type_name", "start_time", "end_time", "booked_at", "questions_and_answers", "tracking",
)


# --- deliveries ---------------------------------------------------------------------------------


def delivery_record(
    *,
    body: bytes,
    headers: dict,
    remote_addr: str | None,
    origin: str = WebhookDelivery.Origin.WEBHOOK,
    reject_reason: str = "",
) -> WebhookDelivery:
    """Keep the evidence first: the raw bytes commit on their own, whatever happens next."""
    kind, uri = calendly.envelope_peek(body)
    reason = reject_reason
    if origin == WebhookDelivery.Origin.WEBHOOK and not reason:
        # Pure computation (cannot fail), so the verdict is stored with the raw row in one INSERT.
        reason = calendly.signature_verify(
            header=headers.get("calendly-webhook-signature"),
            body=body,
            keys=settings.CALENDLY_WEBHOOK_SIGNING_KEYS,
            now=time.time(),
            tolerance=settings.CALENDLY_WEBHOOK_TOLERANCE_SECONDS,
        )
    return WebhookDelivery.objects.create(
        origin=origin,
        received_at=timezone.now(),
        remote_addr=remote_addr or None,
        headers={k: v for k, v in headers.items() if k in KEPT_HEADERS},
        body=body,
        signature_valid=not reason,
        signature_error=reason,
        event_type=kind,
        invitee_uri=uri,
        state=WebhookDelivery.State.REJECTED if reason else WebhookDelivery.State.RECEIVED,
    )


def delivery_process(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Derive the booking; any failure lands on the delivery row (visible, replayable), never raises."""
    if delivery.state == WebhookDelivery.State.REJECTED:
        return delivery
    started = time.monotonic()
    delivery.attempts += 1
    delivery.error = delivery.traceback = ""
    try:
        event = calendly.event_parse(bytes(delivery.body))
        if event is None:
            delivery.state = WebhookDelivery.State.IGNORED
        else:
            with transaction.atomic():
                booking_rebuild(invitee_uri=event.invitee_uri, including=delivery.pk)
                delivery.state = WebhookDelivery.State.PROCESSED
                delivery.invitee_uri = event.invitee_uri
                _delivery_save_outcome(delivery)
    except PayloadError as exc:
        delivery.state = WebhookDelivery.State.FAILED
        delivery.error = str(exc)
    except Exception as exc:  # noqa: BLE001 - the row is the error report
        delivery.state = WebhookDelivery.State.FAILED
        delivery.error = f"{type(exc).__name__}: {exc}"
        delivery.traceback = tb.format_exc()
    if delivery.state != WebhookDelivery.State.PROCESSED:
        _delivery_save_outcome(delivery)
    logger.info(
        "delivery processed",
        extra={
            "delivery_id": delivery.pk,
            "event_type": delivery.event_type,
            "invitee_uri": delivery.invitee_uri,
            "result": delivery.state,
            "duration_ms": round((time.monotonic() - started) * 1000, 1),
        },
    )
    return delivery


def _delivery_save_outcome(delivery: WebhookDelivery) -> None:
    delivery.processed_at = timezone.now()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        state=delivery.state,
        error=delivery.error,
        traceback=delivery.traceback,
        attempts=delivery.attempts,
        processed_at=delivery.processed_at,
        invitee_uri=delivery.invitee_uri,
    )


def deliveries_replay(*, queryset, progress=None) -> dict[str, int]:
    """Re-derive bookings from stored raw deliveries (oldest first); rejected ones stay rejected."""
    counts: dict[str, int] = {}
    for delivery in queryset.exclude(state=WebhookDelivery.State.REJECTED).order_by("received_at", "id").iterator():
        delivery_process(delivery=delivery)
        counts[delivery.state] = counts.get(delivery.state, 0) + 1
        if progress:
            progress(delivery)
    return counts


# --- bookings -----------------------------------------------------------------------------------


def booking_rebuild(*, invitee_uri: str, including: int | None = None) -> Booking | None:
    """A booking is the fold of all its verified deliveries, so order and duplicates cannot matter."""
    Booking.objects.bulk_create([Booking(invitee_uri=invitee_uri)], ignore_conflicts=True)
    booking = Booking.objects.select_for_update().get(invitee_uri=invitee_uri)
    events = _booking_events(invitee_uri=invitee_uri, including=including)
    if not events:
        return booking
    fields = booking_fold(events=events)
    fields["rescheduled"] = fields["rescheduled"] or Booking.objects.filter(old_invitee_uri=invitee_uri).exists()
    old = None
    if fields["old_invitee_uri"]:
        old = Booking.objects.filter(invitee_uri=fields["old_invitee_uri"]).exclude(pk=booking.pk).first()
    fields["rescheduled_from"] = old
    fields.update(_attribution_fields(tracking=fields["tracking"], old=old, qa=fields["questions_and_answers"]))

    changed = [name for name, value in fields.items() if getattr(booking, name) != value]
    if changed:
        for name in changed:
            setattr(booking, name, fields[name])
        booking.hubspot_state = Booking.HubspotState.PENDING
        booking.save(update_fields=[*changed, "hubspot_state", "updated_at"])
        sync_mark_changed(booking_ids=[booking.pk])

    if old is not None and not old.rescheduled:
        Booking.objects.filter(pk=old.pk).update(rescheduled=True, hubspot_state=Booking.HubspotState.PENDING,
                                                 updated_at=timezone.now())
        sync_mark_changed(booking_ids=[old.pk])
    # The new half of a reschedule may have arrived first: link it now and let it inherit our UTM.
    for newer in Booking.objects.filter(old_invitee_uri=invitee_uri).exclude(pk=booking.pk):
        updates = {"rescheduled_from": booking}
        updates.update(_attribution_fields(tracking=newer.tracking, old=booking, qa=newer.questions_and_answers))
        if any(getattr(newer, k) != v for k, v in updates.items()):
            for k, v in updates.items():
                setattr(newer, k, v)
            newer.hubspot_state = Booking.HubspotState.PENDING
            newer.save(update_fields=[*updates, "hubspot_state", "updated_at"])
            sync_mark_changed(booking_ids=[newer.pk])
    return booking


def booking_fold(*, events: list[InviteeEvent]) -> dict:
    """Fold events in a canonical order (invitee version, event time, kind) into booking fields."""
    ordered = sorted(events, key=lambda e: (e.updated_at or _EPOCH, e.occurred_at or _EPOCH, _RANK[e.kind], repr(e)))
    fields: dict = {name: Booking._meta.get_field(name).get_default() for name in DETAIL_FIELDS}
    for event in ordered:
        for name in DETAIL_FIELDS:
            value = getattr(event, name)
            if name == "tracking" and not _has_utm(value) and _has_utm(fields["tracking"]):
                continue
            if value not in (None, "", [], {}):
                fields[name] = value
    cancels = [e for e in ordered if e.is_cancel]
    last_cancel = cancels[-1] if cancels else None
    fields.update(
        status=Booking.Status.CANCELED if cancels else Booking.Status.ACTIVE,
        canceled_at=next((e.canceled_at for e in reversed(cancels) if e.canceled_at), None),
        canceled_by=last_cancel.canceled_by if last_cancel else "",
        canceler_type=last_cancel.canceler_type if last_cancel else "",
        cancel_reason=last_cancel.cancel_reason if last_cancel else "",
        rescheduled=any(e.rescheduled for e in ordered),
        new_invitee_uri=next((e.new_invitee_uri for e in reversed(ordered) if e.new_invitee_uri), ""),
        old_invitee_uri=next((e.old_invitee_uri for e in reversed(ordered) if e.old_invitee_uri), ""),
        last_event_at=max((e.occurred_at for e in ordered if e.occurred_at), default=None),
    )
    # No-show is the one flag that can flip back: the latest statement about it wins.
    statements = sorted(
        (e for e in ordered if e.no_show is not None),
        key=lambda e: (e.occurred_at or e.updated_at or _EPOCH, _RANK[e.kind]),
    )
    latest = statements[-1] if statements else None
    fields["no_show"] = bool(latest and latest.no_show)
    fields["no_show_marked_at"] = (latest.no_show_at or latest.occurred_at) if fields["no_show"] else None
    return fields


def booking_reattribute(*, booking: Booking) -> bool:
    """Recompute attribution after rules change; True when something moved."""
    updates = _attribution_fields(tracking=booking.tracking, old=booking.rescheduled_from, qa=booking.questions_and_answers)
    changed = [k for k, v in updates.items() if getattr(booking, k) != v]
    if changed:
        for k in changed:
            setattr(booking, k, updates[k])
        booking.hubspot_state = Booking.HubspotState.PENDING
        booking.save(update_fields=[*changed, "hubspot_state", "updated_at"])
        sync_mark_changed(booking_ids=[booking.pk])
    return bool(changed)


def _attribution_fields(*, tracking: dict, old: Booking | None, qa: list) -> dict:
    effective = tracking if (_has_utm(tracking) or old is None) else (old.tracking or {})
    return booking_attribution_fields(tracking=effective or {}, questions_and_answers=qa or [])


def _booking_events(*, invitee_uri: str, including: int | None) -> list[InviteeEvent]:
    alive = Q(state__in=[WebhookDelivery.State.RECEIVED, WebhookDelivery.State.PROCESSED])
    if including is not None:
        alive |= Q(pk=including)
    bodies = (
        WebhookDelivery.objects.filter(alive, invitee_uri=invitee_uri)
        .exclude(state=WebhookDelivery.State.REJECTED)
        .values_list("body", flat=True)
    )
    events = []
    for body in bodies:
        try:
            event = calendly.event_parse(bytes(body))
        except PayloadError:
            continue
        if event is not None and event.invitee_uri == invitee_uri:
            events.append(event)
    return events


def deliveries_process_stuck(*, older_than_seconds: int = 60) -> int:
    """Stored but never processed (the web process died in between): finish the job."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    stuck = WebhookDelivery.objects.filter(state=WebhookDelivery.State.RECEIVED, received_at__lt=cutoff)
    return sum(deliveries_replay(queryset=stuck).values())
