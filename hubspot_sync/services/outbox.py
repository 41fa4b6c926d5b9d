"""The transactional outbox. Written in the booking's own transaction; drained by Celery."""

from __future__ import annotations

import random
import threading
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from psycopg.types.json import Jsonb

from bookings.models import Booking
from hubspot_sync.models import BookingSync

State = BookingSync.State
_kick = {"at": 0.0}
_kick_lock = threading.Lock()
KICK_WINDOW_SECONDS = 1.0


def sync_mark_changed(*, booking_ids: list[int]) -> None:
    """Every booking change queues a sync in the same transaction (a change during a sync in flight
    bumps `version`, so the in-flight sync will not mark it done)."""
    if not booking_ids:
        return
    table = BookingSync._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} AS s (booking_id, state, version, claimed_version, synced_version, attempts,
                                      next_attempt_at, meeting_create_uncertain, last_error, updated_at)
            SELECT id, 'pending', 1, 0, 0, 0, now(), false, '', now() FROM unnest(%s::bigint[]) AS id
            ON CONFLICT (booking_id) DO UPDATE SET
                version = s.version + 1,
                state = CASE WHEN s.state = 'in_flight' THEN 'in_flight' ELSE 'pending' END,
                attempts = CASE WHEN s.state = 'in_flight' THEN s.attempts ELSE 0 END,
                next_attempt_at = now(),
                updated_at = now()
            """,
            [list(booking_ids)],
        )
    transaction.on_commit(sync_kick)


def sync_kick() -> None:
    """Enqueue a drain soon; at most one enqueue per second per process (beat sweeps the rest)."""
    now = time.monotonic()
    with _kick_lock:
        if now - _kick["at"] < KICK_WINDOW_SECONDS:
            return
        _kick["at"] = now
    from hubspot_sync.tasks import hubspot_drain_task

    try:
        hubspot_drain_task.apply_async(countdown=KICK_WINDOW_SECONDS)
    except Exception:  # noqa: BLE001 - broker down: the row is safe in PostgreSQL, beat sweeps it later
        import logging

        logging.getLogger("sourcebook.hubspot").warning("could not enqueue HubSpot drain; beat will sweep")


def sync_claim(*, size: int | None = None) -> list[BookingSync]:
    """Two workers must never push the same booking: claim with SKIP LOCKED, commit, then do HTTP."""
    size = size or settings.HUBSPOT_BATCH_SIZE
    with transaction.atomic():
        ids = list(
            BookingSync.objects.filter(state=State.PENDING, next_attempt_at__lte=timezone.now())
            .order_by("next_attempt_at")
            .select_for_update(skip_locked=True)
            .values_list("booking_id", flat=True)[:size]
        )
        if not ids:
            return []
        table = BookingSync._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET state = 'in_flight', claimed_at = now(), claimed_version = version,"
                f" claim_token = %s, attempts = attempts + 1, updated_at = now() WHERE booking_id = ANY(%s)",
                [uuid.uuid4(), ids],
            )
    return list(BookingSync.objects.filter(booking_id__in=ids).select_related("booking"))


def sync_renew(*, rows: list[BookingSync], uncertain: bool = False) -> set[int]:
    """Right before each HubSpot write (after any wait for rate-limit budget): which of these rows
    does our claim still hold? Those get a fresh `claimed_at`, so the sweeper leaves them alone while
    the request runs (HUBSPOT_CLAIM_TIMEOUT_SECONDS > 4 x HUBSPOT_TIMEOUT_SECONDS); with `uncertain`,
    a meeting create is recorded as possibly done *before* it is sent, so a crash or timeout leads to
    a search, not a duplicate. Rows missing from the answer were swept and belong to another worker."""
    if not rows:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {BookingSync._meta.db_table} SET claimed_at = now(),"
            " meeting_create_uncertain = meeting_create_uncertain OR %s"
            " WHERE booking_id = ANY(%s) AND state = 'in_flight' AND claim_token = %s RETURNING booking_id",
            [uncertain, [r.booking_id for r in rows], rows[0].claim_token],
        )
        return {booking_id for (booking_id,) in cursor.fetchall()}


def _lock_bookings_first(cursor, booking_ids) -> None:
    """Booking rows before outbox rows: the order every webhook takes (booking_rebuild locks the
    booking, then upserts its outbox row), so finishing a sync never deadlocks with intake."""
    cursor.execute(f"SELECT id FROM {Booking._meta.db_table} WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
                   [sorted(booking_ids)])


def sync_finish_ok(*, rows: list[BookingSync], request: dict | None = None, response: dict | None = None,
                   state: str = State.SYNCED) -> set[int]:
    """Done — unless the booking changed meanwhile, then it goes round again. Returns the rows this
    claim still held (the others were swept and taken over: not ours to finish)."""
    if not rows:
        return set()
    table = BookingSync._meta.db_table
    ids = [r.booking_id for r in rows]
    import json

    with transaction.atomic(), connection.cursor() as cursor:
        _lock_bookings_first(cursor, ids)
        cursor.execute(
            f"""UPDATE {table} SET
                  state = CASE WHEN version = claimed_version THEN %s ELSE 'pending' END,
                  synced_version = claimed_version, synced_at = now(), attempts = 0, next_attempt_at = now(),
                  meeting_create_uncertain = false, last_error = '', last_status = NULL,
                  last_request = %s::jsonb, last_response = %s::jsonb, updated_at = now()
               WHERE booking_id = ANY(%s) AND state = 'in_flight' AND claim_token = %s
               RETURNING booking_id, state""",
            [state, json.dumps(request) if request is not None else None,
             json.dumps(response) if response is not None else None, ids, rows[0].claim_token],
        )
        finished = cursor.fetchall()
        done = [booking_id for booking_id, new_state in finished if new_state == state]
        booking_state = Booking.HubspotState.SKIPPED if state == State.SKIPPED else Booking.HubspotState.SYNCED
        Booking.objects.filter(id__in=done).update(hubspot_state=booking_state)
    return {booking_id for booking_id, _ in finished}


def sync_finish_retry(*, rows: list[BookingSync], error: str, status: int | None = None, retry_after: float | None = None,
                      count_attempt: bool = True, request: dict | None = None, response=None, min_delay: float = 0) -> None:
    """Transient failure: back off exponentially with jitter (at least `min_delay`); too many attempts
    makes a dead letter."""
    now = timezone.now()
    for row in rows:
        attempts = row.attempts if count_attempt else max(0, row.attempts - 1)
        if count_attempt and attempts >= settings.HUBSPOT_MAX_ATTEMPTS:
            sync_finish_dead(rows=[row], error=f"gave up after {attempts} attempts: {error}", status=status,
                             request=request, response=response)
            continue
        delay = max(min_delay, retry_after if retry_after is not None else (
            min(settings.HUBSPOT_RETRY_MAX_SECONDS, 2 ** attempts) * random.uniform(0.5, 1.0)))
        BookingSync.objects.filter(pk=row.pk, state=State.IN_FLIGHT, claim_token=row.claim_token).update(
            state=State.PENDING, attempts=attempts, next_attempt_at=now + timedelta(seconds=delay),
            last_error=error[:4000], last_status=status, last_request=request, last_response=_jsonable(response),
            updated_at=now,
        )


def sync_finish_dead(*, rows: list[BookingSync], error: str, status: int | None = None, request=None, response=None) -> None:
    """A permanent failure (HubSpot rejected the data): visible in admin with request and response."""
    if not rows:
        return
    with transaction.atomic(), connection.cursor() as cursor:
        _lock_bookings_first(cursor, [r.pk for r in rows])
        cursor.execute(
            f"UPDATE {BookingSync._meta.db_table} SET state = %s, last_error = %s, last_status = %s, last_request = %s,"
            " last_response = %s, updated_at = now() WHERE booking_id = ANY(%s) AND state = 'in_flight' AND claim_token = %s"
            " RETURNING booking_id",
            [State.DEAD, error[:4000], status, Jsonb(request) if request is not None else None,
             Jsonb(_jsonable(response)) if response is not None else None, [r.pk for r in rows], rows[0].claim_token],
        )
        ids = [booking_id for (booking_id,) in cursor.fetchall()]
        Booking.objects.filter(id__in=ids).update(hubspot_state=Booking.HubspotState.FAILED)


def sync_retry_dead(*, booking_ids: list[int]) -> int:
    """Admin "retry": dead letters go back to the queue with a fresh attempt budget."""
    updated = BookingSync.objects.filter(pk__in=booking_ids, state__in=[State.DEAD, State.DISCARDED, State.SKIPPED]).update(
        state=State.PENDING, attempts=0, next_attempt_at=timezone.now(), updated_at=timezone.now())
    Booking.objects.filter(id__in=booking_ids).update(hubspot_state=Booking.HubspotState.PENDING)
    transaction.on_commit(sync_kick)
    return updated


def sync_discard(*, booking_ids: list[int]) -> int:
    """Admin "discard": stop trying; the row stays as a record."""
    return BookingSync.objects.filter(pk__in=booking_ids, state=State.DEAD).update(state=State.DISCARDED, updated_at=timezone.now())


def sync_sweep_stale(*, older_than_seconds: int | None = None) -> int:
    """A worker killed mid-batch leaves rows in flight: put them back (their create is marked uncertain)."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds or settings.HUBSPOT_CLAIM_TIMEOUT_SECONDS)
    return BookingSync.objects.filter(state=State.IN_FLIGHT, claimed_at__lt=cutoff).update(
        state=State.PENDING, next_attempt_at=timezone.now(), updated_at=timezone.now())


def sync_requeue(*, booking_ids) -> int:
    """Resync: queue these bookings again (used by resync_hubspot)."""
    ids = list(booking_ids)
    for start in range(0, len(ids), 5000):
        with transaction.atomic():
            sync_mark_changed(booking_ids=ids[start:start + 5000])
            Booking.objects.filter(id__in=ids[start:start + 5000]).update(hubspot_state=Booking.HubspotState.PENDING)
    return len(ids)


def _jsonable(value):
    if value is None or isinstance(value, (dict, list)):
        return value
    return {"text": str(value)[:10000]}
