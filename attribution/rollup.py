"""The daily rollup behind fast reports (DailyStat, and TotalStat: the same without its day): trigger SQL,
compaction, rebuild."""

from __future__ import annotations

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from attribution.models import RollupState
from bookings.counting import countable_sql
from hubspot_sync.services.money_rollup import money_rollup_rebuild
from project.rollups import deltas_fold

DIMS = ("status", "channel", "source", "medium", "campaign", "event_type_name", "self_reported_source",
        "first_touch_landing_path")
COUNTS = ("bookings", "no_show", "synced")
# Attribution models that credit a booking to a journey touch (attribution.selectors.credited_values) -> the
# prefix of that touch's columns on the booking. The rollup keeps, per model, only the difference the model
# makes: a booking whose touch credits other values adds -1 at its own values and +1 at the touch's.
CREDIT_MODELS = {"first_touch": "first_touch_", "last_non_direct": "last_touch_"}
CREDITED = ("channel", "source", "medium", "campaign")
JOURNEY_WATCHED = ("attributed_by", *(f"{prefix}{name}" for prefix in CREDIT_MODELS.values() for name in CREDITED))
WATCHED = ("booked_at", "start_time", "rescheduled", "no_show", "hubspot_state", *DIMS, *JOURNEY_WATCHED)
KEYS = ("model", *DIMS)  # a rollup row's key besides its day
COMPACT_LOCK = 7_401_001  # pg advisory lock id


def _tz() -> str:
    return settings.TIME_ZONE.replace("'", "")


def _day(row: str) -> str:
    return f"({row}.booked_at AT TIME ZONE '{_tz()}')::date"


def _start_day(row: str) -> str:
    return f"({row}.start_time AT TIME ZONE '{_tz()}')::date"


def _today() -> str:
    return f"(now() AT TIME ZONE '{_tz()}')::date"


def _upcoming_for(row: str, sign: str) -> str:
    """Trigger statement: a meeting still ahead (or today) is counted in attribution_upcomingstat."""
    dims = ", ".join(DIMS)
    own = ", ".join(f"{row}.{d}" for d in DIMS)
    return (f"IF NOT {row}.no_show AND {row}.status <> 'canceled' AND {row}.start_time IS NOT NULL "
            f"AND {_start_day(row)} >= {_today()} THEN INSERT INTO attribution_upcomingstat "
            f"(day, start_day, {dims}, meetings) VALUES ({_day(row)}, {_start_day(row)}, {own}, {sign}1); END IF;")


def _counts(row: str, sign: str) -> str:
    return f"{sign}1, {sign}({row}.no_show)::int, {sign}({row}.hubspot_state = 'synced')::int"


def _flip(sign: str) -> str:
    return "" if sign == "-" else "-"


def _credit_differs(row: str, prefix: str) -> str:
    """The booking's touch under this model credits other values than its own (a manual assignment never)."""
    touch = ", ".join(f"{row}.{prefix}{name}" for name in CREDITED)
    own = ", ".join(f"{row}.{name}" for name in CREDITED)
    return f"{row}.attributed_by <> 'manual' AND {row}.{prefix}channel <> '' AND ({touch}) IS DISTINCT FROM ({own})"


def _rows_for(row: str, sign: str) -> str:
    """Trigger statements for one record (OLD with sign '-', NEW with ''): its booking row, and its credit rows."""
    cols = ", ".join(("day", *KEYS, *COUNTS))
    own = ", ".join(f"{row}.{d}" for d in DIMS)
    statements = [f"INSERT INTO attribution_dailystatdelta ({cols}) VALUES "
                  f"({_day(row)}, 'booking', {own}, {_counts(row, sign)});"]
    for model, prefix in CREDIT_MODELS.items():
        credited = ", ".join(f"{row}.{prefix}{d}" if d in CREDITED else f"{row}.{d}" for d in DIMS)
        statements.append(
            f"IF {_credit_differs(row, prefix)} THEN INSERT INTO attribution_dailystatdelta ({cols}) VALUES "
            f"({_day(row)}, '{model}', {own}, {_counts(row, _flip(sign))}), "
            f"({_day(row)}, '{model}', {credited}, {_counts(row, sign)}); END IF;")
    statements.append(_upcoming_for(row, sign))
    return "\n    ".join(statements)


def trigger_sql() -> str:
    watched_old = ", ".join(f"OLD.{c}" for c in WATCHED)
    watched_new = ", ".join(f"NEW.{c}" for c in WATCHED)
    return f"""
CREATE OR REPLACE FUNCTION sourcebook_booking_rollup() RETURNS trigger AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') AND {countable_sql('OLD')} THEN
    {_rows_for('OLD', '-')}
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') AND {countable_sql('NEW')} THEN
    {_rows_for('NEW', '')}
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


def booking_rows_sql() -> str:
    """INSERT … SELECT of every counted booking's own rollup rows (model 'booking'; rebuild and migrations)."""
    keys = ", ".join(DIMS)
    return (f"INSERT INTO attribution_dailystat (day, {keys}, {', '.join(COUNTS)})"
            f" SELECT {_day('bookings_booking')}, {keys}, count(*), count(*) FILTER (WHERE no_show),"
            f" count(*) FILTER (WHERE hubspot_state = 'synced') FROM bookings_booking WHERE {countable_sql()}"
            f" GROUP BY 1, {keys}")


def credit_rows_sql() -> str:
    """INSERT … SELECT of every counted booking's credit rows (rebuild, and the migration that added them)."""
    keys = ", ".join(KEYS)
    parts = []
    for model, prefix in CREDIT_MODELS.items():
        own = ", ".join(DIMS)
        credited = ", ".join(f"{prefix}{d}" if d in CREDITED else d for d in DIMS)
        where = f"WHERE {countable_sql()} AND {_credit_differs('bookings_booking', prefix)}"
        day = _day("bookings_booking")
        parts.append(f"SELECT {day}, '{model}', {own}, -1, -(no_show)::int, -(hubspot_state = 'synced')::int"
                     f" FROM bookings_booking {where}")
        parts.append(f"SELECT {day}, '{model}', {credited}, 1, (no_show)::int, (hubspot_state = 'synced')::int"
                     f" FROM bookings_booking {where}")
    return (f"INSERT INTO attribution_dailystat (day, {keys}, {', '.join(COUNTS)})"
            f" SELECT day, {keys}, sum(b), sum(n), sum(s) FROM ({' UNION ALL '.join(parts)}) AS c(day, {keys}, b, n, s)"
            f" GROUP BY day, {keys} HAVING sum(b) <> 0 OR sum(n) <> 0 OR sum(s) <> 0")


def rollup_compact() -> int:
    """Fold pending deltas into DailyStat and TotalStat (one statement: readers see before or after, never half)."""
    keys = ", ".join(("day", *KEYS))
    total_keys = ", ".join(KEYS)
    sums = ", ".join(f"sum({c})" for c in COUNTS)
    empty = " + ".join(f"abs({c})" for c in COUNTS) + " = 0"
    touched = deltas_fold(lock_id=COMPACT_LOCK, tables={"day": "attribution_dailystat", "total": "attribution_totalstat"},
                          statement=f"""
        WITH moved AS (DELETE FROM attribution_dailystatdelta RETURNING *),
        days AS (
          INSERT INTO attribution_dailystat ({keys}, {', '.join(COUNTS)})
          SELECT {keys}, {sums} FROM moved GROUP BY {keys}
          ON CONFLICT ({keys}) DO UPDATE SET {_added('attribution_dailystat')}
          RETURNING id, {empty} AS empty),
        totals AS (
          INSERT INTO attribution_totalstat ({total_keys}, {', '.join(COUNTS)})
          SELECT {total_keys}, {sums} FROM moved GROUP BY {total_keys}
          ON CONFLICT ({total_keys}) DO UPDATE SET {_added('attribution_totalstat')}
          RETURNING id, {empty} AS empty)
        SELECT 'day', id, empty FROM days UNION ALL SELECT 'total', id, empty FROM totals""")
    return touched.count("day") if touched else 0


def _added(table: str) -> str:
    return ", ".join(f"{c} = {table}.{c} + EXCLUDED.{c}" for c in COUNTS)


def totals_from_days_sql() -> str:
    """INSERT … SELECT of TotalStat from DailyStat (rebuild, and the migration that added it)."""
    keys = ", ".join(KEYS)
    return (f"INSERT INTO attribution_totalstat ({keys}, {', '.join(COUNTS)})"
            f" SELECT {keys}, {', '.join(f'sum({c})' for c in COUNTS)} FROM attribution_dailystat GROUP BY {keys}"
            f" HAVING {' OR '.join(f'sum({c}) <> 0' for c in COUNTS)}")


def upcoming_rows_sql() -> str:
    """INSERT … SELECT of the meetings still ahead (today included), grouped (rebuild, and its migration)."""
    dims = ", ".join(DIMS)
    return (f"INSERT INTO attribution_upcomingstat (day, start_day, {dims}, meetings)"
            f" SELECT {_day('b')}, {_start_day('b')}, {dims}, count(*) FROM bookings_booking b"
            f" WHERE {countable_sql('b')} AND NOT b.no_show AND b.status <> 'canceled' AND b.start_time IS NOT NULL"
            f" AND {_start_day('b')} >= {_today()} GROUP BY 1, 2, {dims}")


def upcoming_compact() -> int:
    """Fold the upcoming rows and drop the days already past (the table stays a few weeks of meetings)."""
    dims = ", ".join(DIMS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [COMPACT_LOCK + 1])
        if not cursor.fetchone()[0]:
            return 0
        cursor.execute(f"""
            WITH moved AS (DELETE FROM attribution_upcomingstat RETURNING *)
            INSERT INTO attribution_upcomingstat (day, start_day, {dims}, meetings)
            SELECT day, start_day, {dims}, sum(meetings) FROM moved WHERE start_day >= {_today()}
            GROUP BY day, start_day, {dims} HAVING sum(meetings) <> 0""")
        return cursor.rowcount


def rollup_time_zone() -> str | None:
    """The time zone the rollup's days were counted in (None before the first rebuild of an old install)."""
    return RollupState.objects.values_list("time_zone", flat=True).first()


def rollup_time_zone_stale() -> str | None:
    """The rollup's time zone when it is not TIME_ZONE's (the setting changed and no rebuild ran yet)."""
    stored = rollup_time_zone()
    return stored if stored and stored != settings.TIME_ZONE else None


def rollup_rebuild() -> None:
    """Recreate the trigger (e.g. after TIME_ZONE changed) and recompute the rollup from bookings; the money rollup
    (hubspot_sync/services/money_rollup.py: its days are in TIME_ZONE too) is rebuilt with it, in one transaction."""
    with transaction.atomic(), connection.cursor() as cursor:
        RollupState.objects.update_or_create(pk=1, defaults={"time_zone": settings.TIME_ZONE, "rebuilt_at": timezone.now()})
        cursor.execute("LOCK TABLE bookings_booking IN SHARE MODE")
        cursor.execute(trigger_sql())
        cursor.execute("TRUNCATE attribution_dailystat, attribution_dailystatdelta, attribution_totalstat, "
                       "attribution_upcomingstat")
        cursor.execute(upcoming_rows_sql())
        cursor.execute(booking_rows_sql())
        cursor.execute(credit_rows_sql())
        cursor.execute(totals_from_days_sql())
        money_rollup_rebuild()
