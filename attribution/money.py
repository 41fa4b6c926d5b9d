"""Money in reports: which booking a HubSpot deal is credited to (`credited_deals`, the one home of that rule) and
the money metrics of the breakdown report (`metric_breakdown`).

The rule: a deal is credited to a booking of its contact (by the contact's email) made before the deal was
created; a deal created before any booking is not credited. Under `booking` and `last_non_direct` it is the last
such booking, under `first_touch` the first; the deal then takes that booking's values under the model
(`selectors.credited_values`: its own attribution, or its journey's touch, or a manual assignment). So every model
credits each deal exactly once and totals are equal under every model. The period is the credited booking's
booked_at (a cohort view). Amounts are never converted silently: with the portal's exchange rates (read by the deal
read) they are converted to the company currency; without, money is reported per currency code.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal, InvalidOperation

from django.db.models import Count, OuterRef, Q, Subquery
from django.utils import timezone

from attribution import selectors
from hubspot_sync.models import Deal, DealContact, DealSyncState

MONEY_METRICS = ("deals", "pipeline", "won", "revenue")
METRICS = ("bookings", "held", *MONEY_METRICS)
AMOUNT_METRICS = ("pipeline", "revenue")
RATE_LIMIT = Decimal(10) ** 9  # no currency is worth a billion of another: a larger rate is a broken value


def _credited_booking(model: str) -> Subquery:
    """The id of the deal's credited booking: of its contacts' countable bookings booked before the deal was
    created, the first (first_touch) or the last (booking, last_non_direct)."""
    order = ("booked_at", "pk") if model == "first_touch" else ("-booked_at", "-pk")
    emails = DealContact.objects.filter(deal_id=OuterRef(OuterRef("pk"))).values("email")
    return Subquery(selectors.report_bookings().filter(email__in=emails, booked_at__lt=OuterRef("created_at"))
                    .order_by(*order).values("pk")[:1])


def credited_deals(*, model: str = "booking", group_by: tuple | list = selectors.CREDITED, deal_ids=None,
                   **filters) -> list[dict]:
    """One row per credited deal (archived deals left out): amount, currency, closed_won, `booking_id`,
    `booked_at` of the credited booking and its `group_by` values under `model`. Report filters (dates, status,
    channel...) apply to the credited booking; `deal_ids` (Deal primary keys) narrows it to those deals."""
    live = Deal.objects.filter(archived=False, created_at__isnull=False)
    if deal_ids is not None:
        live = live.filter(pk__in=deal_ids)
    deals = list(live
                 .annotate(booking_id=_credited_booking(model)).exclude(booking_id=None)
                 .values("pk", "hubspot_id", "amount", "currency", "closed_won", "booking_id"))
    if not deals:
        return []
    qs, names = selectors.credited_bookings(model, filters)
    fields = [names.get(g, g) for g in group_by]
    bookings = {row["pk"]: row for row in qs.filter(pk__in={d["booking_id"] for d in deals})
                .values("pk", "booked_at", *fields)}
    back = {names.get(g, g): g for g in group_by}
    credited = []
    for deal in deals:
        booking = bookings.get(deal["booking_id"])
        if booking is not None:
            credited.append({**deal, "booked_at": booking["booked_at"],
                             **{back[f]: booking[f] for f in fields}})
    return credited


def _currency_plan() -> tuple[str, dict]:
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


def _money(per_currency: dict, company: str, rates: dict):
    """A sum in one currency when it can be (one currency, or rates to the company currency for all): (value,
    currency); else ({code: amount}, None). Amounts are strings with two decimals (exact)."""
    codes = list(per_currency)
    if len(codes) <= 1:
        code = codes[0] if codes else (company or None)
        return f"{per_currency.get(code, Decimal(0)):.2f}", code
    if company and all(c == company or c in rates for c in codes):
        total = sum((v if c == company else v * rates[c] for c, v in per_currency.items()), Decimal(0))
        return f"{total:.2f}", company
    return {c: f"{v:.2f}" for c, v in sorted(per_currency.items())}, None


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
    deals = credited_deals(model=model, group_by=group_by, **filters)
    if metric in ("won", "revenue"):
        deals = [d for d in deals if d["closed_won"]]
    company, rates = _currency_plan()
    groups: dict = defaultdict(lambda: defaultdict(Decimal))
    counts: dict = defaultdict(int)
    all_currencies: dict = defaultdict(Decimal)
    for deal in deals:
        key = tuple(deal[g] for g in group_by)
        counts[key] += 1
        code = deal["currency"] or company or "(none)"
        groups[key][code] += deal["amount"] or Decimal(0)
        all_currencies[code] += deal["amount"] or Decimal(0)
    if metric in ("deals", "won"):
        rows = [dict(zip(group_by, key)) | {metric: n} for key, n in counts.items()]
        rows.sort(key=lambda r: (-r[metric], *[str(r[g]) for g in group_by]))
        return {"metric": metric, "rows": rows, "total": sum(counts.values())}
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
