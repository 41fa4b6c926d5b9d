"""The daily money rollup (hubspot_sync/services/money_rollup.py) must give exactly what the deals' credit rows give:
for any deals, credits, edits and deletes, at any moment (deltas pending or compacted), for any period (whole days,
partial days, in any time zone), model, grouping and filter, `money.money_table` (rollup for whole days, credit
rows for the edges) equals `money.money_table_from_credits` (the credit rows alone)."""

import itertools
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction
from django.test import override_settings
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from attribution import money
from attribution.rollup import rollup_rebuild
from bookings.models import Booking
from bookings.tests.factories import BookingFactory
from hubspot_sync.models import Deal, DealContact, DealCredit, MoneyStat, MoneyStatDelta
from hubspot_sync.services.deal_credit import deals_credit
from hubspot_sync.services.money_rollup import money_compact, money_rollup_rebuild

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 27, 0, 0)  # local midnight; the days around a DST change in Europe and America
ZONES = ["UTC", "Europe/Berlin", "America/St_Johns", "Pacific/Chatham", "Asia/Kolkata"]
CHANNELS = ["Email", "Paid Social", "Direct"]
GROUPS = ["channel", "source", "medium", "campaign", "event_type_name", "self_reported_source",
          "first_touch_landing_path", "status"]
MODELS = ["booking", "first_touch", "last_non_direct"]
DEAL_IDS = itertools.count(1)  # HubSpot ids stay unique after deletes

# Times of day near either midnight (local or UTC, in any of ZONES) more often than not: where a day boundary bites.
time_of_day = st.one_of(st.sampled_from([0, 1, 59, 330, 600, 780, 1080, 1380, 1439]), st.integers(0, 1439))
booking_op = st.fixed_dictionaries({
    "op": st.just("book"), "person": st.integers(0, 2), "day": st.integers(0, 4), "minute": time_of_day,
    "channel": st.sampled_from(CHANNELS), "canceled": st.booleans(), "event": st.sampled_from(["Demo", "Intro"]),
    "first": st.one_of(st.none(), st.sampled_from(CHANNELS)), "path": st.sampled_from(["", "/pricing", "/" + "x" * 400]),
})
deal_op = st.fixed_dictionaries({
    "op": st.just("deal"), "person": st.integers(0, 2), "day": st.integers(1, 6), "minute": time_of_day,
    "amount": st.one_of(st.none(), st.integers(0, 10_000)), "currency": st.sampled_from(["USD", "EUR", ""]),
    "won": st.booleans(), "lost": st.booleans(),
})
edit_op = st.fixed_dictionaries({
    "op": st.sampled_from(["edit", "archive", "delete_deal", "delete_booking", "reattribute", "cancel",
                           "update_rows", "compact"]),
    "pick": st.integers(0, 20), "amount": st.integers(0, 5_000), "won": st.booleans(),
    "channel": st.sampled_from(CHANNELS),
})
moment = st.one_of(st.none(), st.tuples(st.integers(-1, 5), st.sampled_from([0, 0, 0, 1, 330, 600, 780, 1439])))
query = st.fixed_dictionaries({
    "after": moment, "before": moment, "model": st.sampled_from(MODELS),
    "group_by": st.lists(st.sampled_from(GROUPS), max_size=3, unique=True),
    "status": st.sampled_from([None, "", "active", "canceled"]), "channel": st.sampled_from([None, *CHANNELS]),
    "event_types": st.sampled_from([None, [], ["Demo"]]), "event_type": st.sampled_from([None, "", "Intro"]),
})


def _at(tz: str, day: int, minute: int) -> datetime:
    return (T0 + timedelta(days=day, minutes=minute)).replace(tzinfo=ZoneInfo(tz))


def _apply(tz: str, op: dict) -> None:
    if op["op"] == "book":
        extra = {"first_touch_channel": op["first"], "first_touch_source": "ft"} if op["first"] else {}
        BookingFactory(email=f"p{op['person']}@example.com", channel=op["channel"], source=op["channel"].lower(),
                       booked_at=_at(tz, op["day"], op["minute"]), event_type_name=op["event"],
                       status="canceled" if op["canceled"] else "active", first_touch_landing_path=op["path"],
                       self_reported_source="podcast" if op["minute"] % 2 else "", **extra)
        return
    if op["op"] == "deal":
        d = Deal.objects.create(hubspot_id=f"D{next(DEAL_IDS)}", currency=op["currency"],
                                amount=None if op["amount"] is None else Decimal(op["amount"]) / 4,
                                closed_won=op["won"], closed_lost=op["lost"] and not op["won"],
                                created_at=_at(tz, op["day"], op["minute"]))
        DealContact.objects.create(deal=d, hubspot_contact_id=f"C{op['person']}", email=f"p{op['person']}@example.com")
        deals_credit(deal_ids=[d.pk])
        return
    deals = list(Deal.objects.order_by("pk"))
    bookings = list(Booking.objects.order_by("pk"))
    deal = deals[op["pick"] % len(deals)] if deals else None
    booking = bookings[op["pick"] % len(bookings)] if bookings else None
    if op["op"] == "compact":
        money_compact()
    elif op["op"] == "edit" and deal:
        Deal.objects.filter(pk=deal.pk).update(amount=op["amount"], closed_won=op["won"])
        deals_credit(deal_ids=[deal.pk])
    elif op["op"] == "archive" and deal:
        Deal.objects.filter(pk=deal.pk).update(archived=True)
        deals_credit(deal_ids=[deal.pk])
    elif op["op"] == "delete_deal" and deal:
        deal.delete()  # its credit rows go by cascade
    elif op["op"] == "delete_booking" and booking:
        booking.delete()  # credit rows crediting it go by cascade; the deals are credited again after
        deals_credit(emails=[booking.email])
    elif op["op"] == "reattribute" and booking:
        Booking.objects.filter(pk=booking.pk).update(channel=op["channel"], source=op["channel"].lower())
        deals_credit(emails=[booking.email])
    elif op["op"] == "cancel" and booking:
        Booking.objects.filter(pk=booking.pk).update(status="canceled")
        deals_credit(emails=[booking.email])
    elif op["op"] == "update_rows" and deal:  # no writer updates credit rows today; the trigger still counts it
        DealCredit.objects.filter(deal=deal).update(amount=op["amount"], closed_won=op["won"], channel=op["channel"])


def _filters(tz: str, q: dict) -> dict:
    filters = {"booked_after": q["after"] and _at(tz, *q["after"]), "booked_before": q["before"] and _at(tz, *q["before"])}
    for name in ("status", "channel", "event_types", "event_type"):
        if q[name] is not None:
            filters[name] = q[name]
    return filters


def _plain(table: dict) -> dict:
    return {key: (m.deals, m.won, m.lost, dict(m.pipeline), dict(m.revenue)) for key, m in table.items()}


def _assert_same(tz: str, queries: list[dict]) -> None:
    for q in queries:
        filters = _filters(tz, q)
        rolled = money.money_table(group_by=q["group_by"], model=q["model"], **filters)
        truth = money.money_table_from_credits(group_by=q["group_by"], model=q["model"], **filters)
        assert _plain(rolled) == _plain(truth), (q, filters)
    for model in MODELS:  # whole days only, and all time: the rollup alone
        everything = money.money_table(group_by=["channel"], model=model)
        assert _plain(everything) == _plain(money.money_table_from_credits(group_by=["channel"], model=model))


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(tz=st.sampled_from(ZONES), ops=st.lists(st.one_of(booking_op, booking_op, deal_op, deal_op, edit_op), min_size=1, max_size=16),
       queries=st.lists(query, min_size=1, max_size=6))
def test_the_rollup_read_equals_the_credit_rows_read(tz, ops, queries):
    with override_settings(TIME_ZONE=tz), transaction.atomic():
        rollup_rebuild()  # the rollups' days in this time zone, as a SOURCEBOOK_TIME_ZONE change does
        for op in ops:
            _apply(tz, op)
        _assert_same(tz, queries)  # deltas pending
        money_compact()
        assert not MoneyStatDelta.objects.exists()
        _assert_same(tz, queries)  # folded in
        # Folding deltas gives the rollup a rebuild from the credit rows gives.
        before = sorted(MoneyStat.objects.values_list("day", "model", "key_hash", "deals", "won", "lost", "pipeline",
                                                      "revenue"))
        money_rollup_rebuild()
        assert sorted(MoneyStat.objects.values_list("day", "model", "key_hash", "deals", "won", "lost", "pipeline",
                                                    "revenue")) == before
        transaction.set_rollback(True)


def test_a_credit_rewrite_and_a_delete_land_in_the_rollup_in_the_same_transaction():
    with override_settings(TIME_ZONE="UTC"):
        rollup_rebuild()
        booking = BookingFactory(email="ann@example.com", channel="Email", source="email",
                                 booked_at=datetime(2026, 3, 2, 9, tzinfo=ZoneInfo("UTC")))
        deal = Deal.objects.create(hubspot_id="D1", amount=Decimal("250.00"), currency="EUR", closed_won=True,
                                   created_at=datetime(2026, 3, 5, tzinfo=ZoneInfo("UTC")))
        DealContact.objects.create(deal=deal, hubspot_contact_id="C1", email="ann@example.com")
        deals_credit(deal_ids=[deal.pk])
        money_compact()
        rows = list(MoneyStat.objects.values_list("day", "model", "channel", "currency", "deals", "won", "revenue"))
        assert sorted(rows) == [(booking.booked_at.date(), m, "Email", "EUR", 1, 1, Decimal("250.00"))
                                for m in sorted(MODELS)]
        credit_ids = set(DealCredit.objects.values_list("pk", flat=True))
        deals_credit(deal_ids=[deal.pk])  # nothing changed: the credit rows are kept, the rollup gets no delta
        assert set(DealCredit.objects.values_list("pk", flat=True)) == credit_ids
        assert not MoneyStatDelta.objects.exists()
        Deal.objects.filter(pk=deal.pk).update(amount=Decimal("300.00"))
        deals_credit(deal_ids=[deal.pk])  # the amount changed: replaced, −250 and +300 per model
        assert MoneyStatDelta.objects.count() == 6
        assert money.money_table(group_by=["channel"])[("Email",)].revenue == {"EUR": Decimal("300.00")}
        with transaction.atomic():
            Deal.objects.filter(pk=deal.pk).delete()
            # the rollup, read with its pending deltas, already has the deal gone inside the deleting transaction
            assert money.money_table(group_by=["channel"]) == {}
            transaction.set_rollback(True)
        assert money.money_table(group_by=["channel"])[("Email",)].deals == 1
        money_compact()
        Deal.objects.filter(pk=deal.pk).delete()
        money_compact()
        assert not MoneyStat.objects.exists()


def test_long_values_fit_the_rollup_key():
    """Text keys longer than a btree entry may be (2,704 bytes): the unique key is their hash."""
    with override_settings(TIME_ZONE="UTC"):
        rollup_rebuild()
        long = "é" * 255
        BookingFactory(email="bo@example.com", channel="Email", source=long, medium=long, campaign=long,
                       event_type_name=long, self_reported_source=long, first_touch_landing_path="/" + "ü" * 511,
                       booked_at=datetime(2026, 3, 2, 9, tzinfo=ZoneInfo("UTC")))
        deal = Deal.objects.create(hubspot_id="D1", amount=Decimal("10"), currency="USD",
                                   created_at=datetime(2026, 3, 5, tzinfo=ZoneInfo("UTC")))
        DealContact.objects.create(deal=deal, hubspot_contact_id="C1", email="bo@example.com")
        deals_credit(deal_ids=[deal.pk])
        assert money_compact() == 3
        with connection.cursor() as cursor:
            cursor.execute("SELECT max(octet_length(source || medium || campaign || event_type_name || "
                           "self_reported_source || first_touch_landing_path)) FROM hubspot_sync_moneystat")
            assert cursor.fetchone()[0] > 2704
        assert money.money_table(group_by=["source"])[(long,)].pipeline == {"USD": Decimal("10.00")}


def test_days_are_the_credited_bookings_days_in_the_time_zone_and_follow_a_change_of_it():
    """A booking at 00:30 in Chatham (UTC+13:45) is the previous day in UTC: its deal is on the local day, and a
    rebuild after SOURCEBOOK_TIME_ZONE changes moves it."""
    booked = datetime(2026, 3, 28, 0, 30, tzinfo=ZoneInfo("Pacific/Chatham"))
    with override_settings(TIME_ZONE="Pacific/Chatham"):
        rollup_rebuild()
        BookingFactory(email="cy@example.com", channel="Email", booked_at=booked)
        deal = Deal.objects.create(hubspot_id="D1", amount=Decimal("40"), currency="USD",
                                   created_at=booked + timedelta(days=2))
        DealContact.objects.create(deal=deal, hubspot_contact_id="C1", email="cy@example.com")
        deals_credit(deal_ids=[deal.pk])
        money_compact()
        assert set(MoneyStat.objects.values_list("day", flat=True)) == {booked.date()}
        day = {"booked_after": datetime(2026, 3, 28, tzinfo=ZoneInfo("Pacific/Chatham")),
               "booked_before": datetime(2026, 3, 29, tzinfo=ZoneInfo("Pacific/Chatham"))}
        assert money.money_table(group_by=["channel"], **day)[("Email",)].deals == 1
    with override_settings(TIME_ZONE="UTC"):
        rollup_rebuild()
        assert set(MoneyStat.objects.values_list("day", flat=True)) == {datetime(2026, 3, 27).date()}
        utc_day = {"booked_after": datetime(2026, 3, 27, tzinfo=ZoneInfo("UTC")),
                   "booked_before": datetime(2026, 3, 28, tzinfo=ZoneInfo("UTC"))}
        assert money.money_table(group_by=["channel"], **utc_day)[("Email",)].deals == 1


def test_beat_folds_the_deltas_every_ten_seconds(settings):
    from hubspot_sync.tasks import money_compact_task
    from project.celery import app

    BookingFactory(email="di@example.com", channel="Email", booked_at=datetime(2026, 3, 2, 9, tzinfo=ZoneInfo("UTC")))
    deal = Deal.objects.create(hubspot_id="D1", amount=Decimal("5"), created_at=datetime(2026, 3, 5, tzinfo=ZoneInfo("UTC")))
    DealContact.objects.create(deal=deal, hubspot_contact_id="C1", email="di@example.com")
    deals_credit(deal_ids=[deal.pk])
    assert MoneyStatDelta.objects.count() == 3
    assert money_compact_task() == 3
    assert not MoneyStatDelta.objects.exists() and MoneyStat.objects.count() == 3
    assert settings.CELERY_BEAT_SCHEDULE["money-rollup"] == {"task": "hubspot_sync.money_compact", "schedule": 10.0}
    assert "hubspot_sync.money_compact" in app.tasks
