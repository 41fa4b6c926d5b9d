"""Small helpers shared by management commands."""

from datetime import datetime, time

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date


def day_start(value: str, option: str) -> datetime:
    """`2026-06-01` → that midnight in TIME_ZONE, or a clear CommandError naming the option."""
    day = parse_date(value or "")
    if day is None:
        raise CommandError(f"{option} must be YYYY-MM-DD, got {value!r}")
    return timezone.make_aware(datetime.combine(day, time.min))
