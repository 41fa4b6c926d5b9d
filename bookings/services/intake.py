"""The webhook path: record, verify, derive in one commit; replay, the stuck sweep, the purge of rejected rows."""

from __future__ import annotations

import hashlib
import logging
import time
import traceback as tb
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from psycopg import errors as pg_errors
from psycopg.types.json import Jsonb

from bookings import calendly
from bookings.calendly import PayloadError
from bookings.models import WebhookDelivery
from bookings.services.fold import SUPPRESSED, booking_rebuild
from bookings.suppression import body_redact, suppression_hash
from bookings.throttle import rejection_throttle
from project.metrics import BOOKING_EVENTS, DELIVERIES, WEBHOOK_SECONDS

logger = logging.getLogger("sourcebook.intake")

# Conflicts with a concurrent transaction: redoing the derivation is safe (it is a fold of stored rows).
TRANSIENT_DB_ERRORS = (pg_errors.DeadlockDetected, pg_errors.SerializationFailure, pg_errors.LockNotAvailable)
DERIVE_ATTEMPTS = 3
KEPT_HEADERS = ("content-type", "content-length", "user-agent", "calendly-webhook-signature", "x-forwarded-for")


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
                    if state == WebhookDelivery.State.SUPPRESSED:  # a forgotten person: keep no personal data
                        insert["body"] = body_redact(body)
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
    elapsed = time.monotonic() - started
    WEBHOOK_SECONDS.observe(elapsed)
    logger.info("delivery", extra={"delivery_id": receipt.delivery_id, "event_type": kind, "invitee_uri": uri,
                                   "result": receipt.state, "duration_ms": round(elapsed * 1000, 1)})
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
    if delivery.state in (WebhookDelivery.State.REJECTED, WebhookDelivery.State.SUPPRESSED):
        return delivery  # a suppressed delivery is a forgotten person's, redacted: it never makes a booking again
    delivery.attempts += 1
    trace = ""
    try:
        with transaction.atomic():
            state, error, uri = _derive(body=bytes(delivery.body), delivery_id=delivery.pk)
            _delivery_mark(delivery_id=delivery.pk, state=state, error=error, trace="", uri=uri or delivery.invitee_uri,
                           attempts=delivery.attempts)
            if state == WebhookDelivery.State.SUPPRESSED:  # a forgotten person (replay, backfill): keep no personal data
                delivery.body = delivery_body_redact(delivery_id=delivery.pk)[0]
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


def delivery_body_redact(*, delivery_id: int, redact=None) -> tuple[bytes, bool]:
    """Replace a stored delivery's body by its redaction (`redact(body)`, by default
    bookings.suppression.body_redact); size and SHA-256 then describe the stored bytes.
    Returns (the stored body, whether it changed)."""
    redact = redact or body_redact
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT body FROM {WebhookDelivery._meta.db_table} WHERE id = %s FOR UPDATE", [delivery_id])
        row = cursor.fetchone()
        if row is None:
            return b"", False
        body = bytes(row[0])
        redacted = redact(body)
        if redacted == body:
            return body, False
        cursor.execute(
            f"UPDATE {WebhookDelivery._meta.db_table} SET body = %s, body_size = %s, body_sha256 = %s WHERE id = %s",
            [redacted, len(redacted), hashlib.sha256(redacted).hexdigest(), delivery_id],
        )
    return redacted, True


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
    # A forgotten person's delivery (the fold checks the suppression list in its first read): no booking is
    # created or updated; the caller stores the delivery redacted.
    booking_id = booking_rebuild(invitee_uri=event.invitee_uri, including=delivery_id,
                                 pending=None if delivery_id else event, suppression_hash=suppression_hash(event.email))
    if booking_id == SUPPRESSED:
        return WebhookDelivery.State.SUPPRESSED, "", event.invitee_uri
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


def deliveries_process_stuck(*, older_than_seconds: int = 60) -> int:
    """Stored but never processed (the web process died in between): finish the job."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    stuck = WebhookDelivery.objects.filter(state=WebhookDelivery.State.RECEIVED, received_at__lt=cutoff)
    return sum(deliveries_replay(queryset=stuck).values())


def delivery_store_snapshot(*, body: bytes, invitee_uri: str) -> WebhookDelivery:
    """An API snapshot of an invitee (backfill, the event fetch) is stored and derived like a webhook,
    in one commit: the raw row and its derivation together."""
    kind, _, _ = calendly.envelope_peek(body)
    with transaction.atomic():
        delivery_id = _delivery_insert(origin=WebhookDelivery.Origin.BACKFILL, body=body, headers={}, remote_addr=None,
                                       reason="", kind=kind, uri=invitee_uri)
        return delivery_process(delivery=WebhookDelivery(pk=delivery_id, body=body, invitee_uri=invitee_uri, attempts=0,
                                                         state=WebhookDelivery.State.RECEIVED))
