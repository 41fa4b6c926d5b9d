"""Date ranges for the dashboard: presets, custom ranges, and the previous period to compare with."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

from django.utils import timezone

EARLIEST, LATEST = date(1900, 1, 1), date(2100, 12, 31)  # a date outside is a typo or an attack, not a report

PRESETS = {"7d": "Last 7 days", "30d": "Last 30 days", "90d": "Last 90 days", "month": "This month",
           "quarter": "This quarter", "all": "All time", "custom": "Custom"}


@dataclass(frozen=True)
class Period:
    start: date  # inclusive
    end: date  # exclusive
    preset: str
    error: str = ""  # why the requested range was not used (shown on the page)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def previous(self) -> "Period":
        """The same number of days right before (this month vs the same length before it)."""
        return Period(self.start - timedelta(days=self.days), self.start, self.preset, self.error)

    def bounds(self) -> tuple[datetime, datetime]:
        """Midnights in TIME_ZONE, so reports can use the daily rollup."""
        return (timezone.make_aware(datetime.combine(self.start, time.min)),
                timezone.make_aware(datetime.combine(self.end, time.min)))

    @property
    def last(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def label(self) -> str:
        return f"{self.start:%d %b %Y} – {self.end - timedelta(days=1):%d %b %Y}"


def period_parse(*, preset: str | None, start: str | None = None, end: str | None = None, today: date | None = None,
                 first_day: date | None = None) -> Period:
    """Unknown or broken input falls back to the last 30 days (saying why); a custom end is inclusive in the UI."""
    today = today or timezone.localdate()
    tomorrow = today + timedelta(days=1)
    preset = preset if preset in PRESETS else "30d"
    if preset in ("7d", "30d", "90d"):
        return Period(tomorrow - timedelta(days=int(preset[:-1])), tomorrow, preset)
    if preset == "month":
        return Period(today.replace(day=1), tomorrow, preset)
    if preset == "quarter":
        return Period(date(today.year, 3 * ((today.month - 1) // 3) + 1, 1), tomorrow, preset)
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
    return Period(first, last + timedelta(days=1), "custom")


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
