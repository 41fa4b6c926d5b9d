"""The daily rollup behind fast reports: trigger SQL, compaction, rebuild."""

from __future__ import annotations

from django.conf import settings
from django.db import connection, transaction

from bookings.counting import countable_sql

DIMS = ("status", "channel", "source", "medium", "campaign", "event_type_name", "self_reported_source")
COUNTS = ("bookings", "no_show", "synced")
WATCHED = ("booked_at", "rescheduled", "no_show", "hubspot_state", *DIMS)
COMPACT_LOCK = 7_401_001  # pg advisory lock id


def _delta_values(row: str, sign: str) -> str:
    tz = settings.TIME_ZONE.replace("'", "")
    dims = ", ".join(f"{row}.{d}" for d in DIMS)
    return (f"(({row}.booked_at AT TIME ZONE '{tz}')::date, {dims}, {sign}1,"
            f" {sign}({row}.no_show)::int, {sign}({row}.hubspot_state = 'synced')::int)")


def trigger_sql() -> str:
    cols = ", ".join(("day", *DIMS, *COUNTS))
    watched_old = ", ".join(f"OLD.{c}" for c in WATCHED)
    watched_new = ", ".join(f"NEW.{c}" for c in WATCHED)
    return f"""
CREATE OR REPLACE FUNCTION sourcebook_booking_rollup() RETURNS trigger AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') AND {countable_sql('OLD')} THEN
    INSERT INTO attribution_dailystatdelta ({cols}) VALUES {_delta_values('OLD', '-')};
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') AND {countable_sql('NEW')} THEN
    INSERT INTO attribution_dailystatdelta ({cols}) VALUES {_delta_values('NEW', '')};
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS sourcebook_booking_rollup_ins_del ON bookings_booking;
DROP TRIGGER IF EXISTS sourcebook_booking_rollup_upd ON bookings_booking;
CREATE TRIGGER sourcebook_booking_rollup_ins_del AFTER INSERT OR DELETE ON bookings_booking
  FOR EACH ROW EXECUTE FUNCTION sourcebook_booking_rollup();
CREATE TRIGGER sourcebook_booking_rollup_upd AFTER UPDATE ON bookings_booking
  FOR EACH ROW WHEN (({watched_old}) IS DISTINCT FROM ({watched_new}))
  EXECUTE FUNCTION sourcebook_booking_rollup();
"""


def rollup_compact() -> int:
    """Fold pending deltas into DailyStat (one statement: readers see before or after, never half)."""
    keys = ", ".join(("day", *DIMS))
    sums = ", ".join(f"sum({c})" for c in COUNTS)
    updates = ", ".join(f"{c} = attribution_dailystat.{c} + EXCLUDED.{c}" for c in COUNTS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [COMPACT_LOCK])
        if not cursor.fetchone()[0]:
            return 0
        cursor.execute(f"""
            WITH moved AS (DELETE FROM attribution_dailystatdelta RETURNING *)
            INSERT INTO attribution_dailystat ({keys}, {', '.join(COUNTS)})
            SELECT {keys}, {sums} FROM moved GROUP BY {keys}
            ON CONFLICT ({keys}) DO UPDATE SET {updates}
            RETURNING id, {' + '.join(f'abs({c})' for c in COUNTS)} = 0""")
        touched = cursor.fetchall()
        # A group whose bookings all moved elsewhere (reattribute, reschedules) now sums to nothing: drop it.
        empty = [row_id for row_id, is_empty in touched if is_empty]
        if empty:
            cursor.execute("DELETE FROM attribution_dailystat WHERE id = ANY(%s)", [empty])
        return len(touched)


def rollup_rebuild() -> None:
    """Recreate the trigger (e.g. after TIME_ZONE changed) and recompute the rollup from bookings."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("LOCK TABLE bookings_booking IN SHARE MODE")
        cursor.execute(trigger_sql())
        cursor.execute("TRUNCATE attribution_dailystat, attribution_dailystatdelta")
        tz = settings.TIME_ZONE.replace("'", "")
        keys = ", ".join(DIMS)
        cursor.execute(f"""
            INSERT INTO attribution_dailystat (day, {keys}, {', '.join(COUNTS)})
            SELECT (booked_at AT TIME ZONE '{tz}')::date, {keys}, count(*), count(*) FILTER (WHERE no_show), count(*) FILTER (WHERE hubspot_state = 'synced')
            FROM bookings_booking WHERE {countable_sql()}
            GROUP BY 1, {keys}""")
