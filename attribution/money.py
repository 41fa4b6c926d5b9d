"""Money in reports: the money metrics of the breakdown report (`metric_breakdown`) and of the dashboard
(`money_table`), read from each deal's stored credit.

Which booking a deal is credited to is decided in one place, `hubspot_sync/services/deal_credit.py`: the first
and the last countable booking of its contacts made before the deal was created (none when the deal came first).
Under `booking` and `last_non_direct` a deal is credited to the last such booking, under `first_touch` to the
first; the deal then takes that booking's values under the model (`selectors.credited_values`: its own
attribution, or its journey's touch, or a manual assignment). So every model credits each deal exactly once and
totals are equal under every model. The period is the credited booking's booked_at (a cohort view): whole days
are read from the daily money rollup (`hubspot_sync/services/money_rollup.py`), partial days from the credit rows.
Amounts are never converted silently: with the portal's exchange rates (read by the deal read) they are converted
to the company currency; without, money is reported per currency code.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.db import connection
from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils import timezone

from attribution import selectors
from hubspot_sync.models import (MONEY_DIMENSIONS, MONEY_SUMS, Deal, DealCredit, DealSyncState, MoneyStat,
                                  MoneyStatDelta)

MONEY_METRICS = ("deals", "pipeline", "won", "revenue")
METRICS = ("bookings", "held", *MONEY_METRICS)
AMOUNT_METRICS = ("pipeline", "revenue")
CENT = Decimal("0.01")
RATE_LIMIT = Decimal(10) ** 9  # no currency is worth a billion of another: a larger rate is a broken value


def _credited(model: str, filters: dict) -> QuerySet[DealCredit]:
    """The deals credited under `model` (one DealCredit row each; archived deals have none), report filters
    applied to the credited booking's values as the rows hold them (`selectors.report_filtered`)."""
    return selectors.report_filtered(DealCredit.objects.filter(model=model), **filters)


def credited_deals(*, model: str = "booking", group_by: tuple | list = selectors.CREDITED, deal_ids=None,
                   **filters) -> list[dict]:
    """One row per credited deal (archived deals left out): its pk, hubspot_id, amount, currency, closed_won,
    `booking_id` and `booked_at` of the credited booking and its `group_by` values under `model`. Report filters
    (dates, status, channel...) apply to the credited booking; `deal_ids` (Deal primary keys) narrows it to
    those deals."""
    qs = _credited(model, filters)
    if deal_ids is not None:
        qs = qs.filter(deal_id__in=list(deal_ids))
    columns = ("deal_id", "deal__hubspot_id", "amount", "currency", "closed_won", "booking_id", "booked_at", *group_by)
    keys = ("pk", "hubspot_id", "amount", "currency", "closed_won", "booking_id", "booked_at", *group_by)
    return [dict(zip(keys, row)) for row in qs.values_list(*columns).order_by("deal_id")]


@dataclass
class Money:
    """The money of one report row: deal counts, and amounts per currency code (never summed across codes here)."""

    deals: int = 0
    won: int = 0
    lost: int = 0
    pipeline: dict = field(default_factory=lambda: defaultdict(Decimal))
    revenue: dict = field(default_factory=lambda: defaultdict(Decimal))

    def add(self, other: "Money") -> None:
        self.deals, self.won, self.lost = self.deals + other.deals, self.won + other.won, self.lost + other.lost
        for code, value in other.pipeline.items():
            self.pipeline[code] += value
        for code, value in other.revenue.items():
            self.revenue[code] += value


def money_table(*, group_by: list[str], model: str = "booking", **filters) -> dict[tuple, Money]:
    """Money per group (a tuple of the `group_by` values under `model`): whole days (TIME_ZONE) from the daily
    money rollup (`hubspot_sync.models.MoneyStat` and its pending deltas, one statement), partial days at either
    end from the deals' report rows (DealCredit, an index range of a day at most) — as the bookings' reports
    split their periods (`selectors._split_days`). Equal to `money_table_from_credits` (hypothesis-tested)."""
    fields = list(group_by)
    parts = selectors._from_rollup_and_table(filters, lambda f: _rollup_money_rows(fields, model, f),
                                             lambda f: _credit_money_rows(fields, model, f))
    return _money_fold(parts, fields)


def money_table_from_credits(*, group_by: list[str], model: str = "booking", **filters) -> dict[tuple, Money]:
    """`money_table` read from the deals' report rows alone, every day of the period (the reference the rollup
    must equal; one aggregate over an index range of the period)."""
    fields = list(group_by)
    return _money_fold([_credit_money_rows(fields, model, filters)], fields)


def _credit_money_rows(fields: list[str], model: str, filters: dict) -> list[dict]:
    won = Q(closed_won=True)
    return list(_credited(model, filters).values(*fields, deal_currency=F("currency"))
                .annotate(n=Count("pk"), n_won=Count("pk", filter=won), n_lost=Count("pk", filter=Q(closed_lost=True)),
                          pipeline=Sum("amount"), revenue=Sum("amount", filter=won))
                .order_by())


def _rollup_money_rows(fields: list[str], model: str, filters: dict) -> list[dict]:
    """`_credit_money_rows` for whole days, from MoneyStat plus its pending deltas in one statement (exact while
    compaction runs: it moves deltas in one statement too)."""
    unknown = set(fields) - set(MONEY_DIMENSIONS)
    if unknown:
        raise ValueError(f"not a money rollup column: {', '.join(sorted(unknown))}")
    condition, params = selectors.rollup_where(filters, model, only_model=True)
    cols = ", ".join(("currency", *fields, *MONEY_SUMS))
    keys = ", ".join((*fields, "currency"))
    sql = (f"SELECT {keys}, sum(deals)::int AS n, sum(won)::int AS n_won, sum(lost)::int AS n_lost,"
           f" sum(pipeline) AS pipeline, sum(revenue) AS revenue"
           f" FROM (SELECT {cols} FROM {MoneyStat._meta.db_table} WHERE {condition}"
           f" UNION ALL SELECT {cols} FROM {MoneyStatDelta._meta.db_table} WHERE {condition}) s"
           f" GROUP BY {keys} HAVING sum(deals) <> 0")
    with connection.cursor() as cursor:
        cursor.execute(sql, params * 2)
        names = [c.name for c in cursor.description]
        rows = [dict(zip(names, row)) for row in cursor.fetchall()]
    for row in rows:
        row["deal_currency"] = row.pop("currency")
    return rows


def _money_fold(parts: list[list[dict]], fields: list[str]) -> dict[tuple, Money]:
    """Aggregate rows (per group and currency, from either source) into Money per group."""
    company = currency_plan()[0]
    table: dict[tuple, Money] = defaultdict(Money)
    for rows in parts:
        for row in rows:
            money = table[tuple(row[f] for f in fields)]
            code = row["deal_currency"] or company or "(none)"
            money.deals += row["n"]
            money.won += row["n_won"]
            money.lost += row["n_lost"]
            money.pipeline[code] += row["pipeline"] or Decimal(0)
            if row["n_won"]:
                money.revenue[code] += row["revenue"] or Decimal(0)
    return dict(table)


def currency_plan() -> tuple[str, dict]:
    """The portal's company currency and its usable exchange rates (read once per report)."""
    state = DealSyncState.objects.filter(name="deals").values("company_currency", "exchange_rates").first() or {}
    rates = {}
    for code, text in (state.get("exchange_rates") or {}).items():
        rate = _rate(text)
        if rate is not None:
            rates[code] = rate
    return state.get("company_currency") or "", rates


def _rate(text) -> Decimal | None:
    """A conversion rate from HubSpot's text, or None when it isn't a positive number a sum can be multiplied by
    (without a rate its currency is reported by code, never converted with a broken one)."""
    try:
        rate = Decimal(str(text)) if isinstance(text, (str, int, float)) else None
    except InvalidOperation:
        return None
    return rate if rate is not None and rate.is_finite() and 0 < rate < RATE_LIMIT else None


def single_amount(per_currency: dict, company: str, rates: dict) -> tuple[Decimal, str | None] | None:
    """One amount and its currency when it can be one: (0, None) for nothing, the one currency, or everything
    converted to the company currency with HubSpot's rates; None when currencies are mixed without rates."""
    codes = list(per_currency)
    if not codes:
        return Decimal(0), None
    if len(codes) == 1:
        return per_currency[codes[0]], codes[0]
    if company and all(c == company or c in rates for c in codes):
        return sum((v if c == company else v * rates[c] for c, v in per_currency.items()), Decimal(0)), company
    return None


def _money(per_currency: dict, company: str, rates: dict):
    """A sum in one currency when it can be (`single_amount`): (value, currency); else ({code: amount}, None).
    Amounts are strings with two decimals (exact)."""
    one = single_amount(per_currency, company, rates)
    if one is None:
        return {c: f"{v:.2f}" for c, v in sorted(per_currency.items())}, None
    value, code = one
    return f"{value:.2f}", code or (company or None)


@dataclass(frozen=True)
class Amount:
    """Money for display: one part (one currency, or converted to the company currency with HubSpot's rates)
    or one part per currency code when they can't be summed. Never a silent sum across codes."""

    parts: tuple  # ((code, Decimal), ...), sorted by code

    @property
    def single(self) -> Decimal | None:
        return self.parts[0][1] if len(self.parts) == 1 else None

    @property
    def currency(self) -> str | None:
        return self.parts[0][0] if len(self.parts) == 1 else None

    def per(self, n: int) -> "Amount | None":
        return Amount(tuple((code, value / n) for code, value in self.parts)) if n else None

    def ratio_to(self, cost: "Amount") -> float | None:
        """This amount over another in the same single currency (return on spend); None otherwise."""
        if self.currency and self.currency == cost.currency and cost.single:
            return float(self.single / cost.single)
        return None

    def __bool__(self) -> bool:
        return any(value for _, value in self.parts)

    def __str__(self) -> str:
        return " + ".join(f"{code} {value:,.2f}" for code, value in self.parts) if self.parts else "–"


def has_deals() -> bool:
    """Deals have been read from HubSpot (money columns are shown only then)."""
    return Deal.objects.filter(archived=False).exists()


def amount(per_currency: dict, plan: tuple[str, dict] | None = None) -> Amount:
    if not per_currency:
        return Amount(())
    company, rates = plan or currency_plan()
    one = single_amount(dict(per_currency), company, rates)
    if one is None:
        return Amount(tuple((c, v.quantize(CENT)) for c, v in sorted(per_currency.items())))
    return Amount(((one[1], one[0].quantize(CENT)),))


def win_rate(money: "Money") -> float | None:
    """Closed won over closed (won + lost): open deals are not yet lost."""
    closed = money.won + money.lost
    return money.won / closed if closed else None


def metric_breakdown(*, metric: str, group_by: list[str], model: str = "booking", **filters) -> dict:
    """The breakdown report for one metric: rows by `group_by` with that metric, and its `total`."""
    if metric == "bookings":
        report = selectors.breakdown(group_by=group_by, model=model, **filters)
        return {"metric": metric, **report}
    if metric == "held":
        qs, names = selectors.credited_bookings(model, filters)
        fields = [names.get(g, g) for g in group_by]
        held = Q(status="active", no_show=False, start_time__lte=timezone.now())
        rows = [{g: row[names.get(g, g)] for g in group_by} | {"held": row["held"]}
                for row in qs.filter(held).values(*fields).annotate(held=Count("pk")).order_by(*fields)]
        rows.sort(key=lambda r: (-r["held"], *[str(r[g]) for g in group_by]))
        return {"metric": metric, "rows": rows, "total": sum(r["held"] for r in rows)}
    table = money_table(group_by=group_by, model=model, **filters)
    won_only = metric in ("won", "revenue")
    counts = {key: (m.won if won_only else m.deals) for key, m in table.items()}
    counts = {key: n for key, n in counts.items() if n}
    if metric in ("deals", "won"):
        rows = [dict(zip(group_by, key)) | {metric: n} for key, n in counts.items()]
        rows.sort(key=lambda r: (-r[metric], *[str(r[g]) for g in group_by]))
        return {"metric": metric, "rows": rows, "total": sum(counts.values())}
    company, rates = currency_plan()
    groups = {key: (table[key].revenue if won_only else table[key].pipeline) for key in counts}
    all_currencies: dict = defaultdict(Decimal)
    for per_currency in groups.values():
        for code, value in per_currency.items():
            all_currencies[code] += value
    total, currency = _money(dict(all_currencies), company, rates)
    rows = []
    for key, per_currency in groups.items():
        # Rows follow the total's form: one currency (converted when the total is) or an object per currency.
        if currency is None:
            value = {c: f"{v:.2f}" for c, v in sorted(per_currency.items())}
        else:
            value = f"{sum((v if c == currency else v * rates[c] for c, v in per_currency.items()), Decimal(0)):.2f}"
        rows.append(dict(zip(group_by, key)) | {metric: value, "deals": counts[key]})
    rows.sort(key=lambda r: (-r["deals"], *[str(r[g]) for g in group_by]))
    report = {"metric": metric, "rows": rows, "total": total, "currency": currency}
    if currency is None:
        report["note"] = ("Deals in several currencies and no HubSpot exchange rates for them: amounts are reported "
                          "per currency code, never summed.")
    return report


def rows_flat(report: dict, metric: str) -> list[dict]:
    """Rows for a CSV: an amount per currency becomes one column per currency code (`revenue EUR`)."""
    codes = sorted({c for row in report["rows"] if isinstance(row.get(metric), dict) for c in row[metric]})
    if not codes:
        return report["rows"]
    flat = []
    for row in report["rows"]:
        amounts = row[metric]
        flat.append({k: v for k, v in row.items() if k != metric} | {f"{metric} {c}": amounts.get(c, "0.00") for c in codes})
    return flat
