"""Report reads, shared by the report API, the dashboard and CSV export (so their numbers agree)."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date, datetime, time, timedelta

from django.db import connection
from django.utils import timezone

from django.db.models import Case, Count, F, Q, QuerySet, When
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek

from attribution.models import ROLLUP_DIMENSIONS, ManualAttribution, ReattributeJob
from attribution.periods import month_parse
from attribution.rules import DIRECT, DIRECT_MEDIUM, DIRECT_SOURCE, NOT_SET, UNASSIGNED, spelling_key
from attribution.ruleset import ruleset_current
from bookings.counting import COUNTABLE, person_first_and_last
from bookings.models import Booking

GROUP_FIELDS = ("channel", "source", "medium", "campaign", "event_type_name", "self_reported_source")
MODELS = ("booking", "first_touch", "last_non_direct")
CREDITED = ("channel", "source", "medium", "campaign")  # what an attribution model changes; the rest is the booking's


def credited_values(model: str) -> dict:
    """What a booking is credited to under an attribution model: the one home of that rule.

    - `booking` (the default): the booking's own attribution — its UTMs, else its journey's last non-direct
      touch (`attributed_by="journey"`), else Direct — the same values the rollup counts.
    - `first_touch`: its journey's first touch in the lookback window; `last_non_direct`: its journey's
      last non-direct touch.
    Under every model a booking with no such touch keeps its own attribution and a manual assignment wins, and
    each booking is credited once, so every model's totals are the same. Returns {} for `booking`, else
    one expression per credited field."""
    if model == "booking":
        return {}
    prefix = {"first_touch": "first_touch_", "last_non_direct": "last_touch_"}[model]
    return {
        name: Case(When(attributed_by=Booking.AttributedBy.MANUAL, then=F(name)),
                   When(**{f"{prefix}channel__gt": ""}, then=F(f"{prefix}{name}")), default=F(name))
        for name in CREDITED
    }


def credited_bookings(model: str, filters: dict) -> tuple[QuerySet[Booking], dict]:
    """Countable bookings with `credit_<field>` annotations for a touch model, drill filters applied to the
    credited values; and the map from report field to the annotation that stands for it. Under `booking` the
    bookings' own fields are the credited ones: the report's bookings and an empty map."""
    if model == "booking":
        return report_bookings(**filters), {}
    filters = dict(filters)
    match = {name: filters.pop(name) for name in CREDITED if filters.get(name) is not None}
    qs = report_bookings(**filters).annotate(**{f"credit_{name}": e for name, e in credited_values(model).items()})
    for name, value in match.items():
        qs = qs.filter(**{f"credit_{name}": value})
    return qs, {name: f"credit_{name}" for name in CREDITED}


def _renamed(rows: list[dict], names: dict) -> list[dict]:
    back = {alias: name for name, alias in names.items()}
    return [{back.get(key, key): value for key, value in row.items()} for row in rows]
INTERVALS = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}


def report_filtered(
    qs: QuerySet, *, booked_after: datetime | None = None, booked_before: datetime | None = None,
    status: str | None = None, event_type: str | None = None, event_types: list[str] | None = None, **match,
) -> QuerySet:
    """A report's filters on `qs`, any rows with the booking's field names (bookings, and the deals' report rows,
    `hubspot_sync.models.DealCredit`): the period on booked_at, status, event type(s), the group fields."""
    if booked_after:
        qs = qs.filter(booked_at__gte=booked_after)
    if booked_before:
        qs = qs.filter(booked_at__lt=booked_before)
    if status:
        qs = qs.filter(status=status)
    if event_type:
        qs = qs.filter(event_type_name=event_type)
    if event_types:
        qs = qs.filter(event_type_name__in=event_types)
    for name, value in match.items():
        if name in GROUP_FIELDS and value is not None:
            qs = qs.filter(**{name: value})
    return qs


def report_bookings(**filters) -> QuerySet[Booking]:
    """Bookings as reports count them (bookings/counting.py; the same rows the rollup counts)."""
    return report_filtered(Booking.objects.filter(COUNTABLE), **filters)


def _counts():
    return {
        "bookings": Count("id"),
        "canceled": Count("id", filter=Q(status=Booking.Status.CANCELED)),
        "no_show": Count("id", filter=Q(no_show=True)),
    }


# --- rollup path (exact: DailyStat + pending deltas) ---------------------------------------------

def _midnight(value: datetime | None) -> bool:
    return value is None or timezone.localtime(value).time() == time.min


def _rollup_usable(filters: dict) -> bool:
    """Whole days in TIME_ZONE can be answered from the daily rollup."""
    return _midnight(filters.get("booked_after")) and _midnight(filters.get("booked_before"))


def _day_floor(value: datetime) -> datetime:
    local = timezone.localtime(value)
    return timezone.make_aware(datetime.combine(local.date(), time.min))


def _split_days(filters: dict) -> tuple[dict | None, list[dict]]:
    """[after, before) as its whole days in TIME_ZONE (for the rollup) and the partial days at either
    end (for the bookings table: at most a day each, read through the booked_at index)."""
    after, before = filters.get("booked_after"), filters.get("booked_before")
    core_after = after if _midnight(after) else _day_floor(after) + timedelta(days=1)
    core_before = before if _midnight(before) else _day_floor(before)
    if core_after is not None and core_before is not None and core_after >= core_before:
        return None, [filters]  # within one day
    edges = []
    if core_after != after:
        edges.append({**filters, "booked_before": core_after})
    if core_before != before:
        edges.append({**filters, "booked_after": core_before})
    return {**filters, "booked_after": core_after, "booked_before": core_before}, edges


def _from_rollup_and_table(filters: dict, rollup, table) -> list:
    """One result per part: the rollup for whole days, the bookings table for partial ones."""
    core, edges = _split_days(filters)
    return ([rollup(core)] if core is not None else []) + [table(edge) for edge in edges]


def _sum_rows(parts: list[list[dict]], keys: list[str], counts=None) -> list[dict]:
    """Rows of several parts (the rollup's whole days, the table's partial ones) summed per key: `counts`
    (default COUNT_COLUMNS) added up, rows left with no bookings dropped."""
    merged: dict = {}
    for rows in parts:
        for row in rows:
            key = tuple(row[k] for k in keys)
            if key in merged:
                for name in counts or COUNT_COLUMNS:
                    merged[key][name] += row[name]
            else:
                merged[key] = dict(row)
    return [row for row in merged.values() if row["bookings"]]


def rollup_where(filters: dict, model: str | None = "booking", *, only_model: bool = False) -> tuple[str, list]:
    """The WHERE clause (and its parameters) that picks `filters`' whole days out of the rollup tables, with
    `report_filtered`'s meaning of each filter. `model`: the bookings' rows plus that model's difference rows
    (DailyStat); with `only_model`, that model's rows alone (the money rollup, hubspot_sync.MoneyStat); None: a table
    without models (attribution_upcomingstat)."""
    if model is None:
        where, params = ["TRUE"], []
    else:
        where, params = (["model = %s"] if only_model else ["model IN ('booking', %s)"]), [model]
    if filters.get("booked_after"):
        where.append("day >= %s")
        params.append(timezone.localtime(filters["booked_after"]).date())
    if filters.get("booked_before"):
        where.append("day < %s")
        params.append(timezone.localtime(filters["booked_before"]).date())
    if filters.get("status"):
        where.append("status = %s")
        params.append(filters["status"])
    if filters.get("event_type"):
        where.append("event_type_name = %s")
        params.append(filters["event_type"])
    if filters.get("event_types"):  # the event types that count as demos (attribution.models.DemoEventType)
        where.append("event_type_name = ANY(%s)")
        params.append(list(filters["event_types"]))
    for name in GROUP_FIELDS:
        if filters.get(name) is not None:
            where.append(f"{name} = %s")
            params.append(filters[name])
    return " AND ".join(where), params


def _rollup_rows(*, select: list[str], group: list[str], filters: dict, order: str = "", model: str = "booking") -> list[dict]:
    """Rollup rows (DailyStat or, for all time, TotalStat + pending deltas) of the whole days in `filters`; under a
    touch model, the bookings' rows plus that model's difference rows (attribution/rollup.py)."""
    condition, params = rollup_where(filters, model)
    # No day asked for or bounded: the all-time rollup (TotalStat) holds the same sums in far fewer rows.
    bounded = bool(filters.get("booked_after") or filters.get("booked_before"))
    by_day = bounded or any(re.search(r"\bday\b", part) for part in (*select, *group))
    cols = ", ".join(("day" if by_day else "NULL::date AS day", *ROLLUP_DIMENSIONS, "bookings", "no_show", "synced"))
    table = "attribution_dailystat" if by_day else "attribution_totalstat"
    sql = (f"SELECT {', '.join(select)} FROM (SELECT {cols} FROM {table} WHERE {condition}"
           f" UNION ALL SELECT {cols.replace('NULL::date AS day', 'day')} FROM attribution_dailystatdelta WHERE {condition}) s"
           + (f" GROUP BY {', '.join(group)} HAVING sum(bookings) <> 0" if group else "") + (f" ORDER BY {order}" if order else ""))
    with connection.cursor() as cursor:
        cursor.execute(sql, params * 2)
        names = [c.name for c in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]


COUNT_COLUMNS = ("bookings", "canceled", "no_show")  # what every report row counts (the names below and in _counts)
ROLLUP_COUNTS = [
    "sum(bookings)::int AS bookings",
    "(sum(bookings) FILTER (WHERE status = 'canceled'))::int AS canceled",
    "sum(no_show)::int AS no_show",
]


def _breakdown_rollup(group_by: list[str], filters: dict, model: str = "booking") -> list[dict]:
    rows = _rollup_rows(select=[*group_by, *ROLLUP_COUNTS], group=list(group_by), filters=filters, model=model)
    for row in rows:
        row["canceled"] = row["canceled"] or 0
    return rows


def _breakdown_table(group_by: list[str], filters: dict, model: str = "booking") -> list[dict]:
    qs, names = credited_bookings(model, filters)
    return _renamed(list(qs.values(*[names.get(g, g) for g in group_by]).annotate(**_counts())), names)


def breakdown(*, group_by: list[str], model: str = "booking", **filters) -> dict:
    """Bookings by channel → source → medium → campaign (any prefix), with shares of the total, under any
    attribution model (`credited_values`): whole days from the rollup, partial days from the bookings table."""
    parts = _from_rollup_and_table(filters, lambda f: _breakdown_rollup(group_by, f, model),
                                   lambda f: _breakdown_table(group_by, f, model))
    rows = parts[0] if len(parts) == 1 else _sum_rows(parts, list(group_by))
    rows.sort(key=lambda r: (-r["bookings"], *[r[g] for g in group_by]))
    total = sum(r["bookings"] for r in rows)
    for row in rows:
        row["share"] = round(row["bookings"] / total, 4) if total else 0.0
    return {"rows": rows, "total": total}


def timeseries(*, interval: str = "day", group_by: str = "channel", model: str = "booking", **filters) -> dict:
    """Bookings per period and group, for stacked charts (under a touch model: from the bookings table)."""
    if _rollup_usable(filters):
        period = f"date_trunc('{interval}', day)::date AS period"
        rows = _rollup_rows(select=[period, group_by, *ROLLUP_COUNTS], group=["period", group_by], filters=filters,
                            model=model)
        for row in rows:
            row["canceled"] = row["canceled"] or 0
            row["period"] = timezone.make_aware(datetime.combine(row["period"], time.min))
        rows.sort(key=lambda r: (r["period"], r[group_by]))
    else:
        qs, names = credited_bookings(model, filters)
        field = names.get(group_by, group_by)
        rows = _renamed(list(qs.annotate(period=INTERVALS[interval]("booked_at")).values("period", field)
                             .annotate(**_counts()).order_by("period", field)), names)
    return {"interval": interval, "group_by": group_by, "rows": rows, "total": sum(r["bookings"] for r in rows)}


def _kpis_rollup(filters: dict) -> dict:
    [counts] = _rollup_rows(select=[
        "coalesce(sum(bookings), 0)::int AS bookings",
        "coalesce(sum(bookings) FILTER (WHERE status = 'canceled'), 0)::int AS canceled",
        "coalesce(sum(no_show), 0)::int AS no_show",
        f"coalesce(sum(bookings) FILTER (WHERE channel = '{DIRECT}'), 0)::int AS direct",
        f"coalesce(sum(bookings) FILTER (WHERE channel = '{UNASSIGNED}'), 0)::int AS unassigned",
        "coalesce(sum(synced), 0)::int AS synced",
    ], group=[], filters=filters)
    return counts


def _kpis_table(filters: dict) -> dict:
    return report_bookings(**filters).aggregate(
        **_counts(),
        direct=Count("id", filter=Q(channel=DIRECT)),
        unassigned=Count("id", filter=Q(channel=UNASSIGNED)),
        synced=Count("id", filter=Q(hubspot_state=Booking.HubspotState.SYNCED)),
    )


def kpis(**filters) -> dict:
    """Headline numbers: bookings, canceled %, no-show %, (direct) and Unassigned shares, synced %."""
    parts = _from_rollup_and_table(filters, _kpis_rollup, _kpis_table)
    counts = {name: sum(part[name] for part in parts) for name in parts[0]}
    total = counts["bookings"]

    def pct(n):
        return round(100 * n / total, 1) if total else 0.0

    return {**counts, "canceled_pct": pct(counts["canceled"]), "no_show_pct": pct(counts["no_show"]),
            "direct_pct": pct(counts["direct"]), "unassigned_pct": pct(counts["unassigned"]),
            "synced_pct": pct(counts["synced"])}


def hygiene(**filters) -> dict:
    """What needs fixing in our links: unassigned values, banned values, spelling collisions, the backlog.

    All from the daily rollup (one GROUP BY over its distinct channel/source/medium/campaign values), so the page
    costs the same at 10M bookings as at 10k; partial days at the ends of a range come from the bookings table."""
    ruleset = ruleset_current()
    rows = breakdown(group_by=["channel", "source", "medium", "campaign"], **filters)["rows"]
    unassigned, banned = defaultdict(int), defaultdict(int)
    values = {name: defaultdict(int) for name in ("source", "medium", "campaign")}
    for row in rows:
        if row["channel"] == UNASSIGNED:
            unassigned[(row["source"], row["medium"])] += row["bookings"]
            # A banned value always lands in Unassigned; the rollup holds the values as the rules left them.
            if {row["source"], row["medium"], row["campaign"]} & ruleset.banned:
                banned[(row["source"], row["medium"], row["campaign"])] += row["bookings"]
        if row["channel"] != DIRECT:
            for name, counts in values.items():
                counts[row[name]] += row["bookings"]
    return {
        "unassigned": [{"source": s, "medium": m, "bookings": n} for (s, m), n in _most_first(unassigned)[:200]],
        "banned": [{"source": s, "medium": m, "campaign": c, "bookings": n} for (s, m, c), n in _most_first(banned)[:200]],
        "collisions": _spelling_collisions(values),
        "direct_backlog": direct_backlog(**filters),
    }


def _most_first(counts: dict) -> list[tuple]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def _spelling_collisions(values: dict[str, dict[str, int]]) -> list[dict]:
    """Values of one field that are probably one value spelled two ways ("linked-in" and "linkedin"): they split
    that value's numbers until an alias joins them. Spellings the rules already join (case, `+`/`%20`, aliases
    such as lnkd.in → linkedin) are one value in the rollup and are not listed."""
    collisions = []
    for name, counts in values.items():
        groups = defaultdict(list)
        for value, n in counts.items():
            if value and value not in (DIRECT_SOURCE, DIRECT_MEDIUM, NOT_SET) and n > 0:
                groups[spelling_key(value)].append((value, n))
        for key, spellings in groups.items():
            if key and len(spellings) > 1:
                spellings.sort(key=lambda vn: (-vn[1], vn[0]))
                collisions.append({"field": name, "value": spellings[0][0], "bookings": sum(n for _, n in spellings),
                                   "spellings": [{"raw": v, "bookings": n} for v, n in spellings]})
    collisions.sort(key=lambda c: (-c["bookings"], c["field"], c["value"]))
    return collisions


def direct_backlog(**filters) -> list[dict]:
    """Untagged bookings by event type and month, so old untagged links can be found."""
    if _rollup_usable(filters):
        rows = _rollup_rows(select=["event_type_name", "date_trunc('month', day)::date AS month", "sum(bookings)::int AS bookings"],
                            group=["event_type_name", "month"], filters={**filters, "channel": DIRECT})
        for row in rows:
            row["month"] = timezone.make_aware(datetime.combine(row["month"], time.min))
        return sorted(rows, key=lambda r: (-r["month"].timestamp(), -r["bookings"]))
    return list(
        report_bookings(**filters).filter(channel=DIRECT)
        .annotate(month=TruncMonth("booked_at"))
        .values("event_type_name", "month").annotate(bookings=Count("id")).order_by("-month", "-bookings")
    )


def contact_attribution(*, email: str) -> dict | None:
    """First and last touch across one person's bookings (HubSpot's own source is first-touch only)."""
    email = email.strip().lower()
    fields = ("invitee_uri", "booked_at", "source", "medium", "campaign", "content", "term", "channel",
              "self_reported_source")
    person = person_first_and_last(Booking.objects.filter(email=email).only("id", "rescheduled", *fields))
    if person is None:
        return None
    def touch(booking):
        return {name: getattr(booking, name) for name in fields}
    return {"email": email, "first_touch": touch(person.first), "last_touch": touch(person.last),
            "bookings_count": person.counted, "self_reported_source": person.self_reported_source}



def journey_rescued_count(**filters) -> int:
    """Bookings without UTMs of their own that their visitor's journey attributed: out of the (direct) backlog."""
    return report_bookings(**filters).filter(attributed_by=Booking.AttributedBy.JOURNEY).count()


# --- the (direct) backlog ---------------------------------------------------------------------------
#
# "(direct)" is one set everywhere: countable bookings (bookings/counting.py) whose channel is Direct, on their
# booking day in TIME_ZONE. The dashboard's Direct tile, the backlog's groups, total, list and bulk assignments
# all read that set, so the dashboard's count and the backlog page agree for the same period.


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """`2026-06` → midnights (TIME_ZONE) of 1 June and 1 July; ValueError says why a month can't be read."""
    year, mon = month_parse(month)
    first = date(year, mon, 1)
    following = date(year + mon // 12, mon % 12 + 1, 1)
    return (timezone.make_aware(datetime.combine(first, time.min)),
            timezone.make_aware(datetime.combine(following, time.min)))


def direct_backlog_filters(*, booked_after: datetime | None = None, booked_before: datetime | None = None,
                           event_type: str = "", month: str = "", said: str | None = None) -> dict:
    """Report filters for the backlog's selection: the period, narrowed to a month (a month outside the period
    selects nothing), an event type and what people said (`said`: a self-reported source, "" = no answer)."""
    if month:
        first, following = month_bounds(month)
        booked_after = max(booked_after, first) if booked_after else first
        booked_before = min(booked_before, following) if booked_before else following
        if booked_after >= booked_before:
            booked_before = booked_after
    filters = {"booked_after": booked_after, "booked_before": booked_before}
    if event_type:
        filters["event_type"] = event_type
    if said is not None:
        filters["self_reported_source"] = said
    return filters


def _empty(filters: dict) -> bool:
    after, before = filters.get("booked_after"), filters.get("booked_before")
    return after is not None and before is not None and after >= before


def direct_backlog_said(**filters) -> list[dict]:
    """Untagged bookings by what people said ("how did you hear about us?", normalized), most first; "" = no
    answer, listed last. From the rollup: `self_reported_source` is one of its dimensions."""
    if _empty(filters):
        return []
    rows = breakdown(group_by=["self_reported_source"], channel=DIRECT, **filters)["rows"]
    said = [{"self_reported_source": r["self_reported_source"], "bookings": r["bookings"]} for r in rows]
    return sorted(said, key=lambda r: (not r["self_reported_source"], -r["bookings"], r["self_reported_source"]))


def direct_backlog_bookings(*, booked_after: datetime | None = None, booked_before: datetime | None = None,
                            event_type: str = "", month: str = "", said: str | None = None):
    """Untagged bookings of the selection (`direct_backlog_filters`), newest first, for the backlog page: read
    through the partial index `booking_direct_backlog` (booked_at, id) of countable Direct bookings."""
    try:
        filters = direct_backlog_filters(booked_after=booked_after, booked_before=booked_before,
                                         event_type=event_type, month=month, said=said)
    except ValueError:  # the form said why it ignored the month
        filters = direct_backlog_filters(booked_after=booked_after, booked_before=booked_before,
                                         event_type=event_type, said=said)
    qs = report_bookings(**filters).filter(channel=DIRECT).order_by("-booked_at", "-id")
    if _empty(filters):
        qs = qs.none()
    return qs.only("id", "email", "name", "event_type_name", "booked_at", "self_reported_raw", "self_reported_source",
                   "visitor_id", "status")


BULK_ASSIGN_LIMIT = 1000  # bookings one bulk assignment moves (each is audited one by one); the rest: apply again


def direct_backlog_ids(*, booking_ids: list[int] | None = None, limit: int = BULK_ASSIGN_LIMIT, **selection) -> list[int]:
    """Ids of untagged bookings to assign: the chosen ones still in the backlog, or (no ids) every booking of a
    selection (`direct_backlog_bookings`' arguments), newest first, at most `limit`."""
    if booking_ids is not None:
        qs = report_bookings().filter(channel=DIRECT, pk__in=booking_ids).order_by("-booked_at", "-id")
    else:
        qs = direct_backlog_bookings(**selection)
    return list(qs.values_list("pk", flat=True)[:limit])


def source_choices(limit: int = 300) -> list[str]:
    """Sources to choose from when assigning: the ones tagged bookings used (rollup, most used first), then the
    rules' and aliases' canonical sources; never a banned or brand value, nor `(direct)` / `(not set)`."""
    ruleset = ruleset_current()
    used = _rollup_rows(select=["source", "sum(bookings)::int AS bookings"], group=["source"], filters={},
                        order="bookings DESC, source")
    skip = {DIRECT_SOURCE, NOT_SET, ""} | ruleset.banned
    names = [r["source"] for r in used if r["bookings"] > 0] + sorted(ruleset.known_sources)
    return [name for name in dict.fromkeys(names) if name not in skip][:limit]


def source_mediums(source: str) -> list[str]:
    """The mediums tagged bookings used with a source, most used first (to reach a chosen channel the way the
    real links do, e.g. linkedin/paid_social for Paid Social)."""
    rows = _rollup_rows(select=["medium", "sum(bookings)::int AS bookings"], group=["medium"],
                        filters={"source": source}, order="bookings DESC, medium")
    return [r["medium"] for r in rows if r["bookings"] > 0 and r["medium"] not in (NOT_SET, DIRECT_MEDIUM)]


def assignment_history(limit: int = 20) -> list[dict]:
    """The latest manual assignments, newest first; a bulk one ("They said") is one item with its size and how
    many of it are still in place (`{"entry", "batch", "bookings", "open"}`)."""
    entries = ManualAttribution.objects.select_related("booking", "user", "reverted_by").order_by("-created_at", "-id")
    items, batches = [], {}
    for entry in entries[: limit * 5]:
        batch = entry.to_values.get("batch")
        if batch in batches:
            continue
        item = {"entry": entry, "batch": batch or ""}
        if batch:
            batches[batch] = item
        items.append(item)
        if len(items) == limit:
            break
    if batches:
        sizes = (ManualAttribution.objects.filter(to_values__batch__in=list(batches)).values("to_values__batch")
                 .annotate(bookings=Count("id"), open=Count("id", filter=Q(reverted_at=None))))
        for row in sizes:
            batches[row["to_values__batch"]].update(bookings=row["bookings"], open=row["open"])
    return items


def reattribute_job_banner() -> dict:
    """The re-attribution queued or running now, and the last one that ended (dashboard banner)."""
    jobs = list(ReattributeJob.objects.select_related("started_by").order_by("-created_at", "-id")[:5])
    active = next((j for j in jobs if j.state in ReattributeJob.ACTIVE_STATES), None)
    last = next((j for j in jobs if j.state not in ReattributeJob.ACTIVE_STATES), None)
    return {"active": active, "last": last}
