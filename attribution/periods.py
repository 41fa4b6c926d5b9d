"""Date ranges for the dashboard: presets, custom ranges, and the previous period to compare with."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

from django.utils import timezone

EARLIEST, LATEST = date(1900, 1, 1), date(2100, 12, 31)  # a date outside is a typo or an attack, not a report

PRESETS = {"7d": "Last 7 days", "30d": "Last 30 days", "90d": "Last 90 days", "month": "This month",
           "last_month": "Last month", "quarter": "This quarter", "last_quarter": "Last quarter", "year": "This year",
           "last_year": "Last year", "all": "All time", "custom": "Custom"}
COMPARISONS = {"previous": "Previous period", "year": "Same period last year", "none": "No comparison"}
DATE_FORMAT = "%-d %b %Y"  # the one date format of the UI (inputs and CSV use ISO dates)


def months_shift(day: date, months: int) -> date:
    """The same day of the month `months` later (or earlier), clamped to the month's end (31 Mar − 1 → 28 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(day.day, last))


@dataclass(frozen=True)
class Period:
    start: date  # inclusive
    end: date  # exclusive
    preset: str
    error: str = ""  # why the requested range was not used (shown on the page)
    months: int = 0  # a calendar period (month, quarter, year) is this many months long; 0 = counted in days

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def previous(self, comparison: str = "previous") -> "Period | None":
        """The period to compare with, ending where this one starts, or a year before; None for "none".

        "Previous" after a calendar month (quarter, year) is the calendar month (quarter, year) before it, the same
        stretch of it while this one is still running; otherwise the same number of days right before."""
        if comparison == "none":
            return None
        if comparison == "year":
            return replace(self, start=months_shift(self.start, -12), end=months_shift(self.end, -12))
        if self.months:
            start = months_shift(self.start, -self.months)
            return replace(self, start=start, end=min(months_shift(self.end, -self.months), self.start))
        return replace(self, start=self.start - timedelta(days=self.days), end=self.start)

    def bounds(self) -> tuple[datetime, datetime]:
        """Midnights in TIME_ZONE, so reports can use the daily rollup."""
        return (timezone.make_aware(datetime.combine(self.start, time.min)),
                timezone.make_aware(datetime.combine(self.end, time.min)))

    @property
    def last(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def label(self) -> str:
        return f"{self.start.strftime(DATE_FORMAT)} – {self.last.strftime(DATE_FORMAT)}"

    @property
    def slug(self) -> str:
        """For file names: 2026-10-01_2026-10-31."""
        return f"{self.start.isoformat()}_{self.last.isoformat()}"


def period_parse(*, preset: str | None, start: str | None = None, end: str | None = None, today: date | None = None,
                 first_day: date | None = None) -> Period:
    """Unknown or broken input falls back to the last 30 days (saying why); a custom end is inclusive in the UI."""
    today = today or timezone.localdate()
    tomorrow = today + timedelta(days=1)
    preset = preset if preset in PRESETS else "30d"
    month = today.replace(day=1)
    quarter = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    year = date(today.year, 1, 1)
    if preset in ("7d", "30d", "90d"):
        return Period(tomorrow - timedelta(days=int(preset[:-1])), tomorrow, preset)
    calendar = {"month": (month, tomorrow, 1), "last_month": (months_shift(month, -1), month, 1),
                "quarter": (quarter, tomorrow, 3), "last_quarter": (months_shift(quarter, -3), quarter, 3),
                "year": (year, tomorrow, 12), "last_year": (months_shift(year, -12), year, 12)}
    if preset in calendar:
        first, end_, months = calendar[preset]
        return Period(first, end_, preset, months=months)
    if preset == "all":
        return Period(max(first_day or date(2000, 1, 1), EARLIEST), tomorrow, preset)
    if not (start or end):  # "custom" picked, no dates typed yet
        return period_parse(preset="30d", today=today)
    try:
        first, last = date_parse(start), date_parse(end)
    except ValueError as exc:
        return replace(period_parse(preset="30d", today=today), error=f"{exc}; showing the last 30 days.")
    if last < first:
        first, last = last, first
    end_ = last + timedelta(days=1)
    # Whole calendar months typed by hand (1 Oct – 31 Oct) compare with the months before, like "Last month".
    months = (end_.year - first.year) * 12 + end_.month - first.month if first.day == 1 and end_.day == 1 else 0
    return Period(first, end_, "custom", months=months)


def date_parse(value: str | None) -> date:
    """YYYY-MM-DD between 1900 and 2100; ValueError says what is wrong."""
    try:
        day = date.fromisoformat((value or "").strip())
    except ValueError:
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)"[:120]) from None
    if not EARLIEST <= day <= LATEST:
        raise ValueError(f"{day.isoformat()} is outside {EARLIEST.year}–{LATEST.year}")
    return day


def month_parse(value: str) -> tuple[int, int]:
    """`2026-06` → (2026, 6), between 1900 and 2100; ValueError says what is wrong (`0-1` is not a month)."""
    parts = value.strip().split("-")
    if len(parts) != 2 or not all(p.isascii() and p.isdigit() for p in parts) or len(parts[0]) != 4:
        raise ValueError(f"{value!r} is not a month (YYYY-MM)"[:120])
    year, month = int(parts[0]), int(parts[1])
    if not (EARLIEST.year <= year <= LATEST.year and 1 <= month <= 12):
        raise ValueError(f"{value!r} is not a month between {EARLIEST.year} and {LATEST.year}"[:120])
    return year, month
