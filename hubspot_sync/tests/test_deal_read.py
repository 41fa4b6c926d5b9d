"""Deals read back from the fake HubSpot: the fake is as strict as HubSpot's search (limit, 10,000 cap, operators,
unknown properties, its own per-second limit), and the read keeps the deals of contacts that booked, splits a window
past 10,000, marks deletions from the archived list, survives a 429 and records failures for /healthz."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import httpx
import pytest
from hypothesis import given, settings as hsettings, strategies as st
from django.core.management import call_command

from bookings.tests.factories import BookingFactory
from hubspot_sync.client import HubSpotClient, HubSpotError
from hubspot_sync.models import Deal, DealContact, DealSyncState
from hubspot_sync.services.deal_read import deal_read_run, deals_read

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 5, 4, 10, tzinfo=timezone.utc)
API = "2026-09"


def iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.fixture
def hs(fake_hubspot):
    fake_hubspot.fake.config.rate_limit = 100_000  # these tests are about search's own limit, not the burst window
    return fake_hubspot


@pytest.fixture
def client(hs):
    c = HubSpotClient(base_url=hs.url, token="fake-token")
    yield c
    c.close()


def search(hs, body):
    return httpx.post(f"{hs.url}/crm/objects/{API}/deals/search", json=body, headers={"Authorization": "Bearer fake-token"})


# --- the fake is as strict as HubSpot ----------------------------------------------------------------
@pytest.mark.parametrize("body, needle", [
    ({"limit": 201}, "limit must be between 1 and 200"),
    ({"limit": 200, "after": "9900"}, "limited to 10000"),
    ({"filterGroups": [{"filters": [{"propertyName": "colour", "operator": "EQ", "value": "x"}]}]}, "colour"),
    ({"filterGroups": [{"filters": [{"propertyName": "amount", "operator": "LIKE", "value": "1"}]}]}, "Unknown operator"),
    ({"properties": ["colour"]}, "colour"),
    ({"sorts": [{"propertyName": "amount", "direction": "SIDEWAYS"}]}, "invalid sort"),
    ({"limit": 10, "bogus": 1}, "Unrecognized field"),
])
def test_the_fake_refuses_what_hubspot_refuses(hs, body, needle):
    hs.fake.config.search_per_second = 0
    response = search(hs, body)
    assert response.status_code == 400
    assert needle in response.json()["message"]


def test_search_has_its_own_per_second_limit_with_hubspots_body(hs):
    hs.fake.config.search_per_second = 2
    statuses = [search(hs, {"limit": 1}) for _ in range(4)]
    assert [r.status_code for r in statuses].count(429) >= 1
    refused = next(r for r in statuses if r.status_code == 429)
    assert refused.json()["policyName"] == "SECONDLY" and refused.json()["errorType"] == "RATE_LIMIT"


def test_search_never_returns_archived_deals_but_the_archived_list_does(hs, client):
    hs.fake.config.search_per_second = 0
    kept = hs.fake.deal_seed(dealname="kept", modified=iso(T0))
    gone = hs.fake.deal_seed(dealname="gone", modified=iso(T0))
    hs.fake.deal_archive(gone)
    page = client.deals_search_modified(since_ms=0, until_ms=int((T0 + timedelta(days=1)).timestamp() * 1000))
    assert [d["id"] for d in page["results"]] == [kept]
    assert [d["id"] for d in client.deals_archived()["results"]] == [gone]


def test_owners_and_currencies(hs, client):
    hs.fake.config.exchange_rates = {"EUR": 1.08}
    assert client.owners()[0]["email"] == "owner@example.com"
    assert client.currencies() == {"company": "USD", "rates": {"EUR": "1.08"}}


# --- the read -------------------------------------------------------------------------------------
def seed_booked(hs, email="ann@example.com", contact="7001", booked_at=T0):
    BookingFactory(email=email, hubspot_contact_id=contact, booked_at=booked_at)
    return contact


def test_it_keeps_deals_of_contacts_that_booked_with_amount_currency_and_state(hs, client):
    hs.fake.config.search_per_second = 0
    contact = seed_booked(hs)
    won = hs.fake.deal_seed(contacts=[contact], dealname="Big", amount="1200.50", deal_currency_code="EUR",
                            dealstage="closedwon", pipeline="default", hs_is_closed_won="true", hs_is_closed="true",
                            createdate=iso(T0 + timedelta(days=2)), modified=iso(T0 + timedelta(days=3)))
    hs.fake.deal_seed(contacts=["9999"], dealname="Stranger", amount="5", modified=iso(T0 + timedelta(days=3)))
    report = deals_read(client=client, since=T0, until=T0 + timedelta(days=10), sleep=lambda s: None)
    assert report.kept == 1 and report.dropped == 1
    deal = Deal.objects.get()
    assert (deal.hubspot_id, deal.amount, deal.currency, deal.closed_won, deal.closed_lost) == (won, Decimal("1200.50"), "EUR", True, False)
    assert deal.created_at == T0 + timedelta(days=2)
    assert list(DealContact.objects.values_list("hubspot_contact_id", "email")) == [(contact, "ann@example.com")]
    assert DealSyncState.objects.get().cursor == T0 + timedelta(days=10)


def test_closed_state_falls_back_to_the_pipeline_stage_metadata(hs, client):
    hs.fake.config.search_per_second = 0
    contact = seed_booked(hs)
    hs.fake.deal_seed(contacts=[contact], dealstage="closedlost", pipeline="default", modified=iso(T0 + timedelta(days=1)))
    deals_read(client=client, since=T0, until=T0 + timedelta(days=2), sleep=lambda s: None)
    deal = Deal.objects.get()
    assert deal.closed_lost and not deal.closed_won


def test_a_window_past_10000_results_is_split_and_nothing_is_lost(hs, client):
    hs.fake.config.search_per_second = 0
    contact = seed_booked(hs)
    for i in range(10_050):  # one minute apart
        hs.fake.deal_seed(contacts=[contact] if i % 1000 == 0 else ["1"], amount="1",
                          modified=iso(T0 + timedelta(minutes=i)))
    report = deals_read(client=client, since=T0, until=T0 + timedelta(days=30), sleep=lambda s: None)
    assert report.splits >= 1
    assert report.seen == 10_050
    assert Deal.objects.count() == 11


def test_a_deal_modified_while_the_window_is_paged_does_not_hide_another(hs, client):
    """With offset paging, the first deal leaving the window (modified now) would shift the 201st out of page 2."""
    hs.fake.config.search_per_second = 0
    contact = seed_booked(hs)
    ids = [hs.fake.deal_seed(contacts=[contact], amount="1", modified=iso(T0 + timedelta(minutes=i))) for i in range(450)]
    search_page = client.deals_search_modified
    calls = []

    def search_then_modify(**kwargs):
        page = search_page(**kwargs)
        if not calls:
            hs.fake.deals[ids[0]]["properties"]["hs_lastmodifieddate"] = iso(T0 + timedelta(days=60))
        calls.append(kwargs)
        return page

    client.deals_search_modified = search_then_modify
    report = deals_read(client=client, since=T0, until=T0 + timedelta(days=30), sleep=lambda s: None)
    assert report.seen == 450 and Deal.objects.count() == 450


def test_deletions_come_from_the_archived_read(hs, client):
    hs.fake.config.search_per_second = 0
    contact = seed_booked(hs)
    deal_id = hs.fake.deal_seed(contacts=[contact], amount="10", modified=iso(T0 + timedelta(days=1)))
    deals_read(client=client, since=T0, until=T0 + timedelta(days=2), sleep=lambda s: None)
    assert not Deal.objects.get().archived
    hs.fake.deal_archive(deal_id)
    report = deals_read(client=client, until=T0 + timedelta(days=3), sleep=lambda s: None)
    assert report.archived == 1 and Deal.objects.get().archived


def test_a_429_is_waited_out_and_retried(hs, client):
    hs.fake.config.search_per_second = 1
    contact = seed_booked(hs)
    hs.fake.deal_seed(contacts=[contact], amount="10", modified=iso(T0 + timedelta(days=1)))
    waits = []
    import time as _time

    def sleep(seconds):
        waits.append(seconds)
        _time.sleep(seconds)

    search(hs, {"limit": 1})  # spends this second's search budget
    report = deals_read(client=client, since=T0, until=T0 + timedelta(days=2), sleep=sleep)
    assert report.rate_limited >= 1 and waits
    assert Deal.objects.count() == 1


def test_a_failure_is_recorded_backed_off_and_shown_in_health(hs, settings):
    settings.HUBSPOT_MAX_ATTEMPTS = 2
    seed_booked(hs)
    hs.fake.config.down = True
    first = deal_read_run()
    assert first["failures"] == 1
    assert "skipped" in deal_read_run()  # backing off
    deal_read_run(force=True)
    state = DealSyncState.objects.get()
    assert state.dead and state.failures == 2 and "down" in state.last_error
    from project.health import health_report
    healthy, checks = health_report()
    assert checks["deal_read"]["ok"] is False and not healthy
    hs.fake.config.down = False
    hs.fake.config.search_per_second = 0
    assert "failed" not in deal_read_run(force=True)
    assert not DealSyncState.objects.get().dead


def test_sync_deals_command_backfills_with_progress(hs, capsys):
    hs.fake.config.search_per_second = 0
    contact = seed_booked(hs)
    hs.fake.deal_seed(contacts=[contact], amount="10", modified=iso(T0 + timedelta(days=1)))
    call_command("sync_deals", "--since", "2026-05-01")
    out = capsys.readouterr().out
    assert "deals read" in out and "done: 1 deals read, 1 kept" in out
    assert Deal.objects.count() == 1


def test_sync_deals_refuses_a_bad_date(hs):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--since must be a date"):
        call_command("sync_deals", "--since", "yesterday")


def test_deals_and_the_read_state_show_in_the_admin_read_only(admin_user):
    from django.test import Client

    client = Client()  # this module's `client` fixture is the HubSpot client
    deal = Deal.objects.create(hubspot_id="4242", name="Acme renewal", amount=Decimal("10"), currency="USD")
    DealContact.objects.create(deal=deal, hubspot_contact_id="7", email="ann@example.com")
    DealSyncState.objects.create(failures=3, last_error="HubSpot is down (fake)")
    client.force_login(admin_user)
    listing = client.get("/admin/hubspot_sync/deal/?q=ann@example.com")
    assert listing.status_code == 200 and "Acme renewal" in listing.content.decode()
    page = client.get(f"/admin/hubspot_sync/deal/{deal.pk}/change/")
    assert page.status_code == 200 and "ann@example.com" in page.content.decode()
    assert client.get("/admin/hubspot_sync/deal/add/").status_code == 403
    state = client.get("/admin/hubspot_sync/dealsyncstate/")
    assert state.status_code == 200
    detail = client.get(f"/admin/hubspot_sync/dealsyncstate/{DealSyncState.objects.get().pk}/change/")
    assert detail.status_code == 200 and "HubSpot is down (fake)" in detail.content.decode()


def test_values_longer_than_their_columns_are_cut_not_a_failed_read(hs, client):
    """HubSpot's stage and pipeline ids are free text to us: a portal's 100-character id must not fail the read."""
    hs.fake.config.search_per_second = 0
    contact = seed_booked(hs)
    hs.fake.deal_seed(contacts=[contact], dealstage="s" * 100, pipeline="p" * 100, hubspot_owner_id="9" * 40,
                      createdate=iso(T0 + timedelta(days=2)), modified=iso(T0 + timedelta(days=3)))
    report = deals_read(client=client, since=T0, until=T0 + timedelta(days=10), sleep=lambda s: None)
    assert report.kept == 1
    deal = Deal.objects.get()
    assert (deal.stage, deal.pipeline, deal.owner_id) == ("s" * 64, "p" * 64, "9" * 32)


def test_the_fake_calculates_closed_won_from_the_stage_and_refuses_writing_it_like_hubspot(hs, client):
    """hs_is_closed_won is calculated by HubSpot: a write is a 400 READ_ONLY_VALUE; a deal moved to closedwon
    through the API reads back as won."""
    hs.fake.config.search_per_second = 0
    upserted = client.contacts_batch_upsert([{"idProperty": "email", "id": "ann@example.com", "properties": {}}])
    contact = seed_booked(hs, contact=str(upserted.results[0]["id"]))
    with pytest.raises(HubSpotError) as refused:
        client.deal_create({"dealname": "x", "dealstage": "closedwon", "hs_is_closed_won": "true"}, contact)
    assert refused.value.status == 400 and "READ_ONLY_VALUE" in str(refused.value.body)
    won = client.deal_create({"dealname": "won", "pipeline": "default", "dealstage": "contractsent", "amount": "10"}, contact)
    client.deal_update(won["id"], {"dealstage": "closedwon"})
    client.deal_create({"dealname": "lost", "pipeline": "default", "dealstage": "closedlost", "amount": "5"}, contact)
    deals_read(client=client, since=T0, until=datetime.now(timezone.utc) + timedelta(minutes=1), sleep=lambda s: None)
    assert sorted(Deal.objects.values_list("name", "closed_won", "closed_lost")) == [("lost", False, True), ("won", True, False)]


@hsettings(max_examples=60, deadline=None)
@given(modified=st.lists(st.one_of(st.none(), st.integers(0, 20)), max_size=25),
       bounds=st.lists(st.tuples(st.sampled_from(["GT", "GTE", "LT", "LTE"]), st.integers(-1, 21)), min_size=1, max_size=3),
       archive=st.sets(st.integers(0, 24)))
def test_the_fakes_indexed_range_search_answers_what_its_full_scan_answers(modified, bounds, archive):
    """The fake answers the deal read's query shape from a sorted index (100,000 deals at search speed): the same
    deals in the same order as the plain filter-and-sort it falls back to for any other query."""
    from fakes.hubspot import FakeHubSpot

    fake = FakeHubSpot()
    ids = []
    for i, minute in enumerate(modified):
        when = None if minute is None else iso(T0 + timedelta(minutes=minute))
        ids.append(fake.deal_seed(contacts=["1"], modified=when or ""))
        if minute is None:
            fake.deals[ids[-1]]["properties"].pop("hs_lastmodifieddate", None)
        if i in archive:
            fake.deal_archive(ids[-1])
    filters = [{"propertyName": "hs_lastmodifieddate", "operator": op, "value": str(int((T0 + timedelta(minutes=m)).timestamp() * 1000))}
               for op, m in bounds]
    body = {"filterGroups": [{"filters": filters}], "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
            "limit": 200}
    status, indexed = fake.deals_search(body)
    # the same query with a no-op extra filter takes the full scan
    scan_body = {**body, "filterGroups": [{"filters": [*filters, {"propertyName": "hs_object_id", "operator": "HAS_PROPERTY"}]}]}
    status2, scanned = fake.deals_search(scan_body)
    assert status == status2 == 200
    assert [d["id"] for d in indexed["results"]] == [d["id"] for d in scanned["results"]]
    assert indexed["total"] == scanned["total"]
