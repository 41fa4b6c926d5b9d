"""The compaction both rollups share (bookings' DailyStat in attribution/rollup.py, money's MoneyStat in
hubspot_sync/services/money_rollup.py): a neutral home, as hubspot_sync may not import attribution.

Triggers append signed delta rows in each writer's transaction; a compaction folds them into the rollup tables in
one statement (readers see the table before or after, never half) and drops the groups left summing to nothing.
"""

from __future__ import annotations

from django.db import connection, transaction


def deltas_fold(*, lock_id: int, statement: str, tables: dict[str, str]) -> list[str] | None:
    """Run one fold `statement` under the transaction-level advisory lock `lock_id`; None when another compaction
    holds it (nothing is waited for). The statement deletes the pending deltas, upserts their sums and returns
    `(kind, id, empty)` per rollup row it touched; the empty ones are deleted from `tables[kind]`. Returns the
    kind of each touched row."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [lock_id])
        if not cursor.fetchone()[0]:
            return None
        cursor.execute(statement)
        touched = cursor.fetchall()
        # A group whose rows all moved elsewhere (reattribute, reschedules, a deal moved) now sums to nothing.
        for kind, table in tables.items():
            empty_ids = [row_id for k, row_id, is_empty in touched if k == kind and is_empty]
            if empty_ids:
                cursor.execute(f"DELETE FROM {table} WHERE id = ANY(%s)", [empty_ids])
        return [kind for kind, _, _ in touched]
