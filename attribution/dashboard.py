"""The marketing dashboard's reads (a selector module): one report by any dimension, with a comparison period.

Where each dashboard rule lives:
- the dimensions a report can be grouped by: `DIMENSIONS`;
- what the metrics mean (booked, held, canceled, no-show rate): `_METRICS_SQL`, `_metrics_finish`;
- the money beside them (pipeline, won revenue, win rate, revenue per booking): `_money_finish`, from
  `attribution/money.py` (deals credited to bookings: `hubspot_sync/services/deal_credit.py`);
- cost beside that (cost per booking / held meeting / won deal, return on spend, days without spend data):
  `attribution/spend.py` (`spend_finish`);
- the period and its comparison: `attribution/periods.py`;
- which event types count as demos: `attribution.models.DemoEventType` (read by `demo_event_types`);
- a channel's colour: `channel_color`; the chart's continuous time axis: `chart_data`.

Whole days come from the daily rollup in one statement per period (PostgreSQL GROUPING SETS: table rows,
headline numbers, the chart's series and the "they said" table in one scan); partial days at either end and
dimensions the rollup does not hold (landing page) from the bookings table.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Q
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek
from django.utils import timezone
from django.utils.html import format_html_join

from attribution import money, spend
from attribution.models import ROLLUP_DIMENSIONS, DemoEventType
from attribution.rules import DIRECT, UNASSIGNED
from attribution.selectors import _split_days, _sum_rows, credited_bookings, rollup_where
from bookings.models import Booking


@dataclass(frozen=True)
class Dimension:
    label: str
    column: str  # the booking / rollup column
    model: str = "booking"  # the attribution model the column is read under (attribution.selectors.credited_values)
    rollup: bool = True  # held by the daily rollup; otherwise read from the bookings table


DIMENSIONS = {
    "channel": Dimension("Channel", "channel"),
    "source": Dimension("Source", "source"),
    "medium": Dimension("Medium", "medium"),
    "campaign": Dimension("Campaign", "campaign"),
    "event_type": Dimension("Event type", "event_type_name"),
    "self_reported": Dimension("They said", "self_reported_source"),
    "first_touch_channel": Dimension("First-touch channel", "channel", model="first_touch"),
    "landing_page": Dimension("Landing page", "first_touch_landing_path"),
}
DRILL = ("channel", "source", "medium", "campaign")  # clicking a row goes one level down this path
STATUSES = {"": "Any status", "active": "Not canceled", "canceled": "Canceled"}
COUNTS = ("bookings", "canceled", "no_show", "held", "direct", "unassigned", "synced")

# What each count means, over rollup rows (one row = bookings of one day and attribution):
# held = start time passed, not canceled, not a no-show. The rollup can't know which meetings have started, so
# `held` here counts every meeting not canceled and not a no-show, and `_upcoming` subtracts those still ahead.
_METRICS_SQL = [
    "sum(bookings)::int AS bookings",
    "coalesce(sum(bookings) FILTER (WHERE status = 'canceled'), 0)::int AS canceled",
    "coalesce(sum(no_show) FILTER (WHERE status <> 'canceled'), 0)::int AS no_show",
    "coalesce(sum(bookings - no_show) FILTER (WHERE status <> 'canceled'), 0)::int AS held",
    f"coalesce(sum(bookings) FILTER (WHERE channel = '{DIRECT}'), 0)::int AS direct",
    f"coalesce(sum(bookings) FILTER (WHERE channel = '{UNASSIGNED}'), 0)::int AS unassigned",
    "coalesce(sum(synced), 0)::int AS synced",
]
_TABLE_COUNTS = {  # named "count_<name>": an annotation called `no_show` would shadow the field in FILTER
    "bookings": Count("id"),
    "canceled": Count("id", filter=Q(status=Booking.Status.CANCELED)),
    "no_show": Count("id", filter=Q(no_show=True) & ~Q(status=Booking.Status.CANCELED)),
    "held": Count("id", filter=Q(no_show=False) & ~Q(status=Booking.Status.CANCELED)),
    "direct": Count("id", filter=Q(channel=DIRECT)),
    "unassigned": Count("id", filter=Q(channel=UNASSIGNED)),
    "synced": Count("id", filter=Q(hubspot_state=Booking.HubspotState.SYNCED)),
}
_TRUNC = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}


def demo_event_types() -> list[str]:
    """The event types that count as demos; [] = all of them (the default)."""
    return list(DemoEventType.objects.order_by("name").values_list("name", flat=True))


def known_values(column: str, limit: int = 500) -> list[str]:
    """Distinct values of a rollup column (filter choices), from the rollup, not the bookings table; kept a
    minute in the cache (a new event type shows up in the filter within a minute)."""
    assert column in ("event_type_name", "channel", "source", "campaign")
    return cache.get_or_set(f"sourcebook:known:{column}:{limit}", lambda: _known_values(column, limit), 60)


def _known_values(column: str, limit: int) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT {column} FROM attribution_dailystat WHERE model = 'booking' UNION "
                       f"SELECT DISTINCT {column} FROM attribution_dailystatdelta WHERE model = 'booking' "
                       f"ORDER BY 1 LIMIT %s", [limit])
        return [row[0] for row in cursor.fetchall() if row[0]]


def _sets(columns: list[str]) -> dict[str, tuple[str, ...]]:
    """The groupings one report reads: its rows, its chart and the "they said" table (the headline numbers are
    the rows' sums: every count is additive)."""
    return {"rows": tuple(columns), "series": ("period", columns[0]),
            "said": ("self_reported_source", "channel")}


def _grouped_rollup(filters: dict, model: str, sets: dict, interval: str) -> dict[str, list[dict]]:
    """All `sets` in one scan of the rollup (GROUPING SETS); GROUPING() tells the sets' rows apart."""
    condition, params = rollup_where(filters, model)
    columns = sorted({c for cols in sets.values() for c in cols})
    inner = [f"date_trunc('{interval}', day)::date AS period" if c == "period" else c for c in columns]
    source_cols = ", ".join(("day", *ROLLUP_DIMENSIONS, "bookings", "no_show", "synced"))
    distinct = {}
    for name, cols in sets.items():
        distinct.setdefault(cols, []).append(name)
    grouping = ", ".join(f"({', '.join(cols)})" for cols in distinct)
    sql = (f"SELECT GROUPING({', '.join(columns)}) AS g, {', '.join(columns)}, {', '.join(_METRICS_SQL)} FROM ("
           f"SELECT {', '.join(dict.fromkeys(inner + ['status', 'channel', 'bookings', 'no_show', 'synced']))} FROM ("
           f"SELECT {source_cols} FROM attribution_dailystat WHERE {condition} UNION ALL "
           f"SELECT {source_cols} FROM attribution_dailystatdelta WHERE {condition}) r) s "
           f"GROUP BY GROUPING SETS ({grouping}) HAVING sum(bookings) <> 0")
    masks = {}
    for cols, names in distinct.items():
        mask = sum(1 << (len(columns) - 1 - i) for i, c in enumerate(columns) if c not in cols)
        masks[mask] = (cols, names)
    out = {name: [] for name in sets}
    with connection.cursor() as cursor:
        cursor.execute(sql, params * 2)
        described = [c.name for c in cursor.description]
        for values in cursor.fetchall():
            row = dict(zip(described, values))
            cols, names = masks[row.pop("g")]
            record = {c: row[c] for c in cols} | {k: row[k] for k in COUNTS}
            for name in names:
                out[name].append(dict(record))
    return out


def _grouped_table(filters: dict, model: str, sets: dict, interval: str) -> dict[str, list[dict]]:
    """The same sets from the bookings table (partial days, and dimensions the rollup does not hold)."""
    qs, names = credited_bookings(model, filters)
    qs = qs.annotate(period=_TRUNC[interval]("booked_at"))
    out = {}
    for name, cols in sets.items():
        fields = [names.get(c, c) for c in cols]
        back = {names.get(c, c): c for c in cols}
        counts = {f"count_{k}": v for k, v in _TABLE_COUNTS.items()}
        rows = qs.order_by().values(*fields).annotate(**counts) if fields else [qs.aggregate(**counts)]
        out[name] = [{back.get(k, k.removeprefix("count_")): v for k, v in row.items()} for row in rows if row["count_bookings"]]
        for row in out[name]:
            if "period" in row:  # a day (week, month) in TIME_ZONE, as the rollup's rows have it
                row["period"] = timezone.localtime(row["period"]).date()
    return out


def _merged(parts: list[dict[str, list[dict]]], sets: dict) -> dict[str, list[dict]]:
    if len(parts) == 1:
        return parts[0]
    return {name: _sum_rows([part[name] for part in parts], list(cols), counts=COUNTS) for name, cols in sets.items()}


def _upcoming(filters: dict, model: str, columns: list[str], now: datetime,
              before: datetime | None = None) -> dict[tuple, int]:
    """Meetings not canceled and not a no-show that haven't started yet (starting before `before`, if given),
    per row key (and () for the total): what `held` must not count. Read through the partial index on
    start_time (bookings migration 0015)."""
    qs, names = credited_bookings(model, filters)
    qs = qs.filter(start_time__gt=now, no_show=False).exclude(status=Booking.Status.CANCELED)
    if before is not None:
        qs = qs.filter(start_time__lt=before)
    fields = [names.get(c, c) for c in columns]
    upcoming = {}
    for row in qs.order_by().values(*fields).annotate(n=Count("id")):
        key = tuple(row[f] for f in fields)
        upcoming[key] = row["n"]
        upcoming[()] = upcoming.get((), 0) + row["n"]
    return upcoming


def _upcoming_rollup(filters: dict, columns: list[str], now: datetime) -> dict[tuple, int]:
    """`_upcoming` without reading every meeting ahead: whole booking days from attribution_upcomingstat (start
    days after today), today's meetings still ahead and partial booking days from the bookings table."""
    core, edges = _split_days(filters)
    parts = [_upcoming(edge, "booking", columns, now) for edge in edges]
    if core is not None:
        tomorrow = timezone.make_aware(datetime.combine(timezone.localtime(now).date() + timedelta(days=1), time.min))
        later = {}
        condition, params = rollup_where(core, model=None)
        cols = ", ".join(columns)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT GROUPING({cols}) AS g, {cols}, sum(meetings)::int FROM attribution_upcomingstat "
                           f"WHERE {condition} AND start_day >= %s GROUP BY GROUPING SETS (({cols}), ()) "
                           f"HAVING sum(meetings) <> 0", [*params, tomorrow.date()])
            for g, *values, n in cursor.fetchall():
                later[() if g else tuple(values)] = n
        parts += [later, _upcoming(core, "booking", columns, now, before=tomorrow)]
    total: dict[tuple, int] = {}
    for part in parts:
        for key, n in part.items():
            total[key] = total.get(key, 0) + n
    return total


def _model(dims: list[Dimension]) -> str:
    """The attribution model a report by these dimensions reads under (a touch dimension sets it)."""
    return next((d.model for d in dims if d.model != "booking"), "booking")


def _report(bounds: tuple[datetime, datetime], filters: dict, dims: list[Dimension], interval: str, now: datetime,
            sets: dict) -> dict[str, list[dict]]:
    model = _model(dims)
    columns = [d.column for d in dims]
    ranged = {**filters, "booked_after": bounds[0], "booked_before": bounds[1]}
    if all(d.rollup for d in dims):
        core, edges = _split_days(ranged)
        parts = ([_grouped_rollup(core, model, sets, interval)] if core is not None else [])
        parts += [_grouped_table(edge, model, sets, interval) for edge in edges]
    else:
        parts = [_grouped_table(ranged, model, sets, interval)]
    result = _merged(parts, sets)
    if bounds[1] > now:  # some meetings booked in this period are still ahead: not held yet
        fast = model == "booking" and all(d.rollup for d in dims)
        upcoming = _upcoming_rollup(ranged, columns, now) if fast else _upcoming(ranged, model, columns, now)
        for row in result.get("rows", []):
            row["held"] -= upcoming.get(tuple(row[c] for c in columns), 0)
    return result


def _totals(rows: list[dict]) -> dict:
    return {name: sum(row[name] for row in rows) for name in COUNTS}


def level_values(*, bounds: tuple[datetime, datetime], filters: dict, dim: str, limit: int = 2) -> list:
    """Up to `limit` values of a drill level in the period (is there more than one?), from the rollup."""
    column = DIMENSIONS[dim].column
    return [r[column] for r in _report(bounds, filters, [DIMENSIONS[dim]], "day", bounds[1], {"rows": (column,)})["rows"]
            if r["bookings"]][:limit]


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _metrics_finish(row: dict) -> dict:
    """Rates from counts: no-show rate over meetings whose time has come (held + no-shows), never over bookings
    still ahead; shares as fractions (formatted once, by the `percent` filter)."""
    row["no_show_rate"] = _ratio(row["no_show"], row["held"] + row["no_show"])
    row["canceled_rate"] = _ratio(row["canceled"], row["bookings"])
    for name in ("direct", "unassigned", "synced"):
        row[f"{name}_share"] = _ratio(row[name], row["bookings"])
    return row


def _money_table(bounds: tuple[datetime, datetime], filters: dict, dims: list[Dimension]) -> dict[tuple, money.Money]:
    return money.money_table(group_by=[d.column for d in dims], model=_model(dims), booked_after=bounds[0],
                             booked_before=bounds[1], **filters)


def _money_finish(row: dict, m: money.Money, plan: tuple) -> dict:
    """Money beside a row's bookings: deals credited to them (a cohort: the bookings of this period), their
    pipeline (every state) and won revenue, win rate (won over closed) and won revenue per booking."""
    row["deals"], row["won"] = m.deals, m.won
    row["pipeline"], row["revenue"] = money.amount(m.pipeline, plan), money.amount(m.revenue, plan)
    row["win_rate"] = money.win_rate(m)
    row["revenue_per_booking"] = row["revenue"].per(row["bookings"]) if row["revenue"] else None
    return row


def _total(table: dict[tuple, money.Money]) -> money.Money:
    total = money.Money()
    for m in table.values():
        total.add(m)
    return total


def dashboard_report(*, current: tuple[datetime, datetime], previous: tuple[datetime, datetime] | None,
                     dims: list[str], filters: dict, interval: str, now: datetime | None = None) -> dict:
    """Everything the dashboard shows: rows by `dims` (one or two keys of DIMENSIONS) with the comparison
    period's bookings beside them — a row booked only then is kept, with 0 now, so the columns add up to the
    headline numbers — the headline numbers, the chart's series and what people said."""
    now = now or timezone.now()
    dimensions = [DIMENSIONS[d] for d in dims]
    columns = [d.column for d in dimensions]
    sets = _sets(columns)
    this = _report(current, filters, dimensions, interval, now, sets)
    before = _report(previous, filters, dimensions, interval, now, {"rows": sets["rows"]}) if previous else None
    empty = dict.fromkeys(COUNTS, 0)
    kpis = _metrics_finish(_totals(this["rows"]))
    then = _metrics_finish(_totals(before["rows"])) if before else None
    rows = {tuple(r[c] for c in columns): _metrics_finish(r) for r in this["rows"]}
    earlier = {tuple(r[c] for c in columns): r for r in (before["rows"] if before else [])}
    for key in earlier.keys() - rows.keys():
        rows[key] = _metrics_finish({**dict(zip(columns, key)), **empty})
    costs = spend.spend_table(columns=columns, bounds=current, filters=filters)
    for key in (costs or {}).keys() - rows.keys():  # spent on, booked nothing: a row, so the cost column adds up
        rows[key] = _metrics_finish({**dict(zip(columns, key)), **empty})
    table = sorted(rows.values(), key=lambda r: (-r["bookings"], -earlier.get(tuple(r[c] for c in columns), empty)["bookings"],
                                                  *[str(r[c]) for c in columns]))
    for row in table:
        row["share"] = _ratio(row["bookings"], kpis["bookings"]) or 0.0
        if before is not None:
            row["previous"] = earlier.get(tuple(row[c] for c in columns), empty)["bookings"]
            row["delta"] = row["bookings"] - row["previous"]
        for dim, column in zip(dims, columns):
            row[dim] = row[column]  # rows are keyed by the dimension's name in templates and CSV
    with_money = money.has_deals()
    if with_money:  # money columns only once HubSpot deals have been read
        plan = money.currency_plan()
        credited = _money_table(current, filters, dimensions)
        for row in table:
            _money_finish(row, credited.get(tuple(row[c] for c in columns), money.Money()), plan)
        _money_finish(kpis, _total(credited), plan)  # the comparison period's money is not read: one scan less
    missing = None
    if costs is not None:  # cost beside them (after the money: return on spend divides its won revenue)
        missing = spend.spend_finish(rows=table, kpis=kpis, columns=columns, costs=costs, bounds=current,
                                     filters=filters, plan=plan if with_money else money.currency_plan())
    return {"dims": dims, "columns": columns, "rows": table, "kpis": kpis, "previous_kpis": then, "money": with_money,
            "spend": costs is not None, "spend_missing": missing,
            "series": this["series"], "self_reported": _self_reported(this["said"])}


def _self_reported(rows: list[dict]) -> list[dict]:
    said = {}
    for row in rows:
        if not row["self_reported_source"]:
            continue
        entry = said.setdefault(row["self_reported_source"], {"self_reported_source": row["self_reported_source"],
                                                               "bookings": 0, "direct": 0, "by_channel": {}})
        entry["bookings"] += row["bookings"]
        entry["by_channel"][row["channel"]] = row["bookings"]
        if row["channel"] == DIRECT:
            entry["direct"] += row["bookings"]
    ranked = sorted(said.values(), key=lambda e: (-e["bookings"], e["self_reported_source"]))
    for entry in ranked:
        entry["top_utm_channel"] = max(entry["by_channel"].items(), key=lambda kv: (kv[1], kv[0]))[0]
    return ranked[:15]


# --- presentation helpers (pure) -------------------------------------------------------------------

PALETTE = ["#1d4ed8", "#15803d", "#b45309", "#b91c1c", "#6d28d9", "#0e7490", "#be185d", "#4d7c0f", "#c2410c",
           "#475569", "#0f766e", "#a16207", "#7e22ce", "#9f1239", "#1e40af", "#166534"]
# GA4's default channel group (attribution/defaults.py) gets fixed, distinct colours; other values hash into PALETTE.
FIXED_COLORS = {
    DIRECT: "#94a3b8", UNASSIGNED: "#f59e0b", "Paid Search": "#1d4ed8", "Organic Search": "#60a5fa",
    "Paid Social": "#be185d", "Organic Social": "#f472b6", "Email": "#15803d", "Referral": "#7c3aed",
    "AI Assistants": "#0e7490", "Paid Video": "#b91c1c", "Organic Video": "#f87171", "Display": "#a16207",
    "Paid Shopping": "#c2410c", "Organic Shopping": "#fb923c", "Paid Other": "#475569", "Affiliates": "#4d7c0f",
    "Audio": "#6d28d9", "SMS": "#0f766e", "Mobile Push": "#9f1239", "Cross-network": "#1e3a8a",
}


def channel_color(value: str) -> str:
    """One colour per value everywhere (chart, table swatch), whatever its rank: from the name itself."""
    return FIXED_COLORS.get(value) or PALETTE[zlib.crc32(str(value).encode()) % len(PALETTE)]


def buckets(start: date, end: date, interval: str) -> list[date]:
    """Every day (Monday, first of the month) from `start` up to `end` (exclusive): the chart's continuous axis,
    each bucket clipped to the period (a week that began before `start` is labelled `start`)."""
    if interval == "day":
        first = start
    elif interval == "week":
        first = start - timedelta(days=start.weekday())
    else:
        first = start.replace(day=1)
    out, day = [], first
    while day < end:
        out.append(max(day, start))
        if interval == "day":
            day += timedelta(days=1)
        elif interval == "week":
            day += timedelta(days=7)
        else:
            day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return out


def chart_data(series: list[dict], column: str, groups: list[str], start: date, end: date, interval: str,
               top: int = 10) -> dict:
    """Stacked bars on a continuous axis with zeros for empty buckets; the `top` groups by name, the rest as
    "Other"; the same numbers as a table for screen readers."""
    axis = buckets(start, end, interval)
    counts: dict = {}
    for row in series:
        bucket = max(row["period"], start)
        group = row[column] if row[column] in groups[:top] else "Other"
        counts[(bucket, group)] = counts.get((bucket, group), 0) + row["bookings"]
    shown = groups[:top] + (["Other"] if len(groups) > top else [])
    datasets = [{"label": g or "(empty)", "data": [counts.get((b, g), 0) for b in axis],
                 "backgroundColor": "#cbd5e1" if g == "Other" and len(groups) > top else channel_color(g)} for g in shown]
    return {"labels": [b.isoformat() for b in axis], "datasets": datasets}


def chart_table(chart: dict) -> str:
    """The chart's numbers as table rows (one per bucket), for screen readers and anyone who prefers a table:
    built here in one pass, not by the template engine cell by cell (a 90-day chart has a thousand cells)."""
    return format_html_join("", "<tr><th scope=\"row\">{}</th>{}</tr>", (
        (label, format_html_join("", "<td class=\"num\">{}</td>", ((d["data"][i],) for d in chart["datasets"])))
        for i, label in enumerate(chart["labels"])))
