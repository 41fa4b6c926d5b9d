"""The weekly digest's numbers (a read, no writes): one Monday–Sunday week in TIME_ZONE (`SOURCEBOOK_TIME_ZONE`).

Every number comes through the functions the report API and the dashboard use, so the digest says what they say
for the same week (`/api/reports/breakdown/?booked_after=<Monday>&booked_before=<next Monday>`):
- bookings by channel, canceled and no-shows: `selectors.breakdown` (the breakdown report, group_by=channel),
  compared with the week before;
- the top 5 campaigns: the same report grouped by campaign, named campaigns only (not "(not set)", the backlog
  or Unassigned: the dashboard's "top campaign" rule);
- held meetings: `money.metric_breakdown(metric="held")` (of the week's bookings, the meetings held by now);
- pipeline, revenue, deals and won deals: `money.metric_breakdown` (money per currency code unless HubSpot's
  exchange rates bring them to the company currency; never summed across codes);
- the (direct) backlog: `selectors.direct_backlog` / `direct_backlog_bookings` (the backlog page's reads) up to
  the week's end: its size, what the week added and its oldest untagged booking;
- new hygiene findings: `selectors.hygiene` (the hygiene page's read) up to the week's start and up to its end. A
  finding is *new* when the week's bookings brought it: an Unassigned source/medium pair or a banned value with
  no booking before the Monday, or a spelling collision with a spelling no booking had used before the Monday
  (its count: the bookings with the new spelling).
  "Before" is by booked_at, like every report (a booking re-attributed later moves with its booking day). The
  hygiene read lists at most 200 Unassigned pairs and banned values; past that a pair seen only below the cap
  could be shown as new again.

Counts follow the report API: every event type (the dashboard's "demo event types" filter is not applied).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from attribution import money, selectors
from attribution.periods import Period
from attribution.rules import DIRECT, DIRECT_MEDIUM, DIRECT_SOURCE, NOT_SET, UNASSIGNED

TOP_CAMPAIGNS = 5
UNNAMED = {"", NOT_SET, DIRECT, UNASSIGNED, DIRECT_SOURCE, DIRECT_MEDIUM}  # not a campaign anyone named


def week_of(day: date) -> Period:
    """The Monday–Sunday week holding `day`, as the dashboard's custom period of those seven days."""
    monday = day - timedelta(days=day.weekday())
    return Period(monday, monday + timedelta(days=7), "custom")


def last_full_week(now: datetime | None = None) -> Period:
    """The last Monday–Sunday week that has ended, in TIME_ZONE."""
    today = timezone.localdate(now or timezone.now())
    return week_of(today - timedelta(days=7))


@dataclass(frozen=True)
class Change:
    """A count this week beside the week before."""

    now: int
    before: int

    @property
    def delta(self) -> int:
        return self.now - self.before

    @property
    def pct(self) -> float | None:
        return self.delta / self.before if self.before else None


@dataclass(frozen=True)
class Row:
    name: str
    change: Change


@dataclass(frozen=True)
class Finding:
    kind: str  # "unassigned" | "banned" | "collision"
    label: str  # what it is, e.g. "source=fb / medium=cpc"
    bookings: int  # bookings of the week with it


@dataclass(frozen=True)
class Money:
    deals: int
    won: int
    pipeline: money.Amount
    revenue: money.Amount

    @property
    def mixed(self) -> bool:
        return len(self.pipeline.parts) > 1 or len(self.revenue.parts) > 1


@dataclass(frozen=True)
class Digest:
    week: Period
    generated_at: datetime
    bookings: Change
    channels: list[Row]
    campaigns: list[Row]
    canceled: int
    held: int
    no_show: int
    backlog_size: int  # untagged bookings up to the week's end
    backlog_added: int  # of which booked this week
    oldest_untagged: date | None
    oldest_untagged_event_type: str
    findings: list[Finding]
    money: Money | None  # None until HubSpot deals have been read
    links: dict = field(default_factory=dict)

    @property
    def running(self) -> bool:
        """The week has not ended yet (a dry run or preview of the current week)."""
        return self.generated_at < self.week.bounds()[1]


def _filters(week: Period) -> dict:
    after, before = week.bounds()
    return {"booked_after": after, "booked_before": before}


def _rows(report: dict, name: str) -> dict[str, dict]:
    return {row[name]: row for row in report["rows"]}


def _changes(now: dict[str, dict], before: dict[str, dict]) -> list[Row]:
    """Rows of this week and the week before (a name booked only before is kept, at 0 now), most booked first."""
    names = now.keys() | before.keys()
    rows = [Row(n, Change(now.get(n, {}).get("bookings", 0), before.get(n, {}).get("bookings", 0))) for n in names]
    # The report's order (most booked first, then by name); the ones booked only the week before at the end.
    return sorted(rows, key=lambda r: (-r.change.now, -r.change.before if not r.change.now else 0, r.name))


def _amount(report: dict) -> money.Amount:
    """The money report's total as an Amount: one currency, or one part per currency code (never summed)."""
    total = report["total"]
    if isinstance(total, dict):
        return money.Amount(tuple((code, Decimal(value)) for code, value in sorted(total.items())))
    value = Decimal(total)
    return money.Amount(((report.get("currency") or "", value),)) if value else money.Amount(())


def _money(filters: dict) -> Money | None:
    if not money.has_deals():
        return None

    def total(metric):
        return money.metric_breakdown(metric=metric, group_by=["channel"], **filters)

    return Money(deals=total("deals")["total"], won=total("won")["total"], pipeline=_amount(total("pipeline")),
                 revenue=_amount(total("revenue")))


def _new_findings(week: Period) -> list[Finding]:
    start, end = week.bounds()
    before, upto = selectors.hygiene(booked_before=start), selectors.hygiene(booked_before=end)
    findings = []
    seen = {(r["source"], r["medium"]) for r in before["unassigned"]}
    findings += [Finding("unassigned", f"source={r['source']} / medium={r['medium']}", r["bookings"])
                 for r in upto["unassigned"] if (r["source"], r["medium"]) not in seen]
    seen = {(r["source"], r["medium"], r["campaign"]) for r in before["banned"]}
    findings += [Finding("banned", f"source={r['source']} / medium={r['medium']} / campaign={r['campaign']}",
                         r["bookings"]) for r in upto["banned"] if (r["source"], r["medium"], r["campaign"]) not in seen]
    # Values each field had before the week (the breakdown report by that field): a spelling none of them is new.
    used = {name: {r[name] for r in selectors.breakdown(group_by=[name], booked_before=start)["rows"]}
            for name in {c["field"] for c in upto["collisions"]}}
    for c in upto["collisions"]:
        new = [s for s in c["spellings"] if s["raw"] not in used[c["field"]]]
        if new:  # its bookings are all the week's
            findings.append(Finding("collision", f"{c['field']}: {' / '.join(sorted(s['raw'] for s in c['spellings']))}",
                                    sum(s["bookings"] for s in new)))
    return findings


def _links(week: Period, oldest: date | None) -> dict:
    """Absolute links to the dashboard views of the week (the dashboard's own query parameters)."""
    base = settings.SOURCEBOOK_PUBLIC_URL.rstrip("/")
    period = {"range": "custom", "start": week.start.isoformat(), "end": week.last.isoformat()}

    def dashboard(**params):
        return f"{base}{reverse('dashboard')}?{urlencode({**period, 'compare': 'previous', **params})}"

    backlog = {**period, "start": (oldest or week.start).isoformat()}
    return {
        "dashboard": dashboard(dim="channel"),
        "channels": dashboard(dim="channel"),
        "campaigns": dashboard(dim="campaign"),
        "meetings": dashboard(dim="channel"),
        "money": dashboard(dim="channel"),
        "backlog": f"{base}{reverse('dashboard-direct')}?{urlencode(backlog)}",
        "backlog_week": f"{base}{reverse('dashboard-direct')}?{urlencode(period)}",
        "hygiene": f"{base}{reverse('dashboard-hygiene')}",
    }


def digest_build(week: Period, *, now: datetime | None = None) -> Digest:
    """The digest of one week (see the module's docstring for where each number comes from)."""
    filters = _filters(week)
    previous = _filters(week.previous())
    this_channels = selectors.breakdown(group_by=["channel"], **filters)
    channels = _changes(_rows(this_channels, "channel"), _rows(selectors.breakdown(group_by=["channel"], **previous), "channel"))
    campaigns = _changes(_rows(selectors.breakdown(group_by=["campaign"], **filters), "campaign"),
                         _rows(selectors.breakdown(group_by=["campaign"], **previous), "campaign"))
    named = [row for row in campaigns if row.name not in UNNAMED and row.change.now][:TOP_CAMPAIGNS]
    held = money.metric_breakdown(metric="held", group_by=["channel"], **filters)["total"]
    end = filters["booked_before"]
    backlog_size = sum(g["bookings"] for g in selectors.direct_backlog(booked_before=end))
    oldest = selectors.direct_backlog_bookings(booked_before=end).last()
    oldest_day = timezone.localdate(oldest.booked_at) if oldest else None
    return Digest(
        week=week, generated_at=now or timezone.now(),
        bookings=Change(this_channels["total"], sum(r.change.before for r in channels)),
        channels=channels, campaigns=named,
        canceled=sum(r["canceled"] for r in this_channels["rows"]),
        no_show=sum(r["no_show"] for r in this_channels["rows"]), held=held,
        backlog_size=backlog_size,
        backlog_added=next((r.change.now for r in channels if r.name == DIRECT), 0),
        oldest_untagged=oldest_day, oldest_untagged_event_type=oldest.event_type_name if oldest else "",
        findings=_new_findings(week), money=_money(filters), links=_links(week, oldest_day),
    )
