"""Every write to deliveries and bookings. A booking is derived, never edited by hand."""

from __future__ import annotations

import hashlib
import json
import logging
import time
import traceback as tb
from datetime import datetime, timedelta, timezone as dt_timezone

from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from psycopg import errors as pg_errors
from psycopg.types.json import Jsonb

from attribution.rules import booking_attribution_fields, has_any_utm, has_attribution
from attribution.ruleset import ruleset_current
from bookings import calendly
from bookings.calendly import InviteeEvent, PayloadError
from bookings.models import BackfillRun, Booking, WebhookDelivery
from bookings.services_calendly import booking_event_fetch_enqueue, booking_event_fetch_needed
from hubspot_sync.services.outbox import sync_mark_changed
from project.metrics import BOOKING_EVENTS, DELIVERIES

logger = logging.getLogger("sourcebook.intake")

# Conflicts with a concurrent transaction: redoing the derivation is safe (it is a fold of stored rows).
TRANSIENT_DB_ERRORS = (pg_errors.DeadlockDetected, pg_errors.SerializationFailure, pg_errors.LockNotAvailable)
DERIVE_ATTEMPTS = 3
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


@dataclass(frozen=True)
class Receipt:
    delivery_id: int | None
    state: str  # a WebhookDelivery.State, or THROTTLED (nothing stored)
    error: str = ""
    retry_after: int = 0


THROTTLED = "throttled"
# A rejected body is evidence, not data: its first 16 KiB say what it was; the size and SHA-256 cover the rest.
REJECTED_BODY_KEPT_BYTES = 16 * 1024
# Signature problems a key rotation (or a replay after a key fix) can explain; "missing header" cannot.
_KEY_PROBLEMS = ("signature mismatch", "stale signature timestamp")


def delivery_receive(*, body: bytes, headers: dict, remote_addr: str | None, reject_reason: str = "") -> Receipt:
    """The webhook request path: verify, derive, record the raw bytes — in one commit.

    The raw row and the booking it produced commit together, the raw row written once with its
    outcome (no second UPDATE of an indexed row on the hot path). A deadlock with a concurrent
    writer is retried; if derivation still fails, the transaction rolls back and the raw row is
    stored on its own: `received` after a lasting conflict (the stuck-delivery sweep finishes it),
    `failed` otherwise (replayable).
    We answer 200 only after the raw row is committed; if the database is gone, nothing was
    acknowledged and the caller answers 503 so Calendly retries.
    A rejected delivery is stored trimmed (`_delivery_reject`), and only while its client is under
    the rejection rate limit; a verified one never asks the limiter.
    """
    started = time.monotonic()
    kind, uri, data = calendly.envelope_peek(body)
    reason = reject_reason or _signature_problem(headers=headers, body=body)
    insert = dict(origin=WebhookDelivery.Origin.WEBHOOK, body=body, headers=headers, remote_addr=remote_addr,
                  reason=reason, kind=kind, uri=uri)
    if reason:
        receipt = _delivery_reject(**insert, whole=calendly.envelope_is_webhook_event(data) and reason in _KEY_PROBLEMS)
    else:
        for attempt in range(1, DERIVE_ATTEMPTS + 1):
            try:
                with transaction.atomic():
                    state, error, derived_uri = _derive(body=body, data=data)
                    insert["uri"] = derived_uri or uri  # an unreadable payload keeps the URI we could peek, for search
                    delivery_id = _delivery_insert(**insert, outcome=(state, error))
                receipt = Receipt(delivery_id, state, error)
                break
            except Exception as exc:  # noqa: BLE001
                if not connection.is_usable():
                    raise  # nothing committed, nothing acknowledged: the caller answers 503
                conflict = isinstance(getattr(exc, "__cause__", None), TRANSIENT_DB_ERRORS)
                if conflict and attempt < DERIVE_ATTEMPTS:
                    continue  # a deadlock or serialization failure with a concurrent writer: the fold is safe to redo
                # Rolled back: keep the raw delivery on its own. A lasting conflict stays `received`, so beat's
                # stuck-delivery sweep derives it again (and any later delivery of the invitee folds it in);
                # anything else is `failed`, visible in admin and replayable once fixed.
                state = WebhookDelivery.State.RECEIVED if conflict else WebhookDelivery.State.FAILED
                with transaction.atomic():
                    delivery_id = _delivery_insert(**insert, outcome=(state, f"{type(exc).__name__}: {exc}"),
                                                   trace=tb.format_exc())
                receipt = Receipt(delivery_id, state, str(exc))
                break
    DELIVERIES.labels(result=receipt.state).inc()
    if kind in calendly.HANDLED_EVENTS and receipt.state == WebhookDelivery.State.PROCESSED:
        BOOKING_EVENTS.labels(event=kind).inc()
    logger.info("delivery", extra={"delivery_id": receipt.delivery_id, "event_type": kind, "invitee_uri": uri,
                                   "result": receipt.state, "duration_ms": round((time.monotonic() - started) * 1000, 1)})
    return receipt


def delivery_refuse_too_large(*, headers: dict, remote_addr: str | None, size: int) -> Receipt:
    """A body over WEBHOOK_MAX_BODY_BYTES is not kept at all (`size`: declared, or as far as it was read);
    the attempt is, so it shows in the admin, under the same rate limit as every rejection."""
    reason = f"body too large ({size} bytes or more)"
    receipt = _delivery_reject(origin=WebhookDelivery.Origin.WEBHOOK, body=b"", size=size, sha256="", headers=headers,
                               remote_addr=remote_addr, reason=reason, kind="", uri="", whole=False)
    DELIVERIES.labels(result=receipt.state).inc()
    return receipt


def _delivery_reject(*, body: bytes, remote_addr: str | None, reason: str, whole: bool, size: int | None = None,
                     sha256: str | None = None, **insert) -> Receipt:
    """Store a rejected delivery: its first 16 KiB, its size and SHA-256 — or nothing once its client has
    sent more rejected deliveries this minute than WEBHOOK_REJECT_RATE_LIMIT (the caller answers 429).

    A body that is a Calendly event of a kind we handle, carrying a well-formed signature, is kept
    whole: it may be a real booking signed with a key just rotated out, and `replay_deliveries
    --rejected` recovers it once the key is configured again."""
    from bookings.throttle import rejection_throttle

    wait = rejection_throttle(client_ip=remote_addr)
    if wait:  # not stored: the Redis counter and the `delivery` log line (result=throttled) are all that is kept
        return Receipt(None, THROTTLED, reason, retry_after=wait)
    kept = body if whole else body[:REJECTED_BODY_KEPT_BYTES]
    delivery_id = _delivery_insert(body=kept, remote_addr=remote_addr, reason=reason,
                                   size=len(body) if size is None else size,
                                   sha256=hashlib.sha256(body).hexdigest() if sha256 is None else sha256, **insert)
    return Receipt(delivery_id, WebhookDelivery.State.REJECTED, reason)


def delivery_record(
    *,
    body: bytes,
    headers: dict,
    remote_addr: str | None,
    origin: str = WebhookDelivery.Origin.WEBHOOK,
    reject_reason: str = "",
) -> WebhookDelivery:
    """Store a delivery without processing it (backfill, tests); verify webhook signatures."""
    kind, uri, _ = calendly.envelope_peek(body)
    reason = reject_reason
    if origin == WebhookDelivery.Origin.WEBHOOK and not reason:
        reason = _signature_problem(headers=headers, body=body)
    delivery_id = _delivery_insert(origin=origin, body=body, headers=headers, remote_addr=remote_addr, reason=reason,
                                   kind=kind, uri=uri)
    return WebhookDelivery.objects.get(pk=delivery_id)


def delivery_process(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """(Re-)derive the booking of a stored delivery; the outcome lands on the row, never raises."""
    if delivery.state == WebhookDelivery.State.REJECTED:
        return delivery
    delivery.attempts += 1
    trace = ""
    try:
        with transaction.atomic():
            state, error, uri = _derive(body=bytes(delivery.body), delivery_id=delivery.pk)
            _delivery_mark(delivery_id=delivery.pk, state=state, error=error, trace="", uri=uri or delivery.invitee_uri,
                           attempts=delivery.attempts)
    except Exception as exc:  # noqa: BLE001 - the row is the error report
        if not connection.is_usable():
            raise
        state, error, trace, uri = WebhookDelivery.State.FAILED, f"{type(exc).__name__}: {exc}", tb.format_exc(), ""
        _delivery_mark(delivery_id=delivery.pk, state=state, error=error, trace=trace, uri=delivery.invitee_uri,
                       attempts=delivery.attempts)
    delivery.state, delivery.error, delivery.traceback = state, error, trace
    delivery.invitee_uri = uri or delivery.invitee_uri
    return delivery


def delivery_reverify(*, delivery: WebhookDelivery) -> bool:
    """A rejected delivery whose stored signature verifies with today's keys becomes `received`.

    Only the HMAC is checked: a replay is late by nature, so the timestamp tolerance cannot apply.
    A trimmed body (or one refused as too large) can never verify."""
    body = bytes(delivery.body)
    if delivery.state != WebhookDelivery.State.REJECTED or not delivery.body_complete or not body:
        return False
    problem = calendly.signature_verify(header=(delivery.headers or {}).get("calendly-webhook-signature"), body=body,
                                        keys=settings.CALENDLY_WEBHOOK_SIGNING_KEYS, now=time.time(), tolerance=None)
    if problem:
        return False
    note = f"verified on replay; at receipt: {delivery.signature_error}"[:200]
    updated = WebhookDelivery.objects.filter(pk=delivery.pk, state=WebhookDelivery.State.REJECTED).update(
        state=WebhookDelivery.State.RECEIVED, signature_valid=True, signature_error=note)
    if updated:
        delivery.state, delivery.signature_valid, delivery.signature_error = WebhookDelivery.State.RECEIVED, True, note
    return bool(updated)


def deliveries_purge_rejected(*, older_than_days: int | None = None, batch_size: int = 1000) -> int:
    """Rejected deliveries are evidence for a while, not forever: delete those past the retention, in batches
    (short transactions, no long lock on the table the webhook writes to). Other states are never purged."""
    days = settings.WEBHOOK_REJECTED_RETENTION_DAYS if older_than_days is None else older_than_days
    if days <= 0:
        return 0
    cutoff = timezone.now() - timedelta(days=days)
    table, deleted = WebhookDelivery._meta.db_table, 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE state = %s AND received_at < %s"
                " ORDER BY received_at LIMIT %s)",
                [WebhookDelivery.State.REJECTED, cutoff, batch_size],
            )
            deleted += cursor.rowcount
            if cursor.rowcount < batch_size:
                return deleted


def _signature_problem(*, headers: dict, body: bytes) -> str:
    return calendly.signature_verify(
        header=headers.get("calendly-webhook-signature"),
        body=body,
        keys=settings.CALENDLY_WEBHOOK_SIGNING_KEYS,
        now=time.time(),
        tolerance=settings.CALENDLY_WEBHOOK_TOLERANCE_SECONDS,
    )


def _delivery_insert(*, origin, body, headers, remote_addr, reason, kind, uri, outcome=None, trace="",
                     size: int | None = None, sha256: str | None = None) -> int:
    """Store the raw delivery: `received` (to be processed), `rejected`, or with its `outcome`
    (state, error) when it was processed in this same transaction. `size`/`sha256` describe the whole
    body when `body` is only part of it. Text columns never get NUL or lone surrogates (PostgreSQL
    refuses them); the body is bytea and stays verbatim."""
    state, error = outcome or (WebhookDelivery.State.REJECTED if reason else WebhookDelivery.State.RECEIVED, "")
    processed = outcome is not None and state != WebhookDelivery.State.RECEIVED
    kept_headers = {k: calendly.text_clean(v) if isinstance(v, str) else v for k, v in headers.items() if k in KEPT_HEADERS}
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {WebhookDelivery._meta.db_table} (origin, received_at, remote_addr, headers, body, body_size,"
            " body_sha256, signature_valid, signature_error, event_type, invitee_uri, state, error, traceback, attempts,"
            " processed_at) VALUES (%s, now(), %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, CASE WHEN %s THEN now() END)"
            " RETURNING id",
            [origin, remote_addr or None, Jsonb(kept_headers), body, len(body) if size is None else size,
             hashlib.sha256(body).hexdigest() if sha256 is None else sha256, not reason, calendly.text_clean(reason[:200]),
             kind, uri, state, calendly.text_clean(error), calendly.text_clean(trace), 1 if outcome else 0, processed],
        )
        return cursor.fetchone()[0]


def _delivery_mark(*, delivery_id: int, state: str, error: str, trace: str, uri: str, attempts: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {WebhookDelivery._meta.db_table} SET state = %s, error = %s, traceback = %s, invitee_uri = %s,"
            " attempts = %s, processed_at = now() WHERE id = %s",
            [state, calendly.text_clean(error), calendly.text_clean(trace), uri, attempts, delivery_id],
        )


def _derive(*, body: bytes, data=None, delivery_id: int | None = None) -> tuple[str, str, str]:
    """(state, error, invitee uri). Unreadable payloads are data; database errors propagate.

    `delivery_id` names a stored delivery being (re)processed; without it, the delivery is not
    stored yet and its event joins the fold from memory."""
    try:
        event = (calendly.event_from_data(data, clean=calendly.body_may_hold_unstorable(body)) if data is not None
                 else calendly.event_parse(body))
    except PayloadError as exc:
        return WebhookDelivery.State.FAILED, str(exc), ""
    if event is None:
        return WebhookDelivery.State.IGNORED, "", ""
    booking_rebuild(invitee_uri=event.invitee_uri, including=delivery_id, pending=None if delivery_id else event)
    return WebhookDelivery.State.PROCESSED, "", event.invitee_uri


def deliveries_replay(*, queryset, progress=None, reverify_rejected: bool = False) -> dict[str, int]:
    """Re-derive bookings from stored raw deliveries (oldest first). Rejected ones stay rejected, unless
    `reverify_rejected`: then one whose stored signature verifies with today's keys is processed too."""
    counts: dict[str, int] = {}
    if not reverify_rejected:
        queryset = queryset.exclude(state=WebhookDelivery.State.REJECTED)
    for delivery in queryset.order_by("received_at", "id").iterator():
        if delivery.state == WebhookDelivery.State.REJECTED:
            delivery_reverify(delivery=delivery)
        delivery_process(delivery=delivery)
        counts[delivery.state] = counts.get(delivery.state, 0) + 1
        if progress:
            progress(delivery)
    return counts


# --- bookings -----------------------------------------------------------------------------------

FOLD_FIELDS = DETAIL_FIELDS + (
    "status", "canceled_at", "canceled_by", "canceler_type", "cancel_reason", "rescheduled", "new_invitee_uri",
    "old_invitee_uri", "last_event_at", "no_show", "no_show_marked_at",
)
ATTRIBUTION_FIELDS = (
    "source", "medium", "campaign", "content", "term", "channel", "visitor_id", "attribution_flags", "utm_raw",
    "self_reported_raw", "self_reported_source", "rules_version",
)
WRITTEN_FIELDS = FOLD_FIELDS + ATTRIBUTION_FIELDS + ("rescheduled_from_id",)
JSON_FIELDS = {"questions_and_answers", "tracking", "utm_raw", "manual_utm"}
_TABLE = Booking._meta.db_table


def _param(name, value):
    return Jsonb(value) if name in JSON_FIELDS else value


def _json(value):
    """Django's PostgreSQL backend hands jsonb to raw cursors as text."""
    return json.loads(value) if isinstance(value, str) else value


def booking_rebuild(*, invitee_uri: str, including: int | None = None, pending: InviteeEvent | None = None) -> int | None:
    """A booking is the fold of all its verified deliveries, so order and duplicates cannot matter.

    Lock the row first, then read the deliveries: whoever holds the lock last has seen every
    delivery committed before it, so the last writer always writes the complete state.
    `including` is a stored delivery to fold whatever its state (a replay of a failed one);
    `pending` is the event of a delivery that will be stored in this same transaction.
    Raw SQL on purpose: this is the webhook hot path (see bench/README.md).
    """
    columns = ", ".join(WRITTEN_FIELDS)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, {columns}, manual_utm FROM {_TABLE} WHERE invitee_uri = %s FOR UPDATE", [invitee_uri])
        row = cursor.fetchone()
        manual = _json(row[-1]) if row else None
        events, dependents = _booking_events(cursor=cursor, invitee_uri=invitee_uri, including=including)
        if pending is not None:
            events.append(pending)
        if not events:
            return row[0] if row else None
        fields = booking_fold(events=events)
        fetch_event = booking_event_fetch_needed(fields=fields, events=events)  # an older payload without scheduled_event
        fields["rescheduled"] = fields["rescheduled"] or bool(dependents)
        old = None
        if fields["old_invitee_uri"] and fields["old_invitee_uri"] != invitee_uri:
            cursor.execute(f"SELECT id, utm_raw, rescheduled, booked_at FROM {_TABLE} WHERE invitee_uri = %s",
                           [fields["old_invitee_uri"]])
            old = cursor.fetchone()
            old = (old[0], _tracking_from_raw(_json(old[1])), old[2], old[3]) if old else None
        fields["rescheduled_from_id"] = old[0] if old else None
        if old and old[3]:
            fields["booked_at"] = old[3]  # a reschedule is the same demo, booked when the chain's first booking was
        fields.update(_attribution_fields(tracking=fields["tracking"], old_tracking=old[1] if old else None,
                                          qa=fields["questions_and_answers"], manual=manual))
        values = [_param(name, fields[name]) for name in WRITTEN_FIELDS]
        if row is None:
            cursor.execute(
                f"INSERT INTO {_TABLE} (invitee_uri, {columns}, hubspot_state, hubspot_contact_id, hubspot_meeting_id,"
                f" created_at, updated_at) VALUES (%s, {', '.join(['%s'] * len(WRITTEN_FIELDS))}, 'pending', '', '', now(), now())"
                f" ON CONFLICT (invitee_uri) DO NOTHING RETURNING id",
                [invitee_uri, *values],
            )
            inserted = cursor.fetchone()
            if inserted is None:  # a concurrent first delivery won the insert: take the locking path
                return booking_rebuild(invitee_uri=invitee_uri, including=including, pending=pending)
            booking_id, changed = inserted[0], True
        else:
            booking_id = row[0]
            current = {name: _json(value) if name in JSON_FIELDS else value for name, value in zip(WRITTEN_FIELDS, row[1:-1])}
            changed = any(current[name] != fields[name] for name in WRITTEN_FIELDS)
            if changed:
                assignments = ", ".join(f"{name} = %s" for name in WRITTEN_FIELDS)
                cursor.execute(f"UPDATE {_TABLE} SET {assignments}, hubspot_state = 'pending', updated_at = now() WHERE id = %s",
                               [*values, booking_id])
        queued = [booking_id] if changed else []
        if old is not None and not old[2]:
            cursor.execute(f"UPDATE {_TABLE} SET rescheduled = true, hubspot_state = 'pending', updated_at = now()"
                           f" WHERE id = %s AND NOT rescheduled", [old[0]])
            queued.append(old[0])
    # The new half of a reschedule may have arrived first: link it now, down the whole chain.
    if dependents:
        queued += _reschedules_relink(booking_id=booking_id, utm_raw=fields["utm_raw"], booked_at=fields["booked_at"],
                                      dependents=dependents)
    if queued:
        sync_mark_changed(booking_ids=queued)
    if fetch_event:
        booking_event_fetch_enqueue(booking_id=booking_id)  # on commit, in a worker: never on the webhook request
    return booking_id


def booking_fold(*, events: list[InviteeEvent]) -> dict:
    """Fold events in a canonical order (invitee version, event time, kind) into booking fields."""
    ordered = sorted(events, key=lambda e: (e.updated_at or _EPOCH, e.occurred_at or _EPOCH, _RANK[e.kind], repr(e)))
    fields: dict = {name: Booking._meta.get_field(name).get_default() for name in DETAIL_FIELDS}
    for event in ordered:
        for name in DETAIL_FIELDS:
            value = getattr(event, name)
            if name == "tracking" and not has_any_utm(value) and has_any_utm(fields["tracking"]):
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
    """Recompute one booking's attribution after rules change; True when something moved."""
    old_tracking = _tracking_from_raw(booking.rescheduled_from.utm_raw) if booking.rescheduled_from_id else None
    updates = _attribution_fields(tracking=booking.tracking, old_tracking=old_tracking, qa=booking.questions_and_answers,
                                  manual=booking.manual_utm)
    changed = [k for k, v in updates.items() if getattr(booking, k) != v]
    if changed:
        for k in changed:
            setattr(booking, k, updates[k])
        booking.hubspot_state = Booking.HubspotState.PENDING
        booking.save(update_fields=[*changed, "hubspot_state", "updated_at"])
        sync_mark_changed(booking_ids=[booking.pk])
    return bool(changed)


def _reschedules_relink(*, booking_id: int, utm_raw: dict, booked_at, dependents: list[int]) -> list[int]:
    """Bookings rescheduled from this one (and from those, and so on) take its link, its booking date
    and, when their own tracking says nothing, its attribution. Returns the ids that changed."""
    changed, todo = [], [(booking_id, utm_raw, booked_at, dependents)]
    while todo:
        parent_id, parent_raw, parent_booked_at, ids = todo.pop()
        for newer in Booking.objects.filter(pk__in=ids):
            updates = {"rescheduled_from_id": parent_id, "booked_at": parent_booked_at or newer.booked_at}
            updates.update(_attribution_fields(tracking=newer.tracking, old_tracking=_tracking_from_raw(parent_raw),
                                               qa=newer.questions_and_answers, manual=newer.manual_utm))
            if any(getattr(newer, k) != v for k, v in updates.items()):
                Booking.objects.filter(pk=newer.pk).update(**updates, hubspot_state=Booking.HubspotState.PENDING,
                                                           updated_at=timezone.now())
                changed.append(newer.pk)
            next_ids = list(Booking.objects.filter(old_invitee_uri=newer.invitee_uri).exclude(old_invitee_uri="")
                            .exclude(pk=newer.pk).values_list("pk", flat=True))
            if next_ids:
                todo.append((newer.pk, updates["utm_raw"], updates["booked_at"], next_ids))
    return changed


def _tracking_from_raw(raw: dict | None) -> dict:
    """A booking's effective UTM input (`utm_raw`: its own, inherited or manual) as a tracking dict."""
    return {f"utm_{name}": value for name, value in (raw or {}).items()}


def _attribution_fields(*, tracking: dict, old_tracking: dict | None, qa: list, manual: dict | None = None) -> dict:
    """Marketing's manual assignment wins; a rescheduled booking keeps what its original booking was
    attributed to (that booking's own, inherited or manual UTM) when its own tracking says nothing."""
    if manual:
        return booking_attribution_fields(tracking=manual, questions_and_answers=qa or [], ruleset=ruleset_current())
    effective = tracking if (has_attribution(tracking) or not old_tracking) else old_tracking
    return booking_attribution_fields(tracking=effective or {}, questions_and_answers=qa or [], ruleset=ruleset_current())


def _booking_events(*, cursor, invitee_uri: str, including: int | None) -> tuple[list[InviteeEvent], list[int]]:
    """The invitee's deliveries, and the bookings naming it as their `old_invitee` (one round trip)."""
    cursor.execute(
        f"SELECT body, NULL FROM {WebhookDelivery._meta.db_table} WHERE invitee_uri = %s"
        " AND (state IN ('received', 'processed') OR id = %s)"
        f" UNION ALL SELECT NULL, id FROM {_TABLE} WHERE old_invitee_uri = %s AND old_invitee_uri <> '' AND invitee_uri <> %s",
        [invitee_uri, including or 0, invitee_uri, invitee_uri],
    )
    events, dependents = [], []
    for body, dependent in cursor.fetchall():
        if dependent is not None:
            dependents.append(dependent)
            continue
        try:
            event = calendly.event_parse(bytes(body))
        except PayloadError:
            continue
        if event is not None and event.invitee_uri == invitee_uri:
            events.append(event)
    return events, dependents


def deliveries_process_stuck(*, older_than_seconds: int = 60) -> int:
    """Stored but never processed (the web process died in between): finish the job."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    stuck = WebhookDelivery.objects.filter(state=WebhookDelivery.State.RECEIVED, received_at__lt=cutoff)
    return sum(deliveries_replay(queryset=stuck).values())


# --- backfill from the Calendly API ----------------------------------------------------------------


def invitee_snapshot_body(*, invitee: dict, event: dict) -> bytes:
    """An API invitee as a stored delivery: same derivation path as webhooks, deterministic bytes."""
    envelope = {"event": calendly.INVITEE_SNAPSHOT, "created_at": invitee.get("updated_at") or invitee.get("created_at"),
                "payload": {**invitee, "scheduled_event": event}}
    return json.dumps(envelope, sort_keys=True, separators=(",", ":")).encode()


def backfill_invitee(*, invitee: dict, event: dict, dry_run: bool = False) -> str:
    """'created' | 'updated' | 'unchanged' — a webhook and a backfill of one invitee give one booking."""
    body = invitee_snapshot_body(invitee=invitee, event=event)
    uri = invitee.get("uri", "")
    seen, before = _backfill_lookup(invitee_uri=uri, body=body)
    if seen:
        return "unchanged"  # exactly this snapshot was applied by an earlier run
    if dry_run:
        return "updated" if before else "created"
    kind, _, _ = calendly.envelope_peek(body)
    with transaction.atomic():  # one commit per invitee: the raw row and its derivation together
        delivery_id = _delivery_insert(origin=WebhookDelivery.Origin.BACKFILL, body=body, headers={}, remote_addr=None,
                                       reason="", kind=kind, uri=uri)
        delivery_process(delivery=WebhookDelivery(pk=delivery_id, body=body, invitee_uri=uri, attempts=0,
                                                  state=WebhookDelivery.State.RECEIVED))
    if before is None:
        return "created"
    return "updated" if _backfill_lookup(invitee_uri=uri, body=b"")[1] != before else "unchanged"


def _backfill_lookup(*, invitee_uri: str, body: bytes) -> tuple[bool, tuple | None]:
    """(this exact snapshot already stored?, (booking id, outbox version) or None) in one round trip."""
    from hubspot_sync.models import BookingSync

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM {WebhookDelivery._meta.db_table} WHERE invitee_uri = %s AND origin = 'backfill'"
            f" AND body = %s), (SELECT ARRAY[b.id, coalesce(s.version, 0)] FROM {_TABLE} b"
            f" LEFT JOIN {BookingSync._meta.db_table} s ON s.booking_id = b.id WHERE b.invitee_uri = %s)",
            [invitee_uri, body, invitee_uri],
        )
        seen, version = cursor.fetchone()
    return seen, tuple(version) if version else None


def backfill_run(*, client, since, until=None, organization: str | None = None, user: str | None = None,
                 dry_run: bool = False, progress=None) -> BackfillRun:
    """Walk scheduled events (active and canceled) and their invitees; resumable from its checkpoint.
    A Calendly error (e.g. still rate-limited after the client's capped waits) marks the run failed, then raises."""
    from bookings.calendly_client import CalendlyError

    scope = f"user={user}" if user else f"organization={organization}"
    key = f"{scope}:{since.isoformat()}:{until.isoformat() if until else ''}"[:255]
    run, _ = BackfillRun.objects.get_or_create(key=key)
    if run.finished_at and not dry_run:
        BackfillRun.objects.filter(pk=run.pk).delete()  # a finished window runs again from the start
        run = BackfillRun.objects.create(key=key)
    try:
        _backfill_walk(run=run, client=client, since=since, until=until, organization=organization, user=user,
                       dry_run=dry_run, progress=progress)
    except CalendlyError as exc:
        # Visible, with the reason: a rate limit that did not clear, a revoked token... A rerun continues from the checkpoint.
        if not dry_run:
            run.failed_at, run.error = timezone.now(), str(exc)
            run.save()
        raise
    if not dry_run:
        run.finished_at, run.failed_at, run.error = timezone.now(), None, ""
        run.save()
    return run


def _backfill_walk(*, run: BackfillRun, client, since, until, organization, user, dry_run, progress) -> None:
    from project.metrics import BACKFILL_INVITEES

    for status in ("active", "canceled"):
        token = run.checkpoint.get(status)
        if token == "done":
            continue
        pages = client.scheduled_events(organization=None if user else organization, user=user,
                                        min_start_time=since.isoformat().replace("+00:00", "Z"),
                                        max_start_time=until.isoformat().replace("+00:00", "Z") if until else None,
                                        status=status, page_token=token)
        for event, invitees, next_token in _fetched_ahead(pages, client):
            if event is None:  # a page of events is done: the checkpoint moves past it
                run.checkpoint[status] = next_token or "done"
                if not dry_run:
                    run.save()
                continue
            for invitee in invitees:
                outcome = backfill_invitee(invitee=invitee, event=event, dry_run=dry_run)
                setattr(run, outcome, getattr(run, outcome) + 1)
                run.invitees += 1
                BACKFILL_INVITEES.labels(result=outcome).inc()
            run.events += 1
            if progress:
                progress(run)


def _fetched_ahead(pages, client, *, depth: int = 300):
    """(event, its invitees, None) per event, then (None, None, next page token) per page — fetched
    by a thread running ahead of the caller, so Calendly's rate-limit waits overlap our database
    writes instead of adding to them. Bounded (`depth` events), and in order, so the checkpoint
    only ever moves past pages whose invitees were all stored. The thread does HTTP only."""
    import queue
    import threading

    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    class Stopped(Exception):
        pass

    def sleep(seconds):  # the client's 429 and backoff waits end when the caller is gone
        if stop.wait(seconds):
            raise Stopped

    original_sleep, client.sleep = client.sleep, sleep

    def put(item) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def fetch():
        try:
            for events, next_token in pages:
                for event in events:
                    if not put((event, client.invitees(event["uri"]), None)):
                        return
                if not put((None, None, next_token)):
                    return
            put(StopIteration())
        except Stopped:
            return
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread, raised there
            put(exc)

    fetcher = threading.Thread(target=fetch, name="calendly-backfill-fetch", daemon=True)
    fetcher.start()
    try:
        while True:
            item = items.get()
            if isinstance(item, StopIteration):
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        fetcher.join(timeout=20)  # at most one request in flight (the client's timeout is 15 s)
        if not fetcher.is_alive():
            client.sleep = original_sleep


# --- webhook subscriptions --------------------------------------------------------------------------

SUBSCRIBED_EVENTS = [calendly.INVITEE_CREATED, calendly.INVITEE_CANCELED, calendly.NO_SHOW_CREATED, calendly.NO_SHOW_DELETED]


def callback_url() -> str:
    return settings.SOURCEBOOK_PUBLIC_URL.rstrip("/") + "/webhooks/calendly/"


def subscription_create(*, client, organization: str, user: str | None) -> tuple[dict, str]:
    """Subscribe our URL with a freshly generated signing key (returned once, never stored here)."""
    import secrets

    key = secrets.token_hex(32)
    resource = client.webhook_subscription_create(url=callback_url(), events=SUBSCRIBED_EVENTS, organization=organization,
                                                  user=user, signing_key=key)
    return resource, key


def subscriptions_list(*, client, organization: str, user: str | None) -> list[dict]:
    """Every subscription we can see, in both scopes: Calendly lists one scope per call, and a user-scoped
    subscription (`calendly_webhooks create --user-scope`) is not in the organization's list. A token that
    may not read the organization's list (not an admin: 403) still sees its user's."""
    from bookings.calendly_client import CalendlyError

    found = []
    for scope_user in (None, user) if user else (None,):
        try:
            found += client.webhook_subscriptions(organization=organization, user=scope_user)
        except CalendlyError as exc:
            if exc.status == 403 and scope_user is None and user:
                continue
            raise
    return found


def subscriptions_ours(*, client, organization: str, user: str | None) -> list[dict]:
    """Subscriptions pointing at this Sourcebook, in either scope; an active one first."""
    ours = [s for s in subscriptions_list(client=client, organization=organization, user=user)
            if s.get("callback_url") == callback_url()]
    return sorted(ours, key=lambda s: s.get("state") != "active")


def subscription_check(*, client, organization: str, user: str | None, now=None) -> dict:
    """Is our subscription there (organization- or user-scoped), active, and are deliveries arriving?
    Recorded for /healthz. `user` is the token's user: its user-scoped subscriptions are listed too."""
    import json as _json

    import redis

    from project.health import SUBSCRIPTION_KEY

    now = now or timezone.now()
    ours = subscriptions_ours(client=client, organization=organization, user=user)
    last = (WebhookDelivery.objects.filter(origin=WebhookDelivery.Origin.WEBHOOK, signature_valid=True)
            .order_by("-received_at").values_list("received_at", flat=True).first())
    local = timezone.localtime(now)
    business_hours = local.weekday() < 5 and 9 <= local.hour < 18
    silent_for = (now - last).total_seconds() / 3600 if last else None
    if not ours:
        state, problem = "missing", f"no subscription for {callback_url()}"
    elif ours[0].get("state") != "active":
        state, problem = "disabled", f"subscription {ours[0]['uri']} is {ours[0].get('state')} (Calendly gave up retrying)"
    elif business_hours and (silent_for is None or silent_for > settings.CALENDLY_SILENCE_ALERT_HOURS):
        state, problem = "silent", f"no webhook delivery for {silent_for or 'ever':.1f}h during business hours" if silent_for else "no webhook delivery yet"
    else:
        state, problem = "active", ""
    report = {"state": state, "problem": problem, "subscription": ours[0]["uri"] if ours else None,
              "scope": ours[0].get("scope") if ours else None, "user": ours[0].get("user") if ours else None,
              "last_delivery_at": last.isoformat() if last else None, "checked_at": now.isoformat()}
    redis.Redis.from_url(settings.REDIS_URL).set(SUBSCRIPTION_KEY, _json.dumps(report), ex=7200)
    if problem:
        logger.error("calendly subscription problem: %s", problem, extra={"state": state})
    return report


def subscription_repair(*, client, organization: str, user: str | None, report: dict) -> tuple[dict, str, object]:
    """Recreate a missing/disabled subscription and backfill the gap since the last delivery.

    A disabled one is recreated in the scope it had; a missing one in the scope asked for (`user`
    given = user scope). A user-scoped subscription's gap is backfilled from that user's events."""
    from datetime import timedelta as _td

    if report.get("scope"):
        user = report.get("user") if report["scope"] == "user" else None
    if report.get("subscription"):
        client.webhook_subscription_delete(report["subscription"])
    resource, key = subscription_create(client=client, organization=organization, user=user)
    since = timezone.now() - _td(days=1)
    if report.get("last_delivery_at"):
        from django.utils.dateparse import parse_datetime

        since = min(since, parse_datetime(report["last_delivery_at"]))
    run = backfill_run(client=client, since=since, organization=organization, user=user)
    return resource, key, run
