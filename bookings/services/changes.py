"""The seam every booking change goes through: its sync state and its HubSpot outbox row.

Whoever changes a booking calls this module inside the transaction that changed it: the fold of a
webhook (`fold.booking_rebuild`), a reattribute, a manual assignment, a resync, an admin retry of a
dead letter, and the outbox when it finishes a sync. It is the only writer of `Booking.hubspot_state`.
A brand-new booking is written through it too (`booking_insert_queued`: the row and its outbox entry in
one statement, the webhook's commonest case).

Lock order, the same for every caller: the booking rows first, then their outbox rows (`BookingSync`),
each by ascending id. Two changes of overlapping bookings then wait for each other instead of
deadlocking (a writer that needs a booking row never holds its outbox row without it).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

from bookings.models import Booking
from hubspot_sync.enqueue import drain_on_commit
from hubspot_sync.models import BookingSync

_BOOKINGS = Booking._meta.db_table
_OUTBOX = BookingSync._meta.db_table
FINISHED_STATES = (Booking.HubspotState.SYNCED, Booking.HubspotState.SKIPPED, Booking.HubspotState.FAILED)
# A changed booking's outbox row: new, or its version bumped (a sync in flight then will not mark it done).
_OUTBOX_UPSERT = f"""
    INSERT INTO {_OUTBOX} AS s (booking_id, state, version, claimed_version, synced_version, attempts,
                                next_attempt_at, meeting_create_uncertain, last_error, updated_at)
    SELECT id, 'pending', 1, 0, 0, 0, now(), false, '', now() FROM {{ids}}
    ON CONFLICT (booking_id) DO UPDATE SET
        version = s.version + 1,
        state = CASE WHEN s.state = 'in_flight' THEN 'in_flight' ELSE 'pending' END,
        attempts = CASE WHEN s.state = 'in_flight' THEN s.attempts ELSE 0 END,
        next_attempt_at = now(),
        updated_at = now()
"""
# bookings_changed's one statement: lock the bookings by id, mark them pending where they were not, upsert their
# outbox rows. The array is built before the first insert: every booking is locked before any outbox row.
_CHANGED_SQL = f"""
    WITH locked AS (
        SELECT id, hubspot_state FROM {_BOOKINGS} WHERE id = ANY(%s) ORDER BY id FOR UPDATE
    ), marked AS (
        -- by id through the primary key (a join with the CTE scanned every booking's index entry)
        UPDATE {_BOOKINGS} SET hubspot_state = 'pending'
        WHERE id = ANY((SELECT array_agg(id) FROM locked WHERE hubspot_state <> 'pending')::bigint[])
    )
    {_OUTBOX_UPSERT.format(ids="unnest((SELECT array_agg(id ORDER BY id) FROM locked)) AS id")}
"""
# booking_insert_queued's outbox half: the rows its INSERT returned (CTE `inserted`).
_INSERTED_UPSERT = _OUTBOX_UPSERT.format(ids="inserted")


def bookings_lock(*, booking_ids: Iterable[int]) -> list[int]:
    """Step one of the lock order, for a writer that decides what to write only once it holds the rows
    (the outbox finishes, retry-dead): the booking rows, by id. Returns the ids that exist."""
    ids = sorted(set(booking_ids))
    if not ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {_BOOKINGS} WHERE id = ANY(%s) ORDER BY id FOR UPDATE", [ids])
        return [booking_id for (booking_id,) in cursor.fetchall()]


def bookings_changed(*, booking_ids: Iterable[int]) -> None:
    """A booking changed, so HubSpot must hear of it: call in the transaction that changed the rows.

    One statement (the webhook hot path pays one round trip): it locks the bookings by id, then upserts
    their outbox rows by id — a change while a sync is in flight bumps `version`, so that sync will not
    mark the row done — and sets `hubspot_state` to pending where it was not (no write when it already
    is). A drain is enqueued on commit."""
    ids = sorted(set(booking_ids))
    if not ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(_CHANGED_SQL, [ids])
    drain_on_commit()


def booking_insert_queued(*, cursor, insert_sql: str, params: list) -> int | None:
    """A new booking and its outbox row in one statement: `insert_sql` is the booking's
    `INSERT ... ON CONFLICT (invitee_uri) DO NOTHING RETURNING id`. The webhook's most common change (a
    first delivery) pays one round trip for both. The lock order holds: the new row is locked by its own
    insert, and no other transaction can see it, let alone its outbox row. Its `hubspot_state` is the
    column's default, pending. Returns the new id, or None when a concurrent insert of the same invitee won
    (nothing is queued then; the caller takes the locking path)."""
    cursor.execute(
        f"WITH inserted AS ({insert_sql}), queued AS ({_INSERTED_UPSERT}) SELECT id FROM inserted",
        params,
    )
    row = cursor.fetchone()
    if row is None:
        return None
    drain_on_commit()
    return row[0]


def bookings_sync_state(*, booking_ids: Iterable[int], state: str) -> None:
    """The outbox finished these bookings (synced, skipped in a dry run, or failed for good): the booking
    row says so. Called by the outbox finishes, which lock the bookings (`bookings_lock`) before their
    outbox rows; the rows are locked again here by id, so a caller that forgot cannot invert the order."""
    ids = sorted(set(booking_ids))
    if not ids:
        return
    if state not in FINISHED_STATES:  # pending comes only with its outbox row: bookings_changed
        raise ValueError(f"not a finished sync state: {state!r}")
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH locked AS (SELECT id FROM {_BOOKINGS} WHERE id = ANY(%s) ORDER BY id FOR UPDATE)"
            f" UPDATE {_BOOKINGS} SET hubspot_state = %s"
            f" WHERE id = ANY((SELECT array_agg(id) FROM locked)::bigint[]) AND hubspot_state <> %s",
            [ids, state, state],
        )
