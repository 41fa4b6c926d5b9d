"""Which booking a HubSpot deal is credited to: the one home of that rule (reports read the result,
`attribution/money.py`).

A deal is credited to the countable bookings (bookings/counting.py) of its contacts — matched by the email of
the bookings synced to each contact — made before the deal was created. A deal created before any booking, or
without a create date, is credited to none. Two are stored per deal: the **first** such booking (the
`first_touch` model credits it) and the **last** (the `booking` and `last_non_direct` models). Ties in booked_at
are broken by booking id, as everywhere else.

The credit is stored on the deal (`first_booking`, `last_booking` and their booked_at) so a report joins instead
of searching, and it is refreshed where it can change:
- the deal read, for the deals it stored (a deal created, moved, or its contacts changed);
- the HubSpot sync, for the emails of each batch of changed bookings (a new, late, moved or canceled booking);
- `deals_credit_all` (beat, nightly; and `manage.py sync_deals`), a full pass that repairs anything missed.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection, transaction

from bookings.counting import countable_sql, credited_value_sql
from bookings.models import Booking
from hubspot_sync.models import Deal, DealContact, DealCredit

_DEALS = Deal._meta.db_table
_CONTACTS = DealContact._meta.db_table
_BOOKINGS = Booking._meta.db_table
_CREDITS = DealCredit._meta.db_table
MODELS = ("booking", "first_touch", "last_non_direct")  # attribution.selectors.MODELS
CREDITED = ("channel", "source", "medium", "campaign")  # what a model changes (attribution.selectors.CREDITED)


def _credit_sql(which: str) -> str:
    """One UPDATE that sets the credit of the deals `which` selects (a condition on the deal's id, %s parameters
    allowed); rows already right are not written. Locks are taken in id order and skip a deal another
    transaction holds (the deal read storing it refreshes it itself after).

    Each contact's bookings are found by email through the booking_email index (a nested LATERAL per contact:
    written as `email IN (contacts' emails)` the planner merged the whole index per deal)."""

    def pick(order: str) -> str:
        return (f"SELECT x.id, x.booked_at FROM {_CONTACTS} c CROSS JOIN LATERAL ("
                f"SELECT b.id, b.booked_at FROM {_BOOKINGS} b WHERE b.email = c.email AND {countable_sql('b')} "
                f"AND b.booked_at < t.created_at ORDER BY {order.replace('x.', 'b.')} LIMIT 1) x "
                f"WHERE c.deal_id = t.id ORDER BY {order} LIMIT 1")

    return f"""
        WITH t AS (
            SELECT id, created_at FROM {_DEALS} WHERE {which} ORDER BY id FOR UPDATE SKIP LOCKED
        ), credit AS (
            SELECT t.id, f.id AS first_id, f.booked_at AS first_at, l.id AS last_id, l.booked_at AS last_at
            FROM t
            LEFT JOIN LATERAL ({pick("x.booked_at, x.id")}) f ON true
            LEFT JOIN LATERAL ({pick("x.booked_at DESC, x.id DESC")}) l ON true
        )
        UPDATE {_DEALS} d SET first_booking_id = credit.first_id, first_booked_at = credit.first_at,
                              last_booking_id = credit.last_id, last_booked_at = credit.last_at
        FROM credit
        WHERE d.id = credit.id
          AND (d.first_booking_id, d.first_booked_at, d.last_booking_id, d.last_booked_at)
              IS DISTINCT FROM (credit.first_id, credit.first_at, credit.last_id, credit.last_at)
    """


_ROW_COLUMNS = ("deal_id", "model", "booking_id", "booked_at", "status", "channel", "source", "medium", "campaign",
                "event_type_name", "self_reported_source", "first_touch_landing_path", "amount", "currency",
                "closed_won", "closed_lost")


def _credit_rows_select(which: str) -> str:
    """SELECT of the DealCredit rows the deals `which` selects (alias d) should have (`_ROW_COLUMNS`): one per
    model, from the first credited booking under first_touch and the last under the others; archived or
    uncredited deals none."""
    def value(name: str) -> str:
        if name not in CREDITED:
            return f"b.{name}"
        cases = " ".join(f"WHEN '{m}' THEN {credited_value_sql('b', m, name)}" for m in MODELS if m != "booking")
        return f"CASE m.model {cases} ELSE b.{name} END"

    values = ", ".join(value(n) for n in ("channel", "source", "medium", "campaign"))
    models = ", ".join(f"('{m}')" for m in MODELS)
    return f"""
        SELECT d.id, m.model, b.id, b.booked_at, b.status, {values}, b.event_type_name, b.self_reported_source,
               b.first_touch_landing_path, d.amount, d.currency, d.closed_won, d.closed_lost
        FROM {_DEALS} d CROSS JOIN (VALUES {models}) AS m(model)
        JOIN {_BOOKINGS} b ON b.id = CASE WHEN m.model = 'first_touch' THEN d.first_booking_id ELSE d.last_booking_id END
        WHERE {which} AND NOT d.archived
    """


def _credit_rows_sql(which: str) -> str:
    """INSERT … SELECT of the DealCredit rows of the deals `which` selects (a row already there is kept)."""
    return (f"INSERT INTO {_CREDITS} ({', '.join(_ROW_COLUMNS)}) {_credit_rows_select(which)}"
            f" ON CONFLICT (deal_id, model) DO NOTHING")


def _stale_rows_sql(which: str) -> str:
    """DELETE of the DealCredit rows of the deals `which` selects (a %s parameter: deal ids) that differ from what
    they should be, or should not be: an unchanged row is not written (nor is its money rollup delta)."""
    same = " AND ".join(f"n.{c} IS NOT DISTINCT FROM c.{c}" for c in _ROW_COLUMNS[2:])
    return (f"DELETE FROM {_CREDITS} c WHERE c.deal_id = ANY(%s) AND NOT EXISTS ("
            f"SELECT 1 FROM ({_credit_rows_select(which)}) AS n({', '.join(_ROW_COLUMNS)})"
            f" WHERE n.deal_id = c.deal_id AND n.model = c.model AND {same})")


def deals_credit(*, deal_ids: Iterable[int] = (), emails: Iterable[str] = ()) -> int:
    """Refresh the credit (and the report rows) of these deals and of the deals of contacts with these emails.
    Returns how many deals' credited bookings changed. A deal another transaction holds is skipped: its writer
    (the deal read) refreshes it itself."""
    ids, addresses = set(deal_ids), sorted({e for e in emails if e})
    with transaction.atomic(), connection.cursor() as cursor:
        if addresses:
            cursor.execute(f"SELECT DISTINCT deal_id FROM {_CONTACTS} WHERE email = ANY(%s)", [addresses])
            ids |= {deal_id for (deal_id,) in cursor.fetchall()}
        if not ids:
            return 0
        cursor.execute(f"SELECT id FROM {_DEALS} WHERE id = ANY(%s) ORDER BY id FOR UPDATE SKIP LOCKED", [sorted(ids)])
        locked = [deal_id for (deal_id,) in cursor.fetchall()]
        if not locked:
            return 0
        cursor.execute(_credit_sql("id = ANY(%s)"), [locked])
        changed = cursor.rowcount
        # The report rows follow the deal's amount or stage and the credited booking's values (a reattribute, a
        # cancel), not only which booking it is: a row that differs is replaced, an unchanged one left alone (the
        # nightly pass over every deal writes nothing for them, and their money rollup gets no delta).
        cursor.execute(_stale_rows_sql("d.id = ANY(%s)"), [locked, locked])
        cursor.execute(_credit_rows_sql("d.id = ANY(%s)"), [locked])
    return changed


def deals_credit_all(*, batch: int = 5000, progress=None) -> int:
    """Every deal, in batches by id (each its own short statement). Returns how many deals' credit changed."""
    changed, last = 0, 0
    while True:
        ids = list(Deal.objects.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:batch])
        if not ids:
            return changed
        changed += deals_credit(deal_ids=ids)
        last = ids[-1]
        if progress:
            progress(last, changed)
