"""The daily money rollup behind fast money reports (MoneyStat; attribution/money.py reads it): trigger SQL,
compaction, rebuild. The bookings' own rollup (attribution/rollup.py, DailyStat) is the pattern.

DealCredit holds one row per deal and attribution model (services/deal_credit.py writes them). Statement-level
triggers on it append, in the writer's transaction, one signed row per day and key of the rows a statement
inserted or deleted (an update: the old rows subtracted, the new added) to MoneyStatDelta. So a deal's credit
rewritten by `deals_credit` (delete + insert) lands as its −/+ rows, a deal or booking deleted (cascade) as its −
rows, and nothing can be written without its rollup. `money_compact` (beat, every 10 s) folds the deltas into
MoneyStat in one statement; reports read MoneyStat plus the pending deltas in one statement, so they are exact.

A row's day is the credited booking's booked_at in TIME_ZONE, baked into the trigger: a time-zone change rebuilds
it (`money_rollup_rebuild`, called by attribution's `rollup_rebuild` with the bookings' rollup).
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection, transaction

from hubspot_sync.models import MONEY_DIMENSIONS, MONEY_SUMS, DealCredit, MoneyStat, MoneyStatDelta
from project.rollups import deltas_fold

_CREDITS = DealCredit._meta.db_table
_STATS = MoneyStat._meta.db_table
_DELTAS = MoneyStatDelta._meta.db_table
SUMS = MONEY_SUMS
COMPACT_LOCK = 7_401_101  # pg advisory lock id (attribution's rollup uses 7_401_001 and the next)
TRIGGER_FUNCTION = "sourcebook_deal_credit_money"


def _tz() -> str:
    return settings.TIME_ZONE.replace("'", "")


def _day(booked_at: str = "booked_at") -> str:
    return f"({booked_at} AT TIME ZONE '{_tz()}')::date"


def key_hash_sql() -> str:
    """The unique key of a rollup row besides model and day: the md5 of its text columns as a row literal (which
    quotes each value, so no two different keys spell the same text)."""
    return f"md5(ROW({', '.join(MONEY_DIMENSIONS)})::text)::uuid"


def _sums(sign: str) -> str:
    return (f"{sign}count(*), {sign}count(*) FILTER (WHERE closed_won), {sign}count(*) FILTER (WHERE closed_lost), "
            f"{sign}coalesce(sum(amount), 0), {sign}coalesce(sum(amount) FILTER (WHERE closed_won), 0)")


def _grouped(table: str, sign: str) -> str:
    keys = ", ".join(("model", *MONEY_DIMENSIONS))
    return f"SELECT {_day()}, {keys}, {_sums(sign)} FROM {table} GROUP BY 1, {keys}"


def trigger_sql() -> str:
    """The trigger function (days in TIME_ZONE) and its three statement-level triggers on DealCredit (transition
    tables: one trigger per event)."""
    keys = ", ".join(("model", *MONEY_DIMENSIONS))
    cols = ", ".join(("day", "model", *MONEY_DIMENSIONS, *SUMS))
    sums = ", ".join(f"sum({c})" for c in SUMS)
    nonzero = " OR ".join(f"sum({c}) <> 0" for c in SUMS)
    both = (f"SELECT day, {keys}, {sums} FROM ({_grouped('old_rows', '-')} UNION ALL {_grouped('new_rows', '')})"
            f" AS c(day, {keys}, {', '.join(SUMS)}) GROUP BY day, {keys} HAVING {nonzero}")
    triggers = []
    for event, tables in (("INSERT", "NEW TABLE AS new_rows"), ("DELETE", "OLD TABLE AS old_rows"),
                          ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows")):
        name = f"{TRIGGER_FUNCTION}_{event.lower()}"
        triggers.append(f"DROP TRIGGER IF EXISTS {name} ON {_CREDITS};\n"
                        f"CREATE TRIGGER {name} AFTER {event} ON {_CREDITS} REFERENCING {tables}\n"
                        f"  FOR EACH STATEMENT EXECUTE FUNCTION {TRIGGER_FUNCTION}();")
    return f"""
CREATE OR REPLACE FUNCTION {TRIGGER_FUNCTION}() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO {_DELTAS} ({cols}) {_grouped('new_rows', '')};
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO {_DELTAS} ({cols}) {_grouped('old_rows', '-')};
  ELSE
    INSERT INTO {_DELTAS} ({cols}) {both};
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
{chr(10).join(triggers)}
"""


def money_rows_sql() -> str:
    """INSERT … SELECT of the whole rollup from DealCredit (rebuild, and the migration that added it)."""
    keys = ", ".join(("model", *MONEY_DIMENSIONS))
    return (f"INSERT INTO {_STATS} (day, {keys}, key_hash, {', '.join(SUMS)})"
            f" SELECT {_day()}, {keys}, {key_hash_sql()}, {_sums('')} FROM {_CREDITS} GROUP BY 1, {keys}")


def money_compact() -> int:
    """Fold pending deltas into MoneyStat (one statement: readers see before or after, never half); rows left
    summing to nothing (every deal of that key moved away) are dropped. Returns the rows touched."""
    keys = ", ".join(("day", "model", *MONEY_DIMENSIONS))
    sums = ", ".join(f"sum({c})" for c in SUMS)
    added = ", ".join(f"{c} = {_STATS}.{c} + EXCLUDED.{c}" for c in SUMS)
    empty = " AND ".join(f"{c} = 0" for c in SUMS)
    touched = deltas_fold(lock_id=COMPACT_LOCK, tables={"stat": _STATS}, statement=f"""
        WITH moved AS (DELETE FROM {_DELTAS} RETURNING *)
        INSERT INTO {_STATS} ({keys}, key_hash, {', '.join(SUMS)})
        SELECT {keys}, {key_hash_sql()}, {sums} FROM moved GROUP BY {keys}
        ON CONFLICT (model, day, key_hash) DO UPDATE SET {added}
        RETURNING 'stat', id, {empty} AS empty""")
    return len(touched or [])


def money_rollup_rebuild() -> None:
    """Recreate the trigger (days in today's TIME_ZONE) and recount the rollup from DealCredit. Runs inside the
    caller's transaction when there is one (attribution's `rollup_rebuild`: both rollups change together)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {_CREDITS} IN SHARE MODE")  # credit writers wait; none is lost
        cursor.execute(trigger_sql())
        cursor.execute(f"TRUNCATE {_STATS}, {_DELTAS}")
        cursor.execute(money_rows_sql())
