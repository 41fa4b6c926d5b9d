"""Spend in reports (a selector module): cost per channel / source / medium / campaign for a period, the days of a
period with no spend data at all, and what cost buys — cost per booking, per held meeting, per won deal, and
return on spend (won revenue ÷ cost).

Where each spend rule lives:
- what a CSV row means (date or month, normalization): `attribution.spend_csv`; the rows: `models.Spend`;
- a row's channel, and its source/medium/campaign after the rules' aliases: `attribution.rules.attribution_compute`
  on its (normalized) values with the current rules, as a booking tagged with them would be classified;
- a month's cost in a period: spread evenly over its days (`_COST_SQL`): 31 October's share of an October row is
  1/31 of it; a period of whole months gets the whole month;
- a day without any spend row is *missing*, never zero (`spend_missing_days`); a row with cost 0 is data;
- money: per currency, never summed across currencies without HubSpot's exchange rates (`attribution.money`).
Report filters other than the period and channel/source/medium/campaign (status, event type) don't apply to cost:
cost isn't spent per event type.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.utils import timezone

from attribution import money
from attribution.models import Spend
from attribution.rules import attribution_compute
from attribution.ruleset import ruleset_current

SPEND_GROUPS = ("channel", "source", "medium", "campaign")
TWO = Decimal("0.01")

# A row's share of cost within [first, last] (inclusive days): cost × days overlapped ÷ days it covers.
_COST_SQL = ("SELECT source, medium, campaign, currency, sum(cost * (LEAST(last_day, %(last)s) - GREATEST(day, %(first)s)"
             " + 1) / (last_day - day + 1)) FROM attribution_spend WHERE day <= %(last)s AND last_day >= %(first)s "
             "GROUP BY 1, 2, 3, 4")
_MISSING_SQL = ("SELECT d::date FROM generate_series(%(first)s::date, %(last)s::date, interval '1 day') AS d "
                "WHERE NOT EXISTS (SELECT 1 FROM attribution_spend s WHERE s.day <= d::date AND s.last_day >= d::date) "
                "ORDER BY 1")


def spend_span(booked_after: datetime | None = None, booked_before: datetime | None = None) -> tuple[date, date] | None:
    """The report period as inclusive days in TIME_ZONE; an open end is the first spend day / today. None: empty."""
    if booked_after is not None:
        first = timezone.localtime(booked_after).date()
    else:
        with connection.cursor() as cursor:
            cursor.execute("SELECT min(day) FROM attribution_spend")
            first = cursor.fetchone()[0]
        if first is None:
            return None
    if booked_before is not None:
        end = timezone.localtime(booked_before)
        last = end.date() - timedelta(days=1) if end.time() == datetime.min.time() else end.date()
    else:
        last = timezone.localdate()
    return (first, last) if first <= last else None


def _classify(source: str, medium: str, campaign: str, ruleset) -> dict:
    raw = {k: v for k, v in (("source", source), ("medium", medium), ("campaign", campaign)) if v}
    found = attribution_compute(raw=raw, ruleset=ruleset)
    return {"channel": found.channel, "source": found.source, "medium": found.medium, "campaign": found.campaign}


def spend_cost(*, group_by: list[str] | tuple = ("channel",), booked_after: datetime | None = None,
               booked_before: datetime | None = None, **filters) -> dict[tuple, dict[str, Decimal]]:
    """Cost per group (a tuple of `group_by` values) per currency code, unrounded, within the period. Drill filters
    (channel, source, medium, campaign) match the classified values, as they match bookings'."""
    assert all(g in SPEND_GROUPS for g in group_by), group_by
    span = spend_span(booked_after, booked_before)
    if span is None:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(_COST_SQL, {"first": span[0], "last": span[1]})
        rows = cursor.fetchall()
    ruleset = ruleset_current()
    match = {k: v for k, v in filters.items() if k in SPEND_GROUPS and v is not None}
    out: dict = defaultdict(lambda: defaultdict(Decimal))
    for source, medium, campaign, currency, cost in rows:
        values = _classify(source, medium, campaign, ruleset)
        if any(values[k] != v for k, v in match.items()):
            continue
        out[tuple(values[g] for g in group_by)][currency] += cost
    return {key: dict(per) for key, per in out.items()}


def spend_missing_days(*, booked_after: datetime | None = None, booked_before: datetime | None = None,
                       today: date | None = None, **filters) -> list[date]:
    """The days of the period (up to today) that no spend row covers: no spend data, not zero cost. With drill
    filters (channel, source, medium, campaign) only the spend rows in that scope count: a day with newsletter
    spend but none for Paid Search is missing on the Paid Search drill-down."""
    span = spend_span(booked_after, booked_before)
    if span is None:
        return []
    first, last = span[0], min(span[1], today or timezone.localdate())
    if last < first:
        return []
    match = {k: v for k, v in filters.items() if k in SPEND_GROUPS and v is not None}
    if not match:
        with connection.cursor() as cursor:
            cursor.execute(_MISSING_SQL, {"first": first, "last": last})
            return [row[0] for row in cursor.fetchall()]
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT source, medium, campaign, GREATEST(day, %(first)s), LEAST(last_day, %(last)s) "
                       "FROM attribution_spend WHERE day <= %(last)s AND last_day >= %(first)s",
                       {"first": first, "last": last})
        rows = cursor.fetchall()
    ruleset = ruleset_current()
    covered: set[date] = set()
    for source, medium, campaign, start, end in rows:
        values = _classify(source, medium, campaign, ruleset)
        if all(values[k] == v for k, v in match.items()):
            covered.update(start + timedelta(days=i) for i in range((end - start).days + 1))
    return [first + timedelta(days=i) for i in range((last - first).days + 1)
            if first + timedelta(days=i) not in covered]


def day_ranges(days: list[date]) -> list[list[str]]:
    """[d1, d2, d3, d7] → [["d1", "d3"], ["d7", "d7"]]: missing days, compactly."""
    ranges: list[list[date]] = []
    for day in days:
        if ranges and ranges[-1][1] + timedelta(days=1) == day:
            ranges[-1][1] = day
        else:
            ranges.append([day, day])
    return [[a.isoformat(), b.isoformat()] for a, b in ranges]


# --- money arithmetic (per currency; converted only with HubSpot's rates) ---------------------------------------


def _convert(amount: Decimal, code: str | None, to: str | None, company: str, rates: dict) -> Decimal | None:
    """`amount` in `code` expressed in `to` (rates are company-currency units per unit of a currency)."""
    if code is None or to is None or code == to:
        return amount
    in_company = amount if code == company else amount * rates[code] if code in rates else None
    if in_company is None:
        return None
    return in_company if to == company else in_company / rates[to] if to in rates and company else None


def money_value(per_currency: dict, company: str, rates: dict, divide_by: int = 1):
    """A report value for an amount per currency (÷ `divide_by`): a decimal string when one currency (or rates)
    allows, else {code: string}; None when `divide_by` is 0 (cost per nothing) or there is no amount."""
    if not divide_by or not per_currency:
        return None
    one = money.single_amount(per_currency, company, rates)
    if one is not None:
        return f"{(one[0] / divide_by).quantize(TWO)}"
    return {c: f"{(v / divide_by).quantize(TWO)}" for c, v in sorted(per_currency.items())}


def money_currency(per_currency: dict, company: str, rates: dict) -> str | None:
    one = money.single_amount(per_currency, company, rates) if per_currency else None
    return one[1] if one else None


def return_on_spend(revenue: dict, cost: dict, company: str, rates: dict) -> str | None:
    """Won revenue ÷ cost as a decimal string ("3.25" = 3.25 per 1 spent), in one currency (converted with rates
    when they differ); None without cost, or when currencies can't be brought together."""
    spent, won = money.single_amount(cost, company, rates), money.single_amount(revenue, company, rates)
    if spent is None or won is None or not spent[0]:
        return None
    earned = _convert(won[0], won[1], spent[1], company, rates)
    return None if earned is None else f"{(earned / spent[0]).quantize(TWO)}"


# --- reports --------------------------------------------------------------------------------------


def _won_revenue(*, group_by: list[str], model: str, **filters) -> tuple[dict, dict]:
    """Won deals credited per group (`money.money_table`): (count per key, revenue per key per currency)."""
    table = money.money_table(group_by=group_by, model=model, **filters)
    return ({k: m.won for k, m in table.items() if m.won},
            {k: {c: v for c, v in m.revenue.items()} for k, m in table.items() if m.won})


def _missing(filters: dict) -> dict:
    days = spend_missing_days(**{k: v for k, v in filters.items() if k in ("booked_after", "booked_before", *SPEND_GROUPS)})
    return {"days_without_spend": len(days), "missing_days": day_ranges(days)}


_MIXED_NOTE = ("Spend or revenue in several currencies and no HubSpot exchange rates for them: amounts are reported "
               "per currency code, never summed; return on spend is left out where currencies differ.")


def cost_breakdown(*, group_by: list[str], model: str = "booking", **filters) -> dict:
    """The report API's `metric=cost`: cost per group for the period (per currency when mixed), the total, and
    the days of the period without spend data."""
    company, rates = money.currency_plan()
    costs = spend_cost(group_by=group_by, **filters)
    total: dict = defaultdict(Decimal)
    rows = []
    for key, per in costs.items():
        for code, value in per.items():
            total[code] += value
    mixed = bool(total) and money.single_amount(dict(total), company, rates) is None
    for key, per in costs.items():
        value = ({c: f"{v.quantize(TWO)}" for c, v in sorted(per.items())} if mixed
                 else money_value(per, company, rates) or "0.00")
        rows.append(dict(zip(group_by, key)) | {"cost": value})
    rows.sort(key=lambda r: ([str(r[g]) for g in group_by]))
    report = {"metric": "cost", "rows": rows,
              "total": (money_value(dict(total), company, rates) or "0.00") if not mixed
              else {c: f"{v.quantize(TWO)}" for c, v in sorted(total.items())},
              "currency": None if mixed else money_currency(dict(total), company, rates), **_missing(filters)}
    if mixed:
        report["note"] = _MIXED_NOTE
    return report


def roas_breakdown(*, group_by: list[str], model: str = "booking", **filters) -> dict:
    """The report API's `metric=roas`: per group its cost, won revenue and return on spend (revenue ÷ cost);
    groups with revenue but no cost are listed with roas null."""
    company, rates = money.currency_plan()
    costs = spend_cost(group_by=group_by, **filters)
    _, revenue = _won_revenue(group_by=group_by, model=model, **filters)
    all_cost: dict = defaultdict(Decimal)
    all_revenue: dict = defaultdict(Decimal)
    rows = []
    for key in sorted(costs.keys() | revenue.keys(), key=lambda k: [str(v) for v in k]):
        cost, won = costs.get(key, {}), revenue.get(key, {})
        for code, value in cost.items():
            all_cost[code] += value
        for code, value in won.items():
            all_revenue[code] += value
        rows.append(dict(zip(group_by, key)) | {"cost": money_value(cost, company, rates),
                                                  "revenue": money_value(won, company, rates),
                                                  "roas": return_on_spend(won, cost, company, rates)})
    report = {"metric": "roas", "rows": rows, "total": return_on_spend(dict(all_revenue), dict(all_cost), company, rates),
              "cost": money_value(dict(all_cost), company, rates), "revenue": money_value(dict(all_revenue), company, rates),
              **_missing(filters)}
    if any(isinstance(report[k], dict) for k in ("cost", "revenue")) or (report["total"] is None and all_cost and all_revenue):
        report["note"] = _MIXED_NOTE
    return report


def rows_flat(report: dict, metrics: tuple) -> list[dict]:
    """Rows for a CSV: an amount per currency becomes a column per code (`cost EUR`); never a dict in a cell."""
    rows = [dict(r) for r in report["rows"]]
    for metric in metrics:
        codes = sorted({c for r in rows if isinstance(r.get(metric), dict) for c in r[metric]})
        if not codes:
            continue
        for row in rows:
            value = row.pop(metric)
            for code in codes:
                row[f"{metric} {code}"] = value.get(code, "") if isinstance(value, dict) else ""
    return rows


# --- the dashboard's spend columns ------------------------------------------------------------------


def has_spend() -> bool:
    """Spend has been uploaded (the dashboard shows its columns only then)."""
    return Spend.objects.exists()


def spend_table(*, columns: list[str], bounds: tuple[datetime, datetime], filters: dict) -> dict[tuple, dict] | None:
    """The dashboard's cost per row key (`columns` values) per currency for the period, or None when spend doesn't
    apply: none uploaded, or rows by something spend isn't uploaded by (event type, landing page...). A key may have
    no bookings: money spent on a campaign that booked nothing is a row too."""
    if not all(c in SPEND_GROUPS for c in columns) or not has_spend():
        return None
    return spend_cost(group_by=columns, booked_after=bounds[0], booked_before=bounds[1], **filters)


def spend_finish(*, rows: list[dict], kpis: dict, columns: list[str], costs: dict[tuple, dict],
                 bounds: tuple[datetime, datetime], filters: dict, plan: tuple[str, dict]) -> dict:
    """Cost beside the dashboard's rows and headline (`costs` from `spend_table`): `cost`, `cost_per_booking`,
    `cost_per_held`, `cost_per_won` and `roas` (won revenue ÷ cost; rows carry `won` and `revenue` from the money
    columns when deals exist, and without revenue but with cost the return is 0). Returns what the page says about
    days without spend data: {"days": n, "ranges": [[first, last], ...]}."""
    total: dict = defaultdict(Decimal)
    for per in costs.values():
        for code, value in per.items():
            total[code] += value
    for row, per in [*((r, costs.get(tuple(r[c] for c in columns), {})) for r in rows), (kpis, dict(total))]:
        cost = money.amount(per, plan)
        row["cost"] = cost if cost.parts else None
        row["cost_per_booking"] = cost.per(row["bookings"]) if cost.parts else None
        row["cost_per_held"] = cost.per(row["held"]) if cost.parts and row["held"] > 0 else None
        row["cost_per_won"] = cost.per(row.get("won") or 0) if cost.parts else None
        revenue = row.get("revenue")
        row["roas"] = (None if not cost else revenue.ratio_to(cost) if revenue else 0.0 if "revenue" in row else None)
    days = spend_missing_days(booked_after=bounds[0], booked_before=bounds[1],
                              **{k: v for k, v in filters.items() if k in SPEND_GROUPS})
    return {"days": len(days), "ranges": day_ranges(days)}
