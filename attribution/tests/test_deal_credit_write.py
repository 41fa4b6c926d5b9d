"""The credited booking's channel, source and campaign are written onto its HubSpot deal, as the field mapping
allows: through the real deal read and the strict fake HubSpot."""

from datetime import datetime, timedelta, timezone

import httpx
import pytest

from attribution.services import deals_credit_push
from bookings.tests.factories import BookingFactory
from hubspot_sync.models import Deal, PropertyMapping
from hubspot_sync.services.deal_read import deals_read
from hubspot_sync.services.mapping import mapping_defaults_install
from hubspot_sync.services.sync import hubspot_client

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 5, 4, 10, tzinfo=timezone.utc)


def _iso(d):
    return d.strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.fixture
def portal(start_fake_hubspot):
    """Dana booked from LinkedIn, then from a newsletter, then her deal was created; Lee's deal predates his booking."""
    mapping_defaults_install()
    server = start_fake_hubspot()
    server.fake.config.search_per_second = 0
    BookingFactory(email="dana@example.com", channel="Paid Social", source="linkedin", campaign="spring_202606",
                   booked_at=T0, hubspot_contact_id="801")
    BookingFactory(email="dana@example.com", channel="Email", source="newsletter", campaign="may_digest",
                   booked_at=T0 + timedelta(days=2), hubspot_contact_id="801")
    BookingFactory(email="lee@example.com", channel="Direct", source="", campaign="", booked_at=T0 + timedelta(days=9),
                   hubspot_contact_id="802")
    deals = {
        "dana": server.fake.deal_seed(contacts=["801"], amount="1000", createdate=_iso(T0 + timedelta(days=5)),
                                      modified=_iso(T0 + timedelta(days=5))),
        "lee": server.fake.deal_seed(contacts=["802"], amount="50", createdate=_iso(T0 + timedelta(days=1)),
                                     modified=_iso(T0 + timedelta(days=5))),
    }
    client = hubspot_client()
    deals_read(client=client, since=T0, until=T0 + timedelta(days=20), sleep=lambda s: None)
    client.close()
    assert Deal.objects.count() == 2
    return server, deals


def _deal(server, deal_id) -> dict:
    return server.fake.deals[deal_id]["properties"]


def test_the_credited_bookings_values_are_written_onto_the_deal(portal):
    server, deals = portal
    report = deals_credit_push()
    assert report.written == 1 and report.error == ""
    dana = _deal(server, deals["dana"])
    # The last booking before the deal was created: the newsletter one.
    assert (dana["sourcebook_channel"], dana["sourcebook_source"], dana["sourcebook_campaign"]) == (
        "Email", "newsletter", "may_digest")
    assert "sourcebook_channel" not in _deal(server, deals["lee"])  # created before any booking: not credited


def test_unchanged_values_are_not_written_again(portal):
    """A write moves the deal's last-modified time and the deal read reads it again: the same values must not be
    written a second time, or deals would never settle."""
    server, deals = portal
    deals_credit_push()
    before = _deal(server, deals["dana"])["hs_lastmodifieddate"]
    requests = sum(n for k, n in server.fake.requests.items() if "deals/batch/update" in k)
    report = deals_credit_push()
    assert report.written == 0 and report.unchanged == 1
    assert sum(n for k, n in server.fake.requests.items() if "deals/batch/update" in k) == requests
    assert _deal(server, deals["dana"])["hs_lastmodifieddate"] == before


def test_never_writes_nothing_and_only_if_empty_keeps_a_reps_value(portal):
    server, deals = portal
    PropertyMapping.objects.filter(object_type="deals", sourcebook_field="campaign").update(policy="never")
    PropertyMapping.objects.filter(object_type="deals", sourcebook_field="source").update(policy="if_empty")
    with server.fake.lock:
        server.fake.deals[deals["dana"]]["properties"]["sourcebook_source"] = "trade show (rep)"
    deals_credit_push()
    dana = _deal(server, deals["dana"])
    assert dana["sourcebook_channel"] == "Email"
    assert dana["sourcebook_source"] == "trade show (rep)"
    assert "sourcebook_campaign" not in dana


def test_always_overwrites_a_value_changed_in_hubspot(portal):
    server, deals = portal
    deals_credit_push()
    with server.fake.lock:
        server.fake.deals[deals["dana"]]["properties"]["sourcebook_channel"] = "Edited"
    assert deals_credit_push().written == 1
    assert _deal(server, deals["dana"])["sourcebook_channel"] == "Email"


def test_a_deal_property_the_portal_lacks_is_not_set_up_and_the_rest_is_written(portal):
    server, deals = portal
    with server.fake.lock:
        del server.fake.properties["deals"]["sourcebook_campaign"]
    report = deals_credit_push()
    assert report.written == 1 and report.not_set_up == ["sourcebook_campaign"]
    assert PropertyMapping.objects.get(object_type="deals", sourcebook_field="campaign").portal_has is False
    assert _deal(server, deals["dana"])["sourcebook_channel"] == "Email"


def test_after_a_deal_read_only_the_deals_it_read_are_pushed(portal):
    server, deals = portal
    deals_credit_push()
    with server.fake.lock:
        server.fake.deals[deals["dana"]]["properties"]["sourcebook_channel"] = "Edited"
    later = datetime.now(timezone.utc) + timedelta(minutes=1)
    assert deals_credit_push(since=later).deals == 0  # nothing read since: nothing considered
    assert _deal(server, deals["dana"])["sourcebook_channel"] == "Edited"


def test_the_deal_read_task_enqueues_the_credit_write(portal, settings, monkeypatch):
    """The deal read (hubspot_sync) asks attribution's task by name; eager Celery runs it here."""
    import attribution.tasks  # noqa: F401 - registered, as in a worker (Celery's autodiscovery)
    from hubspot_sync import tasks
    from project.celery import app

    monkeypatch.setattr(app.conf, "task_always_eager", True)
    server, deals = portal
    with server.fake.lock:  # a modified deal, so the incremental read has something to keep
        server.fake.deals[deals["dana"]]["properties"]["hs_lastmodifieddate"] = _iso(datetime.now(timezone.utc) - timedelta(minutes=5))
    settings.HUBSPOT_DEAL_READ_LAG_SECONDS = 0
    Deal.objects.all().update(read_at=T0)
    result = tasks.hubspot_deal_read_task()
    assert result.get("kept"), result
    assert _deal(server, deals["dana"])["sourcebook_channel"] == "Email"


def test_the_fake_refuses_what_hubspot_refuses_for_deal_batch_update(portal):
    server, deals = portal
    url = f"{server.url}/crm/objects/2026-09/deals/batch/update"
    headers = {"Authorization": "Bearer fake-token"}
    too_many = httpx.post(url, headers=headers, json={"inputs": [{"id": str(i), "properties": {}} for i in range(101)]})
    assert too_many.status_code == 400 and "maximum number of inputs" in too_many.json()["message"]
    unknown = httpx.post(url, headers=headers, json={"inputs": [{"id": deals["dana"], "properties": {"no_such_prop": "x"}}]})
    assert unknown.status_code == 400 and "PROPERTY_DOESNT_EXIST" in unknown.text
    gone = httpx.post(url, headers=headers, json={"inputs": [{"id": "999999", "properties": {"dealname": "x"}}]})
    assert gone.status_code == 404 and gone.json()["context"]["ids"] == ["999999"]
    read = f"{server.url}/crm/objects/2026-09/contacts/batch/read"
    assert httpx.post(read, headers=headers, json={"inputs": [{"id": "a@b.example"}], "idProperty": "email"}).status_code == 400
    assert httpx.post(read, headers=headers, json={"inputs": [{"id": f"{i}@b.example"} for i in range(101)], "properties": [],
                                                   "propertiesWithHistory": [], "idProperty": "email"}).status_code == 400
    missing = httpx.post(read, headers=headers, json={"inputs": [{"id": "nobody@b.example"}], "properties": ["phone"],
                                                      "propertiesWithHistory": [], "idProperty": "email"})
    assert missing.status_code == 207 and missing.json()["errors"][0]["category"] == "OBJECT_NOT_FOUND"
