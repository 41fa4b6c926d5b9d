"""The fake HubSpot refuses what HubSpot refuses (HubSpot/HubSpot-public-api-spec-collection, 2026-09 specs):
a fake that accepts bad requests hides client bugs. Each rule: the bad request is refused like HubSpot does."""

import httpx
import pytest

from fakes.hubspot import FakeConfig, FakeHubSpotServer

V = "2026-09"
AUTH = {"Authorization": "Bearer fake-token"}


@pytest.fixture
def hs():
    server = FakeHubSpotServer(config=FakeConfig(seed=1), preset_properties=True).start()
    http = httpx.Client(base_url=server.url, headers=AUTH, timeout=5)
    http.server = server
    yield http
    http.close()
    server.stop()


def upsert(hs, *inputs):
    return hs.post(f"/crm/objects/{V}/contacts/batch/upsert", json={"inputs": list(inputs)})


def contact(email, **props):
    return {"idProperty": "email", "id": email, "properties": {"email": email, **props}}


def state(hs):
    return hs.get("/__fake__/state").json()


def assert_hubspot_validation_error(response):
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "error" and body["category"] == "VALIDATION_ERROR" and body["message"]
    assert body["correlationId"]
    assert body["errors"] and all("message" in e and "context" in e for e in body["errors"])
    return body


def make_meeting(hs, contact_id, **props):
    return hs.post(f"/crm/objects/{V}/meetings/batch/create", json={"inputs": [{
        "objectWriteTraceId": "t1", "properties": {"hs_timestamp": "2026-06-12T09:00:00Z", **props},
        "associations": [{"to": {"id": contact_id}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 200}]}]}]})


def test_it_rejects_a_whole_upsert_batch_for_one_unknown_property(hs):
    response = upsert(hs, contact("good@example.com", firstname="Good"), contact("bad@example.com", no_such_property="x"))
    body = assert_hubspot_validation_error(response)
    assert "no_such_property" in body["message"] and body["errors"][0]["code"] == "PROPERTY_DOESNT_EXIST"
    assert state(hs)["contacts"] == {}  # all or nothing: the good input was not written either


def test_it_never_answers_207_to_an_upsert(hs):
    response = upsert(hs, contact("good@example.com"), contact("not-an-email"))
    assert_hubspot_validation_error(response)
    assert state(hs)["contacts"] == {}


@pytest.mark.parametrize("name,value", [
    ("sourcebook_bookings_count", "three"),
    ("sourcebook_last_booking_at", "last tuesday"),
    ("lifecyclestage", "not-a-stage"),
])
def test_it_validates_values_by_property_type(hs, name, value):
    assert_hubspot_validation_error(upsert(hs, contact("a@example.com", **{name: value})))


@pytest.mark.parametrize("value", ["2026-06-12T09:00:00Z", "2026-06-12T09:00:00.123+02:00", "1781254800000"])
def test_it_accepts_datetimes_as_iso_or_epoch_milliseconds(hs, value):
    assert upsert(hs, contact("a@example.com", sourcebook_last_booking_at=value)).status_code == 200


def test_an_empty_string_clears_a_property(hs):
    upsert(hs, contact("a@example.com", lastname="Reyes"))
    upsert(hs, contact("a@example.com", lastname=""))
    assert "lastname" not in state(hs)["contacts"]["a@example.com"]


def test_it_rejects_duplicate_ids_in_one_upsert(hs):
    assert upsert(hs, contact("a@example.com"), contact("a@example.com")).status_code == 400


def test_it_rejects_an_unknown_meeting_outcome_and_updates_nothing(hs):
    contact_id = upsert(hs, contact("a@example.com")).json()["results"][0]["id"]
    meeting_id = make_meeting(hs, contact_id, hs_meeting_outcome="SCHEDULED").json()["results"][0]["id"]
    response = hs.post(f"/crm/objects/{V}/meetings/batch/update", json={"inputs": [
        {"id": meeting_id, "properties": {"hs_meeting_title": "changed"}},
        {"id": meeting_id + "0", "properties": {"hs_meeting_outcome": "DONE"}}]})
    body = assert_hubspot_validation_error(response)
    assert body["errors"][0]["code"] == "INVALID_OPTION"
    assert state(hs)["meetings"][0]["properties"].get("hs_meeting_title") is None


def test_an_update_of_a_deleted_meeting_is_a_404_naming_it(hs):
    contact_id = upsert(hs, contact("a@example.com")).json()["results"][0]["id"]
    meeting_id = make_meeting(hs, contact_id).json()["results"][0]["id"]
    assert hs.delete(f"/crm/objects/{V}/meetings/{meeting_id}").status_code == 204
    response = hs.post(f"/crm/objects/{V}/meetings/batch/update", json={"inputs": [
        {"id": meeting_id, "properties": {"hs_meeting_outcome": "CANCELED"}}]})
    assert response.status_code == 404 and response.json()["category"] == "OBJECT_NOT_FOUND"
    assert response.json()["context"]["ids"] == [meeting_id]


def test_a_create_answers_207_only_when_every_input_has_a_trace_id(hs):
    contact_id = upsert(hs, contact("a@example.com")).json()["results"][0]["id"]
    assoc = [{"to": {"id": contact_id}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 200}]}]
    good = {"properties": {"hs_timestamp": "2026-06-12T09:00:00Z"}, "associations": assoc}
    bad = {"properties": {"hs_timestamp": "2026-06-12T09:00:00Z", "hs_meeting_outcome": "DONE"}, "associations": assoc}
    untraced = hs.post(f"/crm/objects/{V}/meetings/batch/create", json={"inputs": [good, bad]})
    assert_hubspot_validation_error(untraced)
    assert state(hs)["meetings"] == []
    traced = hs.post(f"/crm/objects/{V}/meetings/batch/create", json={"inputs": [
        {**good, "objectWriteTraceId": "g"}, {**bad, "objectWriteTraceId": "b"}]})
    assert traced.status_code == 207
    assert traced.json()["errors"][0]["context"]["objectWriteTraceId"] == ["b"]
    assert [r["objectWriteTraceId"] for r in traced.json()["results"]] == ["g"]


@pytest.mark.parametrize("associations", [
    None,  # required on a batch create input
    [{"to": {"id": "CONTACT"}}],  # types missing
    [{"to": {"id": "CONTACT"}, "types": []}],
    [{"to": {"id": "CONTACT"}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}]}],  # deal->contact id
    [{"to": {"id": "CONTACT"}, "types": [{"associationCategory": "MADE_UP", "associationTypeId": 200}]}],
    [{"to": {"id": "CONTACT"}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": "200"}]}],
])
def test_association_types_are_required_and_checked(hs, associations):
    contact_id = upsert(hs, contact("a@example.com")).json()["results"][0]["id"]
    item = {"objectWriteTraceId": "t", "properties": {"hs_timestamp": "2026-06-12T09:00:00Z"}}
    if associations is not None:
        item["associations"] = [{**a, "to": {"id": contact_id}} for a in associations]
    assert_hubspot_validation_error(hs.post(f"/crm/objects/{V}/meetings/batch/create", json={"inputs": [item]}))
    assert state(hs)["meetings"] == []


def test_a_property_create_needs_a_label_and_enumerations_need_options(hs):
    base = {"name": "sourcebook_x", "type": "string", "fieldType": "text", "groupName": "sourcebook"}
    assert hs.post(f"/crm/properties/{V}/contacts", json=base).status_code == 400
    enum = {**base, "label": "X", "type": "enumeration", "fieldType": "select"}
    assert hs.post(f"/crm/properties/{V}/contacts", json=enum).status_code == 400
    assert hs.post(f"/crm/properties/{V}/contacts", json={**base, "label": "X"}).status_code == 201
    assert hs.post(f"/crm/properties/{V}/contacts/groups", json={"name": "nolabel"}).status_code == 400


def test_search_limit_is_at_most_200_and_pages_follow_after(hs):
    search = {"filterGroups": [], "properties": ["hs_timestamp"], "sorts": [], "after": "0"}
    assert hs.post(f"/crm/objects/{V}/meetings/search", json={**search, "limit": 201}).status_code == 400
    contact_id = upsert(hs, contact("a@example.com")).json()["results"][0]["id"]
    for _ in range(3):
        make_meeting(hs, contact_id)
    first = hs.post(f"/crm/objects/{V}/meetings/search", json={**search, "limit": 2}).json()
    assert len(first["results"]) == 2 and first["total"] == 3
    second = hs.post(f"/crm/objects/{V}/meetings/search", json={**search, "limit": 2, "after": first["paging"]["next"]["after"]}).json()
    assert len(second["results"]) == 1 and "paging" not in second


def test_query_strings_are_ignored_when_routing(hs):
    response = hs.post(f"/crm/objects/{V}/contacts/batch/upsert?hapikey=x&idProperty=email",
                       json={"inputs": [contact("a@example.com")]})
    assert response.status_code == 200


@pytest.mark.parametrize("method,path", [
    ("POST", "/crm/v3/objects/contacts/batch/upsert"),
    ("POST", "/crm/v3/objects/meetings/batch/create"),
    ("GET", "/crm/v4/objects/contacts/1/associations/deals"),
    ("POST", "/oauth/v1/token"),
    ("GET", "/oauth/v1/access-tokens/fake-token"),
])
def test_retired_paths_answer_404(hs, method, path):
    assert hs.request(method, path, json={"inputs": []} if method == "POST" else None).status_code == 404


def test_oauth_takes_form_bodies_on_the_date_versioned_endpoint(hs):
    form = {"grant_type": "refresh_token", "client_id": "fake-client", "client_secret": "fake-secret",
            "refresh_token": "fake-refresh-0"}
    assert hs.post(f"/oauth/{V}/token", json=form).status_code == 400  # JSON is not accepted
    pair = hs.post(f"/oauth/{V}/token", data=form).json()
    assert pair["token_use"] == "access_token" and pair["refresh_token"] == "fake-refresh-1"
    info = hs.post(f"/oauth/{V}/token/introspect", data={"token": pair["access_token"]}).json()
    assert info["active"] is True and "crm.objects.contacts.write" in info["scopes"]
    assert hs.post(f"/oauth/{V}/token/introspect", data={"token": "nope"}).json() == {"active": False}


def test_the_daily_limit_answers_a_daily_429(hs):
    hs.post("/__fake__/config", json={"daily_limit": 1})
    assert upsert(hs, contact("a@example.com")).status_code == 200
    response = upsert(hs, contact("b@example.com"))
    assert response.status_code == 429 and response.json()["policyName"] == "DAILY"
