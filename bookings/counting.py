"""What marketing counts as a booking, and which of a person's bookings is their first and last touch.

The one home for these rules. Reports (ORM filters here, the rollup trigger's SQL), the report API's contact
lookup, the HubSpot contact properties and the deal rules all read them from this module, so a change here
changes every number together.

- A booking **counts** when it has a booking date and was not rescheduled away: the old half of a reschedule
  is the same demo as its new half, and a booking seen only through a cancel (no create yet) is on no day.
- A person's journey (`person_journey`): the earliest first touch and the latest non-direct touch among their
  bookings' journeys.
- A person's **first** and **last** touch are their counted bookings ordered by booked-at, then id (the id
  breaks ties between bookings made in the same second). A person none of whose bookings count (all moved,
  or only a cancel seen so far) still has a first and last: the same order over all of their bookings, undated
  ones last, so a contact can still be named.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone as dt_timezone
from typing import Generic, Iterable, TypeVar

from django.db.models import Q

COUNTABLE = Q(rescheduled=False, booked_at__isnull=False)

_END_OF_TIME = datetime.max.replace(tzinfo=dt_timezone.utc)


def countable_sql(row: str = "") -> str:
    """The same rule as COUNTABLE for raw SQL; `row` is a table alias or trigger record (OLD, NEW)."""
    prefix = f"{row}." if row else ""
    return f"NOT {prefix}rescheduled AND {prefix}booked_at IS NOT NULL"


# Attribution models that credit a booking to a journey touch -> the prefix of that touch's columns.
TOUCH_MODELS = {"first_touch": "first_touch_", "last_non_direct": "last_touch_"}


def credited_value_sql(row: str, model: str, name: str) -> str:
    """SQL of the value `row` is credited to under `model` for a credited field (channel, source, medium,
    campaign): under a touch model the journey's touch, unless the booking was assigned by hand or has no such
    touch. The ORM form of the same rule is attribution.selectors.credited_values; the rollup's trigger
    (attribution/rollup.py) applies it too."""
    prefix = TOUCH_MODELS.get(model)
    if prefix is None:
        return f"{row}.{name}"
    return (f"CASE WHEN {row}.attributed_by = 'manual' THEN {row}.{name} "
            f"WHEN {row}.{prefix}channel > '' THEN {row}.{prefix}{name} ELSE {row}.{name} END")


def is_countable(booking) -> bool:
    return not booking.rescheduled and booking.booked_at is not None


B = TypeVar("B")


@dataclass(frozen=True)
class PersonBookings(Generic[B]):
    first: B
    last: B
    counted: int  # how many of them count (0 when the first and last are stand-ins)
    self_reported_source: str  # the latest non-empty "how did you hear about us" answer among them


@dataclass(frozen=True)
class PersonJourney(Generic[B]):
    first: B | None  # the booking whose journey holds the person's earliest first touch
    last: B | None  # the booking whose journey holds the person's latest non-direct touch
    touches: int  # the most touches one booking's lookback window held (windows of one visitor overlap)


def person_journey(bookings: Iterable[B]) -> PersonJourney[B]:
    """A person's first and last touch across their bookings' journeys (first_touch_at / last_touch_at, written
    by the fold): the earliest first touch and the latest non-direct touch, ties broken by booking id."""
    bookings = list(bookings)
    with_first = [b for b in bookings if b.first_touch_at is not None]
    with_last = [b for b in bookings if b.last_touch_at is not None]
    first = min(with_first, key=lambda b: (b.first_touch_at, b.id)) if with_first else None
    last = max(with_last, key=lambda b: (b.last_touch_at, b.id)) if with_last else None
    return PersonJourney(first=first, last=last, touches=max((b.touch_count or 0 for b in bookings), default=0))


def person_first_and_last(bookings: Iterable[B]) -> PersonBookings[B] | None:
    """First and last of one person's bookings (objects with rescheduled, booked_at, id and
    self_reported_source); None if none."""
    bookings = list(bookings)
    counted = [b for b in bookings if is_countable(b)]
    ordered = sorted(counted or bookings, key=lambda b: (b.booked_at or _END_OF_TIME, b.id))
    if not ordered:
        return None
    self_reported = next((b.self_reported_source for b in reversed(ordered) if b.self_reported_source), "")
    return PersonBookings(first=ordered[0], last=ordered[-1], counted=len(counted), self_reported_source=self_reported)
