"""The transactional outbox: claimed, renewed and finished by the drain; retried or discarded by an admin.

Rows are written with every booking change by the seam (`bookings.services.changes`), in the booking's
own transaction. Whatever also touches the booking (a finish, a retry) takes the seam's lock order:
the booking rows first, then the outbox rows, each by id. Writers of outbox rows alone take them by
id too, or skip locked ones, so none of them can close a deadlock cycle.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from psycopg.types.json import Jsonb

from bookings.models import Booking
from bookings.services.changes import bookings_changed, bookings_lock, bookings_sync_state
from hubspot_sync.models import BookingSync
from hubspot_sync.ratelimit import backoff_seconds

State = BookingSync.State
_TABLE = BookingSync._meta.db_table


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
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {_TABLE} SET state = 'in_flight', claimed_at = now(), claimed_version = version,"
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
            f"WITH ours AS (SELECT booking_id FROM {_TABLE} WHERE booking_id = ANY(%s) AND state = 'in_flight'"
            "               AND claim_token = %s ORDER BY booking_id FOR UPDATE)"
            f" UPDATE {_TABLE} s SET claimed_at = now(), meeting_create_uncertain = s.meeting_create_uncertain OR %s"
            " WHERE s.booking_id = ANY((SELECT array_agg(booking_id) FROM ours)::bigint[]) RETURNING s.booking_id",
            [[r.booking_id for r in rows], rows[0].claim_token, uncertain],
        )
        return {booking_id for (booking_id,) in cursor.fetchall()}


def _finish_claimed(cursor, *, rows: list[BookingSync], assignments: str, params: list) -> list[tuple]:
    """The outbox half of a finish, after the caller locked the bookings: only rows this claim still
    holds (fencing token), locked by id. Returns (booking_id, new state) per finished row."""
    cursor.execute(
        f"WITH ours AS (SELECT booking_id FROM {_TABLE} WHERE booking_id = ANY(%s) AND state = 'in_flight'"
        "               AND claim_token = %s ORDER BY booking_id FOR UPDATE)"
        f" UPDATE {_TABLE} s SET {assignments} WHERE s.booking_id = ANY((SELECT array_agg(booking_id) FROM ours)::bigint[])"
        " RETURNING s.booking_id, s.state",
        [[r.booking_id for r in rows], rows[0].claim_token, *params],
    )
    return cursor.fetchall()


def sync_finish_ok(*, rows: list[BookingSync], request: dict | None = None, response: dict | None = None,
                   state: str = State.SYNCED) -> set[int]:
    """Done — unless the booking changed meanwhile, then it goes round again. Returns the rows this
    claim still held (the others were swept and taken over: not ours to finish)."""
    if not rows:
        return set()
    with transaction.atomic(), connection.cursor() as cursor:
        bookings_lock(booking_ids=[r.booking_id for r in rows])  # the seam's lock order: bookings, then outbox rows
        finished = _finish_claimed(
            cursor, rows=rows,
            assignments="state = CASE WHEN s.version = s.claimed_version THEN %s ELSE 'pending' END,"
                        " synced_version = s.claimed_version, synced_at = now(), attempts = 0, next_attempt_at = now(),"
                        " meeting_create_uncertain = false, last_error = '', last_status = NULL,"
                        " last_request = %s::jsonb, last_response = %s::jsonb, updated_at = now()",
            params=[state, json.dumps(request) if request is not None else None,
                    json.dumps(response) if response is not None else None],
        )
        done = [booking_id for booking_id, new_state in finished if new_state == state]
        bookings_sync_state(booking_ids=done, state=Booking.HubspotState.SKIPPED if state == State.SKIPPED
                            else Booking.HubspotState.SYNCED)
    return {booking_id for booking_id, _ in finished}


def sync_finish_retry(*, rows: list[BookingSync], error: str, status: int | None = None, retry_after: float | None = None,
                      count_attempt: bool = True, request: dict | None = None, response=None, min_delay: float = 0) -> None:
    """Transient failure: back off exponentially with jitter (at least `min_delay`); too many attempts
    makes a dead letter. One outbox row per statement: the booking's sync state does not change."""
    now = timezone.now()
    for row in rows:
        attempts = row.attempts if count_attempt else max(0, row.attempts - 1)
        if count_attempt and attempts >= settings.HUBSPOT_MAX_ATTEMPTS:
            sync_finish_dead(rows=[row], error=f"gave up after {attempts} attempts: {error}", status=status,
                             request=request, response=response)
            continue
        delay = max(min_delay, retry_after if retry_after is not None else backoff_seconds(attempts))
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
        bookings_lock(booking_ids=[r.booking_id for r in rows])  # the seam's lock order: bookings, then outbox rows
        finished = _finish_claimed(
            cursor, rows=rows,
            assignments="state = %s, last_error = %s, last_status = %s, last_request = %s, last_response = %s,"
                        " updated_at = now()",
            params=[State.DEAD, error[:4000], status, Jsonb(request) if request is not None else None,
                    Jsonb(_jsonable(response)) if response is not None else None],
        )
        bookings_sync_state(booking_ids=[booking_id for booking_id, _ in finished], state=Booking.HubspotState.FAILED)


def sync_retry_dead(*, booking_ids: list[int]) -> int:
    """Admin "retry": dead letters (and discarded or dry-run rows) go back to the queue with a fresh
    attempt budget. Only those: a booking whose row is pending, in flight or synced is left alone."""
    with transaction.atomic(), connection.cursor() as cursor:
        ids = bookings_lock(booking_ids=booking_ids)  # the seam's lock order: bookings, then outbox rows
        cursor.execute(
            f"SELECT booking_id FROM {_TABLE} WHERE booking_id = ANY(%s) AND state = ANY(%s) ORDER BY booking_id FOR UPDATE",
            [ids, [State.DEAD, State.DISCARDED, State.SKIPPED]],
        )
        again = [booking_id for (booking_id,) in cursor.fetchall()]
        bookings_changed(booking_ids=again)  # pending, fresh attempts, drain on commit
    return len(again)


def sync_discard(*, booking_ids: list[int]) -> int:
    """Admin "discard": stop trying; the row stays as a record (the booking stays `failed`)."""
    with transaction.atomic():
        ids = bookings_lock(booking_ids=booking_ids)  # the seam's lock order: bookings, then outbox rows
        return BookingSync.objects.filter(pk__in=ids, state=State.DEAD).update(state=State.DISCARDED,
                                                                                updated_at=timezone.now())


def sync_sweep_stale(*, older_than_seconds: int | None = None) -> int:
    """A worker killed mid-batch leaves rows in flight: put them back (their create is marked uncertain).
    A row locked right now is being finished or changed: skipped, never waited for."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds or settings.HUBSPOT_CLAIM_TIMEOUT_SECONDS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH stale AS (SELECT booking_id FROM {_TABLE} WHERE state = 'in_flight' AND claimed_at < %s"
            "                ORDER BY booking_id FOR UPDATE SKIP LOCKED)"
            f" UPDATE {_TABLE} s SET state = 'pending', next_attempt_at = now(), updated_at = now()"
            " FROM stale WHERE s.booking_id = stale.booking_id",
            [cutoff],
        )
        return cursor.rowcount


def sync_requeue(*, booking_ids) -> int:
    """Resync: queue these bookings again (used by resync_hubspot), 5,000 per transaction."""
    ids = list(booking_ids)
    for start in range(0, len(ids), 5000):
        with transaction.atomic():
            bookings_changed(booking_ids=ids[start:start + 5000])
    return len(ids)


def _jsonable(value):
    if value is None or isinstance(value, (dict, list)):
        return value
    return {"text": str(value)[:10000]}


def sync_forget(*, booking_ids: list[int]) -> int:
    """A forgotten person's bookings (privacy's forget_person): their outbox rows stop (a pending upsert
    would re-create the contact HubSpot is asked to delete) and lose the stored request and response
    (they hold the email and name). Rows in flight lose their claim: that worker can no longer finish them.
    The seam's lock order: bookings, then outbox rows. Returns the rows changed."""
    with transaction.atomic():
        ids = bookings_lock(booking_ids=booking_ids)
        return BookingSync.objects.filter(pk__in=ids).update(
            state=State.DISCARDED, claim_token=None, last_request=None, last_response=None,
            last_error="person forgotten (forget_person): not synced again", updated_at=timezone.now())
