"""The field mapping: what Sourcebook writes to HubSpot contacts, under the admin's policies, against the strict fake."""

import httpx
import pytest
from django.core.management import call_command

from bookings.samples import invitee_payload
from hubspot_sync.models import BookingSync, HubspotOwner, PropertyMapping
from hubspot_sync.services.mapping import mapping_defaults_install
from hubspot_sync.services.owners import owners_refresh
from hubspot_sync.services.sync import sync_drain

from .conftest import fake_state

pytestmark = pytest.mark.django_db

UTM = {"utm_source": "linkedin", "utm_medium": "paid", "utm_campaign": "spring_202606"}


@pytest.fixture(autouse=True)
def mapping_defaults():
    """A transactional test elsewhere truncates tables, the migration's rows with them: put the defaults back."""
    mapping_defaults_install()


def _policy(field: str, policy: str, object_type: str = "contacts") -> None:
    PropertyMapping.objects.filter(object_type=object_type, sourcebook_field=field).update(policy=policy)


def _rep_typed(fake_hubspot, email: str, **properties) -> None:
    """A contact a sales rep already keeps in HubSpot."""
    with fake_hubspot.fake.lock:
        fake_hubspot.fake.contacts[email] = {"id": fake_hubspot.fake._id(), "properties": {"email": email, **properties}}


def _contact(fake_hubspot, email="dana@example.com") -> dict:
    return fake_state(fake_hubspot)["contacts"][email]


def test_the_defaults_are_the_migrations(django_db_blocker):
    """The migration's rows (data, not code) and the code's defaults (mapping_defaults_install) agree."""
    import importlib

    migration = importlib.import_module("hubspot_sync.migrations.0006_property_mapping")
    assert {(o, f, p, pol) for o, f, p, pol in migration.DEFAULTS} == {
        (m.object_type, m.sourcebook_field, m.hubspot_property, m.policy) for m in PropertyMapping.objects.all()}
    rows = {(m.object_type, m.sourcebook_field): (m.hubspot_property, m.policy) for m in PropertyMapping.objects.all()}
    assert rows[("contacts", "last_channel")] == ("sourcebook_last_channel", "always")
    assert rows[("contacts", "first_name")] == ("firstname", "if_empty")
    assert rows[("contacts", "last_name")] == ("lastname", "if_empty")
    assert rows[("contacts", "phone")] == ("phone", "if_empty")
    assert rows[("contacts", "owner")] == ("hubspot_owner_id", "if_empty")
    assert rows[("deals", "channel")] == ("sourcebook_channel", "always")
    assert all(policy == "always" for (obj, _), (prop, policy) in rows.items() if prop.startswith("sourcebook_"))


def test_only_if_empty_keeps_a_reps_value_and_fills_an_empty_one_always_overwrites(post_signed, fake_hubspot):
    _rep_typed(fake_hubspot, "dana@example.com", firstname="Danielle", phone="", sourcebook_last_channel="Typed by hand")
    post_signed(invitee_payload(invitee_id="A", email="dana@example.com", name="Dana Reyes", tracking=UTM,
                                text_reminder_number="+1 404-555-0199"))
    assert sync_drain(max_seconds=10).synced == 1
    contact = _contact(fake_hubspot)
    assert contact["firstname"] == "Danielle"  # the rep's value stays
    assert contact["lastname"] == "Reyes"  # empty in HubSpot: filled
    assert contact["phone"] == "+1 404-555-0199"  # empty in HubSpot: filled from Calendly's text_reminder_number
    assert contact["sourcebook_last_channel"] == "Paid Social"  # always: overwritten


def test_only_if_empty_is_decided_on_hubspots_current_value_not_on_what_we_sent_before(post_signed, fake_hubspot):
    post_signed(invitee_payload(invitee_id="A", email="dana@example.com", name="Dana Reyes", text_reminder_number="+1 555"))
    sync_drain(max_seconds=10)
    assert _contact(fake_hubspot)["phone"] == "+1 555"
    with fake_hubspot.fake.lock:  # a rep corrects the number in HubSpot
        fake_hubspot.fake.contacts["dana@example.com"]["properties"]["phone"] = "+1 999"
    post_signed(invitee_payload(invitee_id="B", email="dana@example.com", name="Dana Reyes", text_reminder_number="+1 777"))
    sync_drain(max_seconds=10)
    assert _contact(fake_hubspot)["phone"] == "+1 999"
    with fake_hubspot.fake.lock:  # ... and later clears it: the next sync fills it again
        fake_hubspot.fake.contacts["dana@example.com"]["properties"].pop("phone")
    post_signed(invitee_payload(invitee_id="C", email="dana@example.com", name="Dana Reyes", text_reminder_number="+1 888"))
    sync_drain(max_seconds=10)
    assert _contact(fake_hubspot)["phone"] == "+1 888"


def test_always_on_a_standard_field_overwrites_the_reps_value(post_signed, fake_hubspot):
    _policy("first_name", "always")
    _rep_typed(fake_hubspot, "dana@example.com", firstname="Danielle")
    post_signed(invitee_payload(invitee_id="A", email="dana@example.com", name="Dana Reyes"))
    sync_drain(max_seconds=10)
    assert _contact(fake_hubspot)["firstname"] == "Dana"


def test_never_sends_nothing_for_that_field(post_signed, fake_hubspot):
    _policy("last_name", "never")
    _policy("last_utm_source", "never")
    _policy("phone", "never")
    post_signed(invitee_payload(invitee_id="A", email="dana@example.com", name="Dana Reyes", tracking=UTM,
                                text_reminder_number="+1 404-555-0199"))
    assert sync_drain(max_seconds=10).synced == 1
    contact = _contact(fake_hubspot)
    assert "lastname" not in contact and "sourcebook_last_utm_source" not in contact and "phone" not in contact
    assert contact["firstname"] == "Dana" and contact["sourcebook_last_utm_medium"] == "paid"


def test_a_remapped_field_writes_to_the_property_the_admin_chose(post_signed, fake_hubspot):
    with fake_hubspot.fake.lock:
        fake_hubspot.fake.properties["contacts"]["mobilephone"] = {"type": "string", "fieldType": "phonenumber", "options": []}
    PropertyMapping.objects.filter(sourcebook_field="phone").update(hubspot_property="mobilephone", policy="always")
    post_signed(invitee_payload(invitee_id="A", email="dana@example.com", text_reminder_number="+44 20 7946 0958"))
    sync_drain(max_seconds=10)
    contact = _contact(fake_hubspot)
    assert contact["mobilephone"] == "+44 20 7946 0958" and "phone" not in contact


def test_one_read_per_batch_not_per_contact_and_it_counts_against_the_budget(post_signed, fake_hubspot):
    for i in range(5):
        post_signed(invitee_payload(invitee_id=f"P{i}", email=f"p{i}@example.com", name=f"Pat Number{i}"))
    report = sync_drain(max_seconds=10)
    assert report.synced == 5
    assert report.reads == 1 and fake_state(fake_hubspot)["contact_reads"] == 1
    assert report.requests == 3  # the read, the contact upsert, the meeting create


def test_no_read_when_nothing_only_if_empty_has_a_value(post_signed, fake_hubspot):
    for field in ("first_name", "last_name", "phone", "owner"):
        _policy(field, "always" if field != "owner" else "never")
    post_signed(invitee_payload(invitee_id="A", email="dana@example.com", name="Dana Reyes"))
    report = sync_drain(max_seconds=10)
    assert report.synced == 1 and report.reads == 0 and fake_state(fake_hubspot)["contact_reads"] == 0


def test_a_failed_read_loses_nothing_the_rows_are_retried(post_signed, fake_hubspot):
    post_signed(invitee_payload(invitee_id="A", email="dana@example.com", name="Dana Reyes"))
    httpx.post(f"{fake_hubspot.url}/__fake__/config", json={"down": True})
    report = sync_drain(max_seconds=3)
    assert report.synced == 0 and report.dead == 0
    sync = BookingSync.objects.get()
    assert sync.state == "pending" and sync.attempts == 1
    assert fake_state(fake_hubspot)["contacts"] == {}


# --- the contact owner from the meeting host ----------------------------------------------------------------

def test_the_hosts_hubspot_owner_becomes_the_contact_owner_only_if_empty(post_signed, fake_hubspot):
    sam = fake_hubspot.fake.owner_add(email="Sam.Seller@sourcebook.example", first="Sam", last="Seller")
    kim = fake_hubspot.fake.owner_add(email="kim@sourcebook.example")
    assert owners_refresh()["owners"] == 3  # with the fake's default owner
    post_signed(invitee_payload(invitee_id="A", email="dana@example.com", host_email="sam.seller@sourcebook.example"))
    _rep_typed(fake_hubspot, "erin@example.com", hubspot_owner_id=kim)
    post_signed(invitee_payload(invitee_id="B", email="erin@example.com", host_email="sam.seller@sourcebook.example"))
    post_signed(invitee_payload(invitee_id="C", email="finn@example.com", host_email="stranger@elsewhere.example"))
    assert sync_drain(max_seconds=10).synced == 3
    contacts = fake_state(fake_hubspot)["contacts"]
    assert contacts["dana@example.com"]["hubspot_owner_id"] == sam
    assert contacts["erin@example.com"]["hubspot_owner_id"] == kim  # a rep's owner stays
    assert "hubspot_owner_id" not in contacts["finn@example.com"]  # a host who is no HubSpot owner: nothing sent


def test_an_owner_deactivated_since_the_cache_was_read_is_left_out_not_a_dead_letter(post_signed, fake_hubspot):
    sam = fake_hubspot.fake.owner_add(email="sam@sourcebook.example")
    kim = fake_hubspot.fake.owner_add(email="kim@sourcebook.example")
    owners_refresh()
    with fake_hubspot.fake.lock:  # deactivated in HubSpot before the daily refresh
        next(o for o in fake_hubspot.fake.owners if o["id"] == sam)["archived"] = True
    post_signed(invitee_payload(invitee_id="A", email="dana@example.com", name="Dana Reyes", host_email="sam@sourcebook.example"))
    post_signed(invitee_payload(invitee_id="B", email="erin@example.com", name="Erin Cole", host_email="kim@sourcebook.example"))
    report = sync_drain(max_seconds=10)
    assert (report.synced, report.dead) == (2, 0)
    contacts = fake_state(fake_hubspot)["contacts"]
    assert "hubspot_owner_id" not in contacts["dana@example.com"]
    assert contacts["erin@example.com"]["hubspot_owner_id"] == kim  # an active owner in the same batch is still written
    assert not HubspotOwner.objects.filter(owner_id=sam).exists()  # the cache was read again


def test_owners_are_read_page_by_page_and_refreshed_daily(fake_hubspot, settings):
    from project.celery import app

    for i in range(620):  # more than one page of 500
        fake_hubspot.fake.owner_add(email=f"rep{i}@sourcebook.example")
    gone = fake_hubspot.fake.owner_add(email="leaver@sourcebook.example")
    owners_refresh()
    assert HubspotOwner.objects.count() == 622 and HubspotOwner.objects.filter(owner_id=gone).exists()
    with fake_hubspot.fake.lock:  # the leaver is deactivated in HubSpot: the next refresh forgets them
        next(o for o in fake_hubspot.fake.owners if o["id"] == gone)["archived"] = True
    from hubspot_sync.tasks import hubspot_owners_refresh_task

    hubspot_owners_refresh_task()
    assert not HubspotOwner.objects.filter(owner_id=gone).exists() and HubspotOwner.objects.count() == 621
    entry = settings.CELERY_BEAT_SCHEDULE["hubspot-owners-refresh"]
    assert entry == {"task": "hubspot_sync.owners_refresh", "schedule": 86400.0}
    assert "hubspot_sync.owners_refresh" in app.tasks
    # HubSpot down: the cache stays as it was, the failure is reported (tomorrow's run tries again).
    httpx.post(f"{fake_hubspot.url}/__fake__/config", json={"down": True})
    assert "failed" in hubspot_owners_refresh_task()
    assert HubspotOwner.objects.count() == 621


# --- a mapped property the portal lacks ---------------------------------------------------------------------

def test_a_missing_property_is_not_set_up_skipped_not_dead_lettered_until_setup_creates_it(post_signed, fake_hubspot,
                                                                                          admin_client):
    with fake_hubspot.fake.lock:
        del fake_hubspot.fake.properties["contacts"]["sourcebook_last_channel"]
    # Without the schema scope the sync cannot create it itself.
    scopes = [s for s in fake_state(fake_hubspot)["config"]["scopes"] if s != "crm.schemas.contacts.write"]
    httpx.post(f"{fake_hubspot.url}/__fake__/config", json={"scopes": scopes})
    post_signed(invitee_payload(invitee_id="A", email="dana@example.com", tracking=UTM))
    report = sync_drain(max_seconds=10)
    assert (report.synced, report.dead) == (1, 0)
    contact = _contact(fake_hubspot)
    assert "sourcebook_last_channel" not in contact and contact["sourcebook_last_utm_source"] == "linkedin"
    mapping = PropertyMapping.objects.get(sourcebook_field="last_channel")
    assert mapping.portal_has is False
    page = admin_client.get("/admin/hubspot_sync/propertymapping/?portal_has__exact=0").content.decode()
    assert "last_channel" in page and "not set up" in page

    # The next booking skips it straight away (no refused request first).
    post_signed(invitee_payload(invitee_id="B", email="erin@example.com", tracking=UTM))
    before = sum(n for k, n in fake_state(fake_hubspot)["requests"].items() if "upsert" in k)
    assert sync_drain(max_seconds=10).synced == 1
    assert sum(n for k, n in fake_state(fake_hubspot)["requests"].items() if "upsert" in k) == before + 1

    httpx.post(f"{fake_hubspot.url}/__fake__/config", json={"scopes": scopes + ["crm.schemas.contacts.write"]})
    call_command("hubspot_setup")
    mapping.refresh_from_db()
    assert mapping.portal_has is True
    assert "sourcebook_last_channel" in fake_state(fake_hubspot)["properties"]["contacts"]
    assert "not set up" not in admin_client.get("/admin/hubspot_sync/propertymapping/?portal_has__exact=1").content.decode()
    post_signed(invitee_payload(invitee_id="C", email="dana@example.com", tracking=UTM))
    sync_drain(max_seconds=10)
    assert _contact(fake_hubspot)["sourcebook_last_channel"] == "Paid Social"


def test_hubspot_setup_creates_a_remapped_property_and_is_idempotent(fake_hubspot, capsys):
    PropertyMapping.objects.filter(sourcebook_field="touches").update(hubspot_property="marketing_touches")
    call_command("hubspot_setup")
    out = capsys.readouterr().out
    assert "contacts.marketing_touches: created" in out and "field mapping: all set up" in out
    assert fake_state(fake_hubspot)["properties"]["contacts"].count("marketing_touches") == 1
    call_command("hubspot_setup")
    assert "contacts.marketing_touches: already there" in capsys.readouterr().out
    assert PropertyMapping.objects.get(sourcebook_field="touches").portal_has is True


def test_the_admin_edits_policy_and_property_and_refuses_a_bad_name(admin_client):
    row = PropertyMapping.objects.get(sourcebook_field="phone")
    PropertyMapping.objects.filter(pk=row.pk).update(portal_has=True)
    url = f"/admin/hubspot_sync/propertymapping/{row.pk}/change/"
    bad = admin_client.post(url, {"hubspot_property": "Phone Number!", "policy": "always"})
    assert bad.status_code == 200 and "lower-case letters" in bad.content.decode()
    taken = admin_client.post(url, {"hubspot_property": "firstname", "policy": "always"})
    assert "already writes to this property" in taken.content.decode()
    ok = admin_client.post(url, {"hubspot_property": "mobilephone", "policy": "always"})
    assert ok.status_code == 302
    row.refresh_from_db()
    assert (row.hubspot_property, row.policy, row.portal_has) == ("mobilephone", "always", None)
    assert admin_client.get("/admin/hubspot_sync/propertymapping/add/").status_code == 403
