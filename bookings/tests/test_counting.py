"""The one home of "a booking that counts" and "a person's first and last booking" (bookings/counting.py):
the ORM filter, the SQL the rollup trigger uses and the Python predicate the HubSpot payloads use agree on
every row, and a person's first/last do not depend on the order their bookings arrive in."""

from datetime import datetime, timedelta, timezone as dt_timezone
from types import SimpleNamespace

import pytest
from django.db import connection
from hypothesis import given, settings as hsettings, strategies as st

from bookings.counting import COUNTABLE, countable_sql, is_countable, person_first_and_last
from bookings.models import Booking
from bookings.tests.factories import BookingFactory

T0 = datetime(2026, 3, 1, tzinfo=dt_timezone.utc)


@pytest.mark.django_db
def test_orm_sql_and_python_agree_on_which_bookings_count():
    shapes = [(False, T0), (True, T0), (False, None), (True, None)]
    made = [BookingFactory(rescheduled=r, booked_at=b) for r, b in shapes]
    by_orm = set(Booking.objects.filter(COUNTABLE).values_list("id", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM bookings_booking b WHERE {countable_sql('b')}")
        by_sql = {row[0] for row in cursor.fetchall()}
    by_python = {b.id for b in made if is_countable(b)}
    assert by_orm == by_sql == by_python == {made[0].id}


def _booking(i, rescheduled, minutes, answer):
    return SimpleNamespace(id=i, rescheduled=rescheduled, self_reported_source=answer,
                           booked_at=None if minutes is None else T0 + timedelta(minutes=minutes))


bookings_strategy = st.lists(
    st.tuples(st.booleans(), st.one_of(st.none(), st.integers(0, 5)), st.sampled_from(["", "podcast", "linkedin"])),
    max_size=8,
).map(lambda rows: [_booking(i + 1, *row) for i, row in enumerate(rows)])


@hsettings(max_examples=200, deadline=None)
@given(bookings_strategy, st.randoms())
def test_first_and_last_do_not_depend_on_arrival_order(bookings, rnd):
    shuffled = list(bookings)
    rnd.shuffle(shuffled)
    assert person_first_and_last(shuffled) == person_first_and_last(bookings)


@hsettings(max_examples=200, deadline=None)
@given(bookings_strategy)
def test_first_and_last_are_the_earliest_and_latest_counted_booking(bookings):
    person = person_first_and_last(bookings)
    counted = [b for b in bookings if not b.rescheduled and b.booked_at is not None]
    if not bookings:
        assert person is None
        return
    assert person.counted == len(counted)
    pool = counted or bookings
    assert person.first in pool and person.last in pool
    for b in pool:
        if b.booked_at is not None and person.first.booked_at is not None:
            assert (person.first.booked_at, person.first.id) <= (b.booked_at, b.id)
        if counted:
            assert (b.booked_at, b.id) <= (person.last.booked_at, person.last.id)
    answers = [b.self_reported_source for b in sorted(pool, key=lambda b: (b.booked_at or datetime.max.replace(
        tzinfo=dt_timezone.utc), b.id)) if b.self_reported_source]
    assert person.self_reported_source == (answers[-1] if answers else "")


def test_a_tie_in_booked_at_is_broken_by_id():
    a, b = _booking(2, False, 0, ""), _booking(1, False, 0, "")
    person = person_first_and_last([a, b])
    assert (person.first.id, person.last.id) == (1, 2)
