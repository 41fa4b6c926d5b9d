"""Date ranges for the dashboard: presets, custom ranges, and the previous period to compare with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.utils import timezone

PRESETS = {"7d": "Last 7 days", "30d": "Last 30 days", "90d": "Last 90 days", "month": "This month",
           "quarter": "This quarter", "all": "All time", "custom": "Custom"}


@dataclass(frozen=True)
class Period:
    start: date  # inclusive
    end: date  # exclusive
    preset: str

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def previous(self) -> "Period":
        """The same number of days right before (this month vs the same length before it)."""
        return Period(self.start - timedelta(days=self.days), self.start, self.preset)

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
    """Unknown or broken input falls back to the last 30 days; a custom end is inclusive in the UI."""
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
        return Period(first_day or date(2000, 1, 1), tomorrow, preset)
    try:
        first, last = date.fromisoformat(start or ""), date.fromisoformat(end or "")
    except ValueError:
        return period_parse(preset="30d", today=today)
    if last < first:
        first, last = last, first
    return Period(first, last + timedelta(days=1), "custom")
