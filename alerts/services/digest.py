"""Sending the weekly digest: queued through the outbox, once per destination and week (key `digest:<Monday>`).

Beat runs `digest_due` every 15 minutes: on Monday from DIGEST_SEND_HOUR (local time, SOURCEBOOK_TIME_ZONE) until
that Monday ends it queues the last full week's digest for every enabled destination subscribed to the digest
that has not had it. The key makes re-runs and restarts harmless, and a beat that was down at the hour sends at
its next run; after Monday a missed week is not sent late (`manage.py send_digest` sends it by hand)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.conf import settings
from django.utils import timezone

from alerts.digest import digest_build, last_full_week
from alerts.digest_render import digest_message
from alerts.models import Destination, Notification
from alerts.services.outbox import notify
from attribution.periods import Period

logger = logging.getLogger("sourcebook.alerts")


def digest_key(week: Period) -> str:
    return f"digest:{week.start.isoformat()}"


@dataclass
class Queued:
    week: Period
    queued: list[Notification]
    already: list[Destination]  # had this week's digest before


def digest_send(week: Period, *, destinations=None, now: datetime | None = None) -> Queued:
    """Queue the digest of `week` for `destinations` (default: every enabled one subscribed to the digest), each
    at most once; the digest is built only when someone is still to get it."""
    key = digest_key(week)
    targets = list(destinations if destinations is not None
                   else Destination.objects.filter(enabled=True, digest=True))
    had = set(Notification.objects.filter(key=key, destination__in=targets).values_list("destination_id", flat=True))
    waiting = [d for d in targets if d.pk not in had]
    queued = notify("digest", digest_message(digest_build(week, now=now)), key=key, destinations=waiting) if waiting else []
    return Queued(week=week, queued=queued, already=[d for d in targets if d.pk in had])


def send_time(now: datetime) -> datetime:
    """This week's Monday at DIGEST_SEND_HOUR in TIME_ZONE (an aware datetime)."""
    today = timezone.localdate(now)
    monday = today - timedelta(days=today.weekday())
    return timezone.make_aware(datetime.combine(monday, time(settings.DIGEST_SEND_HOUR)))


def digest_due(now: datetime | None = None) -> Queued | None:
    """Beat's check: the last full week's digest once its Monday hour has come (None when not due or off)."""
    now = now or timezone.now()
    if not settings.DIGEST_ENABLED:
        return None
    start = send_time(now)
    monday_ends = timezone.make_aware(datetime.combine(timezone.localdate(start) + timedelta(days=1), time.min))
    if not start <= now < monday_ends:
        return None
    result = digest_send(last_full_week(now), now=now)
    if result.queued:
        logger.info("weekly digest of %s queued for %s destination(s)", result.week.start, len(result.queued))
    return result
