"""The port through which a booking's fold reads its visitor's journey, without importing `journeys`.

`journeys` imports `bookings` (its selectors read bookings), so the arrow cannot run back. Instead
`journeys.apps.JourneysConfig.ready()` registers its lookup here, and the fold asks this module. With
nothing registered (journeys not installed) a booking simply has no journey.

The lookup is `(visitor_ids, booked_at, lookback_days, ruleset) -> JourneySummary | None`: the first touch
and the last non-direct touch of those ids within `lookback_days` before `booked_at`, and how many touches
that window holds. Each touch's channel is computed with `ruleset` (the current rules at fold time), so a
rule change and a reattribute move journey-attributed bookings too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class JourneyTouch:
    source: str
    medium: str
    campaign: str
    channel: str
    at: dt.datetime
    landing_path: str = ""


@dataclass(frozen=True)
class JourneySummary:
    first: JourneyTouch | None
    last_non_direct: JourneyTouch | None
    count: int


JourneyLookup = Callable[..., "JourneySummary | None"]
_registered: dict = {"lookup": None}


def journey_lookup_register(lookup: JourneyLookup | None) -> None:
    """Called by `journeys` when the app is ready (None unregisters, for tests)."""
    _registered["lookup"] = lookup


def journey_summary(*, visitor_ids: Sequence[str], booked_at: dt.datetime | None, lookback_days: int,
                    ruleset) -> JourneySummary | None:
    """The journey of these ids before `booked_at`, or None (no ids, no date, or no lookup registered)."""
    lookup = _registered["lookup"]
    ids = [v for v in visitor_ids if v]
    if lookup is None or not ids or booked_at is None:
        return None
    return lookup(visitor_ids=ids, booked_at=booked_at, lookback_days=lookback_days, ruleset=ruleset)
