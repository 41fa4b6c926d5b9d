"""A contract-faithful fake HubSpot, in memory, stdlib only: as strict as HubSpot's OpenAPI specs
(HubSpot/HubSpot-public-api-spec-collection, PublicApiSpecs/, the 2026-09 date version) and as HubSpot behaves:
batch upsert/update are all-or-nothing (a whole-batch 400), only a batch create whose inputs all carry an
`objectWriteTraceId` answers 207, association types are required and checked, values are validated by type,
search `limit` is at most 200, and the retired v1-v4 paths answer 404.

Used by tests, `make run` and benchmarks. Faults on demand: error rate, extra 429s, ambiguous
timeouts (the write is applied, the answer comes too late), latency, full outage.
Inspect with GET /__fake__/state; reconfigure with POST /__fake__/config; POST /__fake__/reset.
"""

from __future__ import annotations

import bisect
import json
import random
import re
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from fakes.http import FakeServer, JsonHandler

API = "2026-09"  # the date-versioned paths the fake answers (PublicApiSpecs/CRM/*/Rollouts/*/2026-09)
# Retired or retiring prefixes answer 404 here, so a client still calling them fails in tests, not in 2027.
RETIRED_PREFIXES = ("/crm/v3/", "/crm/v4/", "/oauth/v1/", "/oauth/v3/", "/account-info/v3/")

OUTCOMES = ["SCHEDULED", "COMPLETED", "RESCHEDULED", "NO_SHOW", "CANCELED"]
STAGES = ["appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "decisionmakerboughtin", "contractsent",
          "closedwon", "closedlost"]
CURRENCIES = ["USD", "EUR", "GBP", "CAD", "AUD", "CHF", "JPY"]
# Search (PublicObjectSearchRequest): operators HubSpot's Filter.operator enum accepts; a query answers at most
# 10,000 results (paging past it is a 400); search has its own per-second limit and never returns archived objects.
SEARCH_OPERATORS = {"EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY",
                    "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"}
SEARCH_MAX_RESULTS = 10_000
# Calculated properties: HubSpot sets them (from the deal stage, the clock, the id) and refuses a write with
# READ_ONLY_VALUE. Stage ids -> (hs_is_closed, hs_is_closed_won), as the default pipeline's stage metadata says.
READ_ONLY = {"deals": {"hs_is_closed", "hs_is_closed_won", "hs_lastmodifieddate", "hs_object_id"}}
STAGE_CLOSED = {"closedwon": ("true", "true"), "closedlost": ("true", "false")}
STAGE_PROBABILITY = {"appointmentscheduled": "0.2", "qualifiedtobuy": "0.4", "presentationscheduled": "0.6",
                     "decisionmakerboughtin": "0.8", "contractsent": "0.9", "closedwon": "1.0", "closedlost": "0.0"}
LIFECYCLE = ["subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer",
             "evangelist", "other"]


def _prop(type_: str = "string", field_type: str = "text", options=None) -> dict:
    return {"type": type_, "fieldType": field_type, "options": list(options or [])}


DEFAULT_PROPERTIES = {
    "contacts": {"email": _prop(), "firstname": _prop(), "lastname": _prop(), "phone": _prop("string", "phonenumber"),
                 "company": _prop(), "website": _prop(), "hubspot_owner_id": _prop("enumeration", "select"),
                 "createdate": _prop("datetime", "date"), "lastmodifieddate": _prop("datetime", "date"), "lifecyclestage": _prop("enumeration", "radio", LIFECYCLE)},
    "meetings": {"hs_timestamp": _prop("datetime", "date"), "hs_meeting_title": _prop(), "hs_meeting_body": _prop("string", "html"),
                 "hs_meeting_start_time": _prop("datetime", "date"), "hs_meeting_end_time": _prop("datetime", "date"),
                 "hs_meeting_outcome": _prop("enumeration", "select", OUTCOMES), "hs_meeting_location": _prop(),
                 "hs_meeting_external_url": _prop(), "hubspot_owner_id": _prop(), "hs_internal_meeting_notes": _prop("string", "html")},
    "deals": {"dealname": _prop(), "dealstage": _prop("enumeration", "radio", STAGES),
              "pipeline": _prop("enumeration", "select", ["default"]), "amount": _prop("number", "number"),
              "closedate": _prop("datetime", "date"), "createdate": _prop("datetime", "date"),
              "hs_lastmodifieddate": _prop("datetime", "date"), "deal_currency_code": _prop("enumeration", "select", CURRENCIES),
              "hubspot_owner_id": _prop(), "hs_is_closed_won": _prop("bool", "booleancheckbox"),
              "hs_is_closed": _prop("bool", "booleancheckbox"), "hs_object_id": _prop("number", "number")},
}
SOURCEBOOK_PROPERTIES = {
    "contacts": {**{name: _prop() for name in (
        "sourcebook_last_utm_source", "sourcebook_last_utm_medium", "sourcebook_last_utm_campaign",
        "sourcebook_last_utm_content", "sourcebook_last_utm_term", "sourcebook_last_channel", "sourcebook_first_utm_source",
        "sourcebook_first_utm_medium", "sourcebook_first_utm_campaign", "sourcebook_first_channel",
        "sourcebook_self_reported_source", "sourcebook_first_touch_source", "sourcebook_first_touch_medium",
        "sourcebook_first_touch_campaign", "sourcebook_first_touch_landing_page", "sourcebook_last_touch_source",
        "sourcebook_last_touch_medium", "sourcebook_last_touch_campaign", "sourcebook_last_touch_channel")},
        "sourcebook_first_touch_at": _prop("datetime", "date"), "sourcebook_last_touch_at": _prop("datetime", "date"),
        "sourcebook_touches": _prop("number", "number"), "sourcebook_days_to_booking": _prop("number", "number"),
        "sourcebook_last_booking_at": _prop("datetime", "date"), "sourcebook_bookings_count": _prop("number", "number")},
    "meetings": {"sourcebook_booking_uri": _prop()},
    "deals": {name: _prop() for name in ("sourcebook_channel", "sourcebook_source", "sourcebook_campaign")},
}
# HUBSPOT_DEFINED association type ids (confirmed by HubSpot's SDK): (from, to) -> allowed ids.
ASSOCIATION_TYPES = {("meetings", "contacts"): {200}, ("contacts", "meetings"): {199}, ("meetings", "deals"): {212},
                     ("deals", "contacts"): {3}, ("contacts", "deals"): {4}}
ASSOCIATION_CATEGORIES = {"HUBSPOT_DEFINED", "INTEGRATOR_DEFINED", "USER_DEFINED", "WORK"}
VALID_TYPE_PAIRS = {("string", "text"), ("string", "textarea"), ("string", "html"), ("string", "phonenumber"),
                    ("string", "file"), ("number", "number"), ("number", "calculation_equation"), ("bool", "booleancheckbox"),
                    ("enumeration", "booleancheckbox"), ("datetime", "date"), ("date", "date"), ("enumeration", "select"),
                    ("enumeration", "radio"), ("enumeration", "checkbox"), ("phone_number", "phonenumber")}
DEFAULT_SCOPES = ["oauth", "crm.objects.contacts.read", "crm.objects.contacts.write", "crm.schemas.contacts.write",
                  "crm.objects.deals.read", "crm.objects.deals.write", "crm.schemas.deals.write", "crm.objects.owners.read"]
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class FakeConfig:
    tokens: set = field(default_factory=lambda: {"fake-token"})
    rate_limit: int = 100
    window_seconds: float = 10.0
    daily_limit: int = 0  # requests per day before a DAILY 429 (0: no daily limit)
    time_zone: str = "US/Eastern"  # the portal's time zone (account details); the daily limit resets at its midnight
    fail_rate: float = 0.0
    rate_429: float = 0.0
    timeout_rate: float = 0.0
    timeout_sleep: float = 15.0
    timeout_paths: list = field(default_factory=list)  # only these path fragments time out (empty: all)
    latency_ms: float = 0.0
    down: bool = False
    access_token_ttl: int = 1800
    client_id: str = "fake-client"
    client_secret: str = "fake-secret"
    scopes: list = field(default_factory=lambda: list(DEFAULT_SCOPES))
    search_per_second: int = 4  # CRM search's own limit, per token (SECONDLY policy), apart from the burst window
    company_currency: str = "USD"
    exchange_rates: dict = field(default_factory=dict)  # {"EUR": 1.08}: from EUR to the company currency
    missing_on_update: str = "404"  # batch update of a deleted id: whole-batch "404", or "207" with per-input errors
    seed: int | None = None


class FakeHubSpot:
    """State and behaviour, independent of HTTP (the handler below only translates)."""

    def __init__(self, config: FakeConfig | None = None, *, preset_properties: bool = False):
        self.config = config or FakeConfig()
        self.lock = threading.RLock()
        self.random = random.Random(self.config.seed)
        self.preset = preset_properties
        self.reset()

    def reset(self):
        with self.lock:
            self.contacts: dict[str, dict] = {}  # email -> {"id", "properties"}
            self.meetings: dict[str, dict] = {}  # id -> {"id", "properties", "contacts": [...]}
            self.deals: dict[str, dict] = {}  # id -> {"id", "properties", "contacts", "archived", "archivedAt"}
            self.deal_writes = 0  # bumped by every deal write: the search index below is rebuilt after one
            self._search_index: tuple = (None, [], [])
            self.owners: list[dict] = [{"id": "501", "email": "owner@example.com", "firstName": "Olive", "lastName": "Owner",
                                        "userId": 9001, "archived": False}]
            self.search_times: deque = deque()
            self.reads = 0  # contact batch reads answered (the only-if-empty policy's reads)
            self.gdpr_blocklist: set[str] = set()  # emails a GDPR delete blocklisted
            self.gdpr_deleted: list[str] = []  # contact ids permanently deleted
            self.next_id = 1000
            self.properties = {t: {n: {**d, "options": list(d["options"])} for n, d in props.items()}
                               for t, props in DEFAULT_PROPERTIES.items()}
            self.groups = {"contacts": {"contactinformation"}, "meetings": {"meetinginformation"}, "deals": {"dealinformation"}}
            if self.preset:
                for object_type, props in SOURCEBOOK_PROPERTIES.items():
                    self.properties[object_type].update({n: {**d, "options": list(d["options"])} for n, d in props.items()})
                    self.groups[object_type].add("sourcebook")
            self.window: deque = deque()
            self.daily_used = 0
            self.requests: Counter = Counter()
            self.throttled = 0
            self.access_tokens: dict[str, float] = {}  # oauth access token -> expiry
            self.refresh_tokens: set = {"fake-refresh-0"}
            self.used_refresh_tokens: set = set()
            self.auth_codes: set = {"fake-code"}
            self.refreshes = 0

    def _id(self) -> str:
        self.next_id += 1
        return str(self.next_id)

    # --- auth and limits -----------------------------------------------------------------------
    def authorized(self, token: str | None) -> bool:
        if token in self.config.tokens:
            return True
        expiry = self.access_tokens.get(token or "")
        return expiry is not None and expiry > time.time()

    def take_budget(self) -> tuple[str | None, int]:
        """(None, remaining) when the request may run, else the policy it broke."""
        now = time.monotonic()
        with self.lock:
            if self.config.daily_limit and self.daily_used >= self.config.daily_limit:
                self.throttled += 1
                return "DAILY", 0
            while self.window and self.window[0] <= now - self.config.window_seconds:
                self.window.popleft()
            if len(self.window) >= self.config.rate_limit:
                self.throttled += 1
                return "TEN_SECONDLY_ROLLING", 0
            self.window.append(now)
            self.daily_used += 1
            return None, self.config.rate_limit - len(self.window)

    # --- validation (what HubSpot refuses) -----------------------------------------------------
    def _property_problems(self, object_type: str, props) -> list[dict]:
        """One ErrorDetail per bad property: unknown name or a value its type does not take."""
        if not isinstance(props, dict):
            return [{"message": "properties must be an object", "code": "INVALID_INPUT", "in": "properties"}]
        problems = []
        known = self.properties.get(object_type, {})
        for name, value in props.items():
            definition = known.get(name)
            if definition is None:
                problems.append({"message": f"Property \"{name}\" does not exist", "code": "PROPERTY_DOESNT_EXIST",
                                 "in": name, "context": {"propertyName": [name]}})
                continue
            if name in READ_ONLY.get(object_type, ()):
                problems.append({"message": f"{name} is a read only property; its value cannot be set.",
                                 "code": "READ_ONLY_VALUE", "in": name, "context": {"propertyName": [name]}})
                continue
            if name == "hubspot_owner_id" and value not in (None, ""):
                # An owner property takes the id of an active owner of the portal (its options are the owners).
                if str(value) not in {o["id"] for o in self.owners if not o.get("archived")}:
                    problems.append({"message": f"{value} was not one of the allowed options (owner ids)",
                                     "code": "INVALID_OPTION", "in": name, "context": {"propertyName": [name]}})
                continue
            problem = _value_problem(definition, value)
            if problem:
                problems.append({"message": problem[1], "code": problem[0], "in": name, "context": {"propertyName": [name]}})
        return problems

    def _association_problems(self, from_type: str, associations, *, required: bool) -> tuple[list[dict], list[str]]:
        """(problems, target ids). `types` is required on every association; HUBSPOT_DEFINED ids are checked."""
        if associations is None:
            return ([{"message": "associations is required", "code": "REQUIRED_FIELD", "in": "associations"}]
                    if required else []), []
        if not isinstance(associations, list):
            return [{"message": "associations must be a list", "code": "INVALID_INPUT", "in": "associations"}], []
        problems, targets = [], []
        for association in associations:
            to_id = str(((association or {}).get("to") or {}).get("id") or "")
            types = (association or {}).get("types")
            if not to_id:
                problems.append({"message": "association 'to.id' is required", "code": "REQUIRED_FIELD", "in": "to"})
                continue
            if not isinstance(types, list) or not types:
                problems.append({"message": "association 'types' is required and may not be empty", "code": "REQUIRED_FIELD",
                                 "in": "types"})
                continue
            for spec in types:
                category, type_id = (spec or {}).get("associationCategory"), (spec or {}).get("associationTypeId")
                if category not in ASSOCIATION_CATEGORIES or not isinstance(type_id, int) or isinstance(type_id, bool):
                    problems.append({"message": f"invalid association type {spec!r}: associationCategory and an integer "
                                                "associationTypeId are required", "code": "INVALID_ASSOCIATION_TYPE", "in": "types"})
                    continue
                to_type = self._object_type_of(to_id)
                allowed = ASSOCIATION_TYPES.get((from_type, to_type), set())
                if category != "HUBSPOT_DEFINED" or type_id not in allowed:
                    problems.append({"message": f"association type {category}/{type_id} does not exist between {from_type} "
                                                f"and {to_type or 'object ' + to_id}", "code": "INVALID_ASSOCIATION_TYPE",
                                     "in": "types", "context": {"associationTypeId": [str(type_id)]}})
            targets.append(to_id)
        return problems, targets

    def _object_type_of(self, object_id: str) -> str | None:
        if object_id in self.meetings:
            return "meetings"
        if object_id in self.deals:
            return "deals"
        if any(c["id"] == object_id for c in self.contacts.values()):
            return "contacts"
        return None

    # --- contacts ----------------------------------------------------------------------------------
    def contacts_upsert(self, body: dict) -> tuple[int, dict]:
        """Batch upsert is all or nothing: any invalid input makes the whole batch a 400 (no 207)."""
        inputs = body.get("inputs")
        if not isinstance(inputs, list):
            return 400, _error("VALIDATION_ERROR", "Invalid input JSON: 'inputs' is required")
        if len(inputs) > 100:
            return 400, TOO_MANY_INPUTS()
        problems, ids = [], []
        with self.lock:
            for item in inputs:
                item = item if isinstance(item, dict) else {}
                email = str(item.get("id") or "").strip().lower()
                ids.append(email)
                if item.get("idProperty") != "email" or "properties" not in item:
                    problems.append({"message": "idProperty 'email', id and properties are required", "code": "REQUIRED_FIELD",
                                     "context": {"id": [email]}})
                    continue
                if not EMAIL_RE.match(email):
                    problems.append({"message": f"Email address {email} is invalid", "code": "INVALID_EMAIL",
                                     "in": "email", "context": {"propertyName": ["email"]}})
                problems += self._property_problems("contacts", item.get("properties"))
            duplicates = sorted({e for e in ids if ids.count(e) > 1})
            if duplicates:
                return 400, _error("VALIDATION_ERROR", f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique")
            if problems:
                return 400, _validation_error(problems)
            results = []
            for item, email in zip(inputs, ids):
                existing = self.contacts.get(email)
                new = existing is None
                if new:
                    existing = self.contacts[email] = {"id": self._id(), "properties": {"email": email}}
                _apply(existing["properties"], item["properties"])
                results.append({"id": existing["id"], "new": new, "properties": dict(existing["properties"]),
                                "createdAt": _now(), "updatedAt": _now(), "archived": False})
        return 200, {"status": "COMPLETE", "results": results, "requestedAt": _now(), "startedAt": _now(), "completedAt": _now()}

    def contact_gdpr_delete(self, body: dict) -> tuple[int, dict]:
        """PublicGdprDeleteInput: `objectId` (string) is required, `idProperty` optional and, for contacts, a
        unique property (`email` or `hs_object_id`). By email, an unknown contact still answers 204 and the email
        is blocklisted; by id, an unknown contact is a 404. Extra fields are refused, as HubSpot's strict input."""
        unknown = sorted(set(body) - {"objectId", "idProperty"})
        if unknown:
            return 400, _error("VALIDATION_ERROR", f"Invalid input JSON on line 1: Unrecognized field(s) {unknown}")
        object_id, id_property = body.get("objectId"), body.get("idProperty")
        if not isinstance(object_id, str) or not object_id.strip():
            return 400, _validation_error([{"message": "objectId is required and must be a string", "code": "REQUIRED_FIELD",
                                            "in": "objectId"}])
        if id_property is not None and id_property not in ("email", "hs_object_id"):
            return 400, _error("VALIDATION_ERROR", f"idProperty {id_property!r} is not a unique property of contacts")
        with self.lock:
            if id_property == "email":
                email = object_id.strip().lower()
                if not EMAIL_RE.match(email):
                    return 400, _validation_error([{"message": f"Email address {email} is invalid", "code": "INVALID_EMAIL",
                                                    "in": "objectId"}])
                contact = self.contacts.pop(email, None)
                self.gdpr_blocklist.add(email)
            else:
                email = next((e for e, c in self.contacts.items() if c["id"] == object_id.strip()), None)
                if email is None:
                    return 404, _error("OBJECT_NOT_FOUND", f"resource not found: contact {object_id}")
                contact = self.contacts.pop(email)
            if contact is not None:
                self.gdpr_deleted.append(contact["id"])
                for meeting in self.meetings.values():
                    meeting["contacts"] = [c for c in meeting.get("contacts", []) if c != contact["id"]]
        return 204, {}

    # --- meetings ----------------------------------------------------------------------------------
    def meetings_create(self, body: dict) -> tuple[int, dict]:
        """Input-shape problems fail the whole batch; a record HubSpot cannot write is a per-input error in a
        207 only when every input carries an `objectWriteTraceId` (otherwise the whole batch is a 400)."""
        inputs = body.get("inputs")
        if not isinstance(inputs, list):
            return 400, _error("VALIDATION_ERROR", "Invalid input JSON: 'inputs' is required")
        if len(inputs) > 100:
            return 400, TOO_MANY_INPUTS()
        traced = all(isinstance(i, dict) and i.get("objectWriteTraceId") for i in inputs)
        results, errors, shape = [], [], []
        with self.lock:
            known_ids = {c["id"] for c in self.contacts.values()}  # once per request: per input it was quadratic
            planned = []
            for item in inputs:
                item = item if isinstance(item, dict) else {}
                if "properties" not in item:
                    shape.append({"message": "properties is required", "code": "REQUIRED_FIELD", "in": "properties"})
                    continue
                assoc_problems, targets = self._association_problems("meetings", item.get("associations"), required=True)
                shape += assoc_problems
                props = item.get("properties") or {}
                problems = self._property_problems("meetings", props)
                if not props.get("hs_timestamp"):
                    problems.append({"message": "hs_timestamp is required", "code": "REQUIRED_FIELD", "in": "hs_timestamp"})
                if any(t not in known_ids for t in targets):
                    problems.append({"message": "association target does not exist", "code": "OBJECT_NOT_FOUND", "in": "to"})
                planned.append((item, props, targets, problems))
            if shape:
                return 400, _validation_error(shape)
            if any(p for *_, p in planned) and not traced:
                return 400, _validation_error([e for *_, p in planned for e in p])
            for item, props, targets, problems in planned:
                if problems:
                    errors.append({**_validation_error(problems), "context": {"objectWriteTraceId": [item["objectWriteTraceId"]]}})
                    continue
                meeting = {"id": self._id(), "properties": {}, "contacts": targets}
                _apply(meeting["properties"], props)
                self.meetings[meeting["id"]] = meeting
                results.append({"id": meeting["id"], "properties": dict(meeting["properties"]), "archived": False,
                                "objectWriteTraceId": item.get("objectWriteTraceId"), "createdAt": _now(), "updatedAt": _now()})
        payload = {"status": "COMPLETE", "results": results, "requestedAt": _now(), "startedAt": _now(), "completedAt": _now()}
        if errors:
            payload.update(numErrors=len(errors), errors=errors)
            return 207, payload
        return 201, payload

    def _batch_update_refused(self, object_type: str, inputs) -> tuple[int, dict] | None:
        """What HubSpot refuses in a batch update before looking the ids up (all or nothing): no `inputs` list,
        more than 100, an input without id or properties, an unknown property or a bad value, an id twice."""
        if not isinstance(inputs, list):
            return 400, _error("VALIDATION_ERROR", "Invalid input JSON: 'inputs' is required")
        if len(inputs) > 100:
            return 400, TOO_MANY_INPUTS()
        problems = []
        for item in inputs:
            if not isinstance(item, dict) or not item.get("id") or "properties" not in item:
                problems.append({"message": "id and properties are required", "code": "REQUIRED_FIELD"})
                continue
            problems += self._property_problems(object_type, item.get("properties"))
        if problems:
            return 400, _validation_error(problems)
        ids = [str(i["id"]) for i in inputs]
        if len(set(ids)) != len(ids):
            return 400, _error("VALIDATION_ERROR", "Duplicate IDs found in batch input. IDs must be unique")
        return None

    def meetings_update(self, body: dict) -> tuple[int, dict]:
        """All or nothing for invalid values (400); ids that no longer exist: a whole-batch 404 naming them, or
        (missing_on_update="207") per-input OBJECT_NOT_FOUND errors while the others are written."""
        inputs = body.get("inputs")
        with self.lock:
            refused = self._batch_update_refused("meetings", inputs)
            if refused:
                return refused
            ids = [str(i["id"]) for i in inputs]
            missing = [i for i in ids if i not in self.meetings]
            if missing and self.config.missing_on_update != "207":
                return 404, {**_error("OBJECT_NOT_FOUND", "Could not get some MEETING objects, they may be deleted or not "
                                                          "exist. Check that ids are valid."), "context": {"ids": missing}}
            results, errors = [], []
            for item in inputs:
                meeting = self.meetings.get(str(item["id"]))
                if meeting is None:
                    errors.append({**_error("OBJECT_NOT_FOUND", "Object not found"), "context": {"ids": [str(item["id"])]}})
                    continue
                _apply(meeting["properties"], item["properties"])
                results.append({"id": meeting["id"], "properties": dict(meeting["properties"]), "archived": False,
                                "createdAt": _now(), "updatedAt": _now()})
        payload = {"status": "COMPLETE", "results": results, "requestedAt": _now(), "startedAt": _now(), "completedAt": _now()}
        if errors:
            payload.update(numErrors=len(errors), errors=errors)
            return 207, payload
        return 200, payload

    def meetings_delete(self, meeting_id: str) -> tuple[int, dict]:
        with self.lock:
            self.meetings.pop(meeting_id, None)
        return 204, {}

    def meetings_search(self, body: dict) -> tuple[int, dict]:
        limit = body.get("limit", 10)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 0 < limit <= 200:
            return 400, _validation_error([{"message": f"limit must be between 1 and 200, got {limit!r}", "code": "INVALID_LIMIT",
                                            "in": "limit"}])
        groups = body.get("filterGroups") or []
        if len(groups) > 6:
            return 400, _validation_error([{"message": "at most 6 filterGroups", "code": "TOO_MANY_FILTER_GROUPS"}])
        try:
            offset = int(body.get("after") or 0)
        except (TypeError, ValueError):
            return 400, _validation_error([{"message": "after must be a paging cursor", "code": "INVALID_AFTER", "in": "after"}])
        with self.lock:
            found = []
            for meeting in sorted(self.meetings.values(), key=lambda m: int(m["id"])):
                if not groups or any(_matches(meeting["properties"], g.get("filters") or []) for g in groups):
                    found.append({"id": meeting["id"], "properties": dict(meeting["properties"]), "archived": False,
                                  "createdAt": _now(), "updatedAt": _now()})
        page = found[offset:offset + limit]
        payload = {"total": len(found), "results": page}
        if offset + limit < len(found):
            payload["paging"] = {"next": {"after": str(offset + limit)}}
        return 200, payload

    # --- properties, pipelines, deals ----------------------------------------------------------
    def _schema_scope_missing(self, object_type: str):
        """Creating properties and groups needs the object's schema write scope (a 403 MISSING_SCOPES without it)."""
        scope = f"crm.schemas.{object_type}.write"
        if object_type in ("contacts", "deals") and scope not in self.config.scopes:
            return 403, {**_error("MISSING_SCOPES", "This app hasn't been granted all required scopes to make this call."),
                         "errors": [{"message": f"One or more of the following scopes are required: {scope}",
                                     "context": {"requiredGranularScopes": [scope]}}]}
        return None

    def group_create(self, object_type: str, body: dict) -> tuple[int, dict]:
        if (refused := self._schema_scope_missing(object_type)):
            return refused
        if not body.get("name") or not body.get("label"):
            return 400, _validation_error([{"message": "name and label are required", "code": "REQUIRED_FIELD"}])
        with self.lock:
            groups = self.groups.setdefault(object_type, set())
            if body.get("name") in groups:
                return 409, _error("CONFLICT", f"A property group named '{body.get('name')}' already exists.")
            groups.add(body.get("name"))
        return 201, {"name": body.get("name"), "label": body.get("label"), "displayOrder": body.get("displayOrder", -1)}

    def property_create(self, object_type: str, body: dict) -> tuple[int, dict]:
        if (refused := self._schema_scope_missing(object_type)):
            return refused
        missing = [f for f in ("name", "label", "type", "fieldType", "groupName") if not body.get(f)]
        if missing:
            return 400, _validation_error([{"message": f"{f} is required", "code": "REQUIRED_FIELD", "in": f} for f in missing])
        name = body["name"]
        if not re.match(r"^[a-z][a-z0-9_]*$", name):
            return 400, _error("VALIDATION_ERROR", f"Property name {name!r} is invalid")
        if (body.get("type"), body.get("fieldType")) not in VALID_TYPE_PAIRS:
            return 400, _error("VALIDATION_ERROR", f"Invalid type/fieldType {body.get('type')}/{body.get('fieldType')}")
        options = body.get("options") or []
        if body["type"] == "enumeration" and (not options or any(not o.get("label") or o.get("value") in (None, "")
                                                                  for o in options)):
            return 400, _error("VALIDATION_ERROR", "options (each with a label and a value) are required for enumeration properties")
        with self.lock:
            if body.get("groupName") not in self.groups.setdefault(object_type, set()):
                return 400, _error("VALIDATION_ERROR", f"Property group {body.get('groupName')} does not exist")
            props = self.properties.setdefault(object_type, {})
            if name in props:
                return 409, _error("CONFLICT", f"Property named '{name}' already exists.")
            props[name] = _prop(body["type"], body["fieldType"], [o["value"] for o in options])
        return 201, {**body, "createdAt": _now()}

    def properties_list(self, object_type: str) -> tuple[int, dict]:
        with self.lock:
            props = self.properties.get(object_type, {})
            return 200, {"results": [{"name": n, "type": d["type"], "fieldType": d["fieldType"],
                                      "options": [{"label": o, "value": o} for o in d["options"]]} for n, d in sorted(props.items())]}

    def pipelines(self) -> tuple[int, dict]:
        stages = [{"id": s, "label": s, "displayOrder": i,
                   "metadata": {"isClosed": str(s.startswith("closed")).lower(), "probability": STAGE_PROBABILITY[s]}}
                  for i, s in enumerate(STAGES)]
        return 200, {"results": [{"id": "default", "label": "Sales Pipeline", "displayOrder": 0, "stages": stages}]}

    def deal_create(self, body: dict) -> tuple[int, dict]:
        props = body.get("properties") or {}
        with self.lock:
            problems = self._property_problems("deals", props)
            assoc_problems, targets = self._association_problems("deals", body.get("associations"), required=False)
            problems += assoc_problems
            if problems:
                return 400, _validation_error(problems)
            deal = {"id": self._id(), "properties": {}, "contacts": targets, "archived": False}
            self.deal_writes += 1
            _apply(deal["properties"], props)
            deal["properties"].setdefault("createdate", _now())
            deal["properties"]["hs_lastmodifieddate"] = _now()
            _deal_calculated(deal)
            self.deals[deal["id"]] = deal
        return 201, {"id": deal["id"], "properties": dict(deal["properties"]), "archived": False,
                     "createdAt": _now(), "updatedAt": _now()}

    def deal_update(self, deal_id: str, body: dict) -> tuple[int, dict]:
        with self.lock:
            deal = self.deals.get(deal_id)
            if deal is None:
                return 404, _error("OBJECT_NOT_FOUND", "Object not found")
            problems = self._property_problems("deals", body.get("properties") or {})
            if problems:
                return 400, _validation_error(problems)
            self.deal_writes += 1
            _apply(deal["properties"], body.get("properties") or {})
            deal["properties"]["hs_lastmodifieddate"] = _now()
            _deal_calculated(deal)
        return 200, {"id": deal_id, "properties": dict(deal["properties"]), "archived": False}

    def associations_read(self, from_type: str, to_type: str, body: dict) -> tuple[int, dict]:
        """POST /crm/associations/{date}/{from}/{to}/batch/read — only contacts → deals|meetings here."""
        if (from_type, to_type) == ("deals", "contacts"):
            return self._deal_contacts_read(body)
        if from_type != "contacts" or to_type not in ("deals", "meetings"):
            return 400, _error("VALIDATION_ERROR", f"unsupported association {from_type} -> {to_type} (fake)")
        type_id = next(iter(ASSOCIATION_TYPES[(from_type, to_type)]))
        objects = self.deals if to_type == "deals" else self.meetings
        results = []
        with self.lock:
            for item in body.get("inputs") or []:
                contact_id = str(item.get("id"))
                linked = [o["id"] for o in objects.values() if contact_id in o["contacts"]]
                if linked:
                    results.append({"from": {"id": contact_id}, "to": [
                        {"toObjectId": i, "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}]}
                        for i in linked]})
        return 200, {"status": "COMPLETE", "results": results, "startedAt": _now(), "completedAt": _now()}

    def deals_read(self, body: dict) -> tuple[int, dict]:
        """Batch read by id: the properties asked for (plus the defaults); an unknown or archived id is a
        per-input OBJECT_NOT_FOUND error in a 207."""
        problem = _batch_read_problem(body)
        if problem:
            return problem
        wanted = [n for n in body["properties"] if isinstance(n, str)]
        found, missing = [], []
        with self.lock:
            for item in body["inputs"]:
                deal = self.deals.get(str((item or {}).get("id")))
                if deal is None or deal.get("archived"):
                    missing.append(str((item or {}).get("id")))
                    continue
                found.append(_deal_out(deal, wanted))
        return _batch_read_answer(found, missing, "DEAL")

    def contacts_read(self, body: dict) -> tuple[int, dict]:
        """POST /crm/objects/{date}/contacts/batch/read (BatchReadInputSimplePublicObjectId): inputs ≤ 100,
        properties and propertiesWithHistory required, idProperty `email` or none (internal ids). Only the properties
        asked for come back (plus the defaults); a name the portal does not have is left out, as HubSpot's reads do.
        A contact not found is a per-input OBJECT_NOT_FOUND error in a 207."""
        problem = _batch_read_problem(body)
        if problem:
            return problem
        id_property = body.get("idProperty")
        if id_property not in (None, "email", "hs_object_id"):
            return 400, _error("VALIDATION_ERROR", f"idProperty {id_property!r} is not a unique property of contacts")
        wanted = {"email", "createdate", "lastmodifieddate", "hs_object_id", *[n for n in body["properties"] if isinstance(n, str)]}
        found, missing = [], []
        with self.lock:
            by_id = {c["id"]: c for c in self.contacts.values()} if id_property != "email" else {}
            for item in body["inputs"]:
                key = str((item or {}).get("id") or "").strip()
                contact = self.contacts.get(key.lower()) if id_property == "email" else by_id.get(key)
                if contact is None:
                    missing.append(key)
                    continue
                props = {n: contact["properties"].get(n) for n in wanted if n in self.properties["contacts"] or n == "hs_object_id"}
                props["hs_object_id"] = contact["id"]
                found.append({"id": contact["id"], "properties": props, "archived": False, "createdAt": _now(), "updatedAt": _now()})
        with self.lock:
            self.reads += 1
        return _batch_read_answer(found, missing, "CONTACT")

    def deals_update(self, body: dict) -> tuple[int, dict]:
        """POST /crm/objects/{date}/deals/batch/update: ≤ 100 inputs, each {id, properties}; all or nothing for an
        unknown property or a bad value (400, PROPERTY_DOESNT_EXIST); ids that do not exist: a whole-batch 404."""
        inputs = body.get("inputs")
        with self.lock:
            refused = self._batch_update_refused("deals", inputs)
            if refused:
                return refused
            ids = [str(i["id"]) for i in inputs]
            missing = [i for i in ids if i not in self.deals or self.deals[i].get("archived")]
            if missing:
                return 404, {**_error("OBJECT_NOT_FOUND", "Could not get some DEAL objects, they may be deleted or not "
                                                          "exist. Check that ids are valid."), "context": {"ids": missing}}
            results = []
            for item in inputs:
                deal = self.deals[str(item["id"])]
                _apply(deal["properties"], item["properties"])
                deal["properties"]["hs_lastmodifieddate"] = _now()
                results.append(_deal_out(deal, list(item["properties"])))
        return 200, {"status": "COMPLETE", "results": results, "requestedAt": _now(), "startedAt": _now(), "completedAt": _now()}

    def owner_add(self, *, email: str, first: str = "", last: str = "", archived: bool = False) -> str:
        """Test helper (not an endpoint): a HubSpot user who can own records."""
        with self.lock:
            owner_id = self._id()
            self.owners.append({"id": owner_id, "email": email, "firstName": first, "lastName": last,
                                "userId": int(owner_id) + 9000, "archived": archived})
            return owner_id

    # --- deals: seeding, search, archived list, associations, owners, currencies ----------------------
    def deal_seed(self, *, contacts: list[str] = (), modified: str | None = None, **props) -> str:
        """Test helper (not an endpoint): a deal as HubSpot would hold it, `modified` its hs_lastmodifieddate."""
        with self.lock:
            deal = {"id": self._id(), "properties": {}, "contacts": [str(c) for c in contacts], "archived": False}
            self.deal_writes += 1
            _apply(deal["properties"], {"createdate": _now(), **props})
            deal["properties"]["hs_lastmodifieddate"] = modified or _now()
            deal["properties"]["hs_object_id"] = deal["id"]
            self.deals[deal["id"]] = deal
            return deal["id"]

    def deal_archive(self, deal_id: str) -> None:
        with self.lock:
            deal = self.deals[deal_id]
            self.deal_writes += 1
            deal["archived"], deal["archivedAt"] = True, _now()

    def search_budget(self) -> bool:
        """CRM search's own limit: `search_per_second` requests in any second (SECONDLY)."""
        now = time.monotonic()
        with self.lock:
            while self.search_times and self.search_times[0] <= now - 1.0:
                self.search_times.popleft()
            if self.config.search_per_second and len(self.search_times) >= self.config.search_per_second:
                self.throttled += 1
                return False
            self.search_times.append(now)
            return True

    @staticmethod
    def _range_shape(groups, sorts, known) -> str | None:
        """The deal read's query — one group of range filters on one datetime property, sorted by it ascending —
        answered from a sorted index (the same rows in the same order as the full scan; a fake that took a second
        per search at 100,000 deals would measure itself, not the client)."""
        if len(groups) != 1 or len(sorts) != 1:
            return None
        filters = (groups[0] or {}).get("filters") or []
        name = sorts[0].get("propertyName")
        if (not filters or sorts[0].get("direction", "ASCENDING") != "ASCENDING"
                or known.get(name, {}).get("type") not in ("datetime", "date")):
            return None
        if all(f.get("propertyName") == name and f.get("operator") in ("GT", "GTE", "LT", "LTE") for f in filters):
            return name
        return None

    def _range_search(self, groups, sorts, known) -> list | None:
        name = self._range_shape(groups, sorts, known)
        if name is None:
            return None
        definition = known[name]
        # The key sees every write through the API (deal_writes) and also a test poking a deal's properties
        # directly: a fingerprint of the indexed values (O(n) but cheap, against O(n log n) parsing per search).
        key = (name, self.deal_writes, len(self.deals),
               hash(tuple((d["properties"].get(name), bool(d.get("archived"))) for d in self.deals.values())))
        if self._search_index[0] != key:
            rows = sorted(((_sort_key(d["properties"].get(name), definition), int(d["id"])), d) for d in self.deals.values()
                          if not d.get("archived") and d["properties"].get(name) not in (None, ""))
            self._search_index = (key, [k for k, _ in rows], [d for _, d in rows])
        _, keys, deals = self._search_index
        low, high = 0, len(keys)
        for f in (groups[0] or {}).get("filters"):
            key = _sort_key(f.get("value"), definition)
            op = f["operator"]
            if op == "GTE":
                low = max(low, bisect.bisect_left(keys, (key, -1)))
            elif op == "GT":
                low = max(low, bisect.bisect_right(keys, (key, float("inf"))))
            elif op == "LT":
                high = min(high, bisect.bisect_left(keys, (key, -1)))
            else:  # LTE
                high = min(high, bisect.bisect_right(keys, (key, float("inf"))))
        return deals[low:high] if low < high else []

    def deals_search(self, body: dict) -> tuple[int, dict]:
        """PublicObjectSearchRequest: filterGroups (≤ 6, ≤ 3 filters each... HubSpot caps at 6 × 18 total), sorts
        (one), properties, limit 1-200, after. Unknown properties in filters, sorts or `properties` and unknown
        operators are a 400; paging beyond 10,000 results is a 400; archived deals never match."""
        unknown_fields = sorted(set(body) - {"filterGroups", "sorts", "properties", "limit", "after", "query"})
        if unknown_fields:
            return 400, _error("VALIDATION_ERROR", f"Invalid input JSON on line 1: Unrecognized field(s) {unknown_fields}")
        limit = body.get("limit", 10)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 0 < limit <= 200:
            return 400, _validation_error([{"message": f"limit must be between 1 and 200, got {limit!r}", "code": "INVALID_LIMIT",
                                            "in": "limit"}])
        try:
            offset = int(body.get("after") or 0)
        except (TypeError, ValueError):
            return 400, _validation_error([{"message": "after must be a paging cursor", "code": "INVALID_AFTER", "in": "after"}])
        if offset + limit > SEARCH_MAX_RESULTS:
            return 400, _error("VALIDATION_ERROR", f"Search results are limited to {SEARCH_MAX_RESULTS}: after + limit may not "
                                                   f"exceed it (after={offset}, limit={limit}); narrow the query")
        groups = body.get("filterGroups") or []
        if not isinstance(groups, list) or len(groups) > 6:
            return 400, _validation_error([{"message": "at most 6 filterGroups", "code": "TOO_MANY_FILTER_GROUPS"}])
        if sum(len((g or {}).get("filters") or []) for g in groups) > 18:
            return 400, _validation_error([{"message": "at most 18 filters in all", "code": "TOO_MANY_FILTERS"}])
        known = self.properties["deals"]
        problems = []
        for group in groups:
            for f in (group or {}).get("filters") or []:
                name, operator = (f or {}).get("propertyName"), (f or {}).get("operator")
                if name not in known:
                    problems.append({"message": f"Property \"{name}\" does not exist", "code": "PROPERTY_DOESNT_EXIST", "in": name})
                if operator not in SEARCH_OPERATORS:
                    problems.append({"message": f"Unknown operator {operator!r}", "code": "INVALID_OPERATOR", "in": "operator"})
                elif operator in ("IN", "NOT_IN") and not isinstance(f.get("values"), list):
                    problems.append({"message": f"{operator} needs `values`", "code": "REQUIRED_FIELD", "in": "values"})
                elif operator == "BETWEEN" and (f.get("value") is None or f.get("highValue") is None):
                    problems.append({"message": "BETWEEN needs value and highValue", "code": "REQUIRED_FIELD", "in": "highValue"})
                elif operator not in ("IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY", "BETWEEN") and f.get("value") is None:
                    problems.append({"message": f"{operator} needs `value`", "code": "REQUIRED_FIELD", "in": "value"})
        sorts = body.get("sorts") or []
        if len(sorts) > 1:
            problems.append({"message": "only one sort is supported", "code": "TOO_MANY_SORTS", "in": "sorts"})
        for sort in sorts:
            if not isinstance(sort, dict) or sort.get("propertyName") not in known or sort.get("direction", "ASCENDING") not in (
                    "ASCENDING", "DESCENDING"):
                problems.append({"message": f"invalid sort {sort!r}", "code": "INVALID_SORT", "in": "sorts"})
        wanted = body.get("properties") or []
        problems += [{"message": f"Property \"{n}\" does not exist", "code": "PROPERTY_DOESNT_EXIST", "in": n}
                     for n in wanted if n not in known]
        if problems:
            return 400, _validation_error(problems)
        with self.lock:
            indexed = self._range_search(groups, sorts, known)
            found = indexed if indexed is not None else [
                d for d in self.deals.values() if not d.get("archived")
                and (not groups or any(_matches(d["properties"], g.get("filters") or [], known) for g in groups))]
        if indexed is None and sorts:
            name, reverse = sorts[0]["propertyName"], sorts[0].get("direction") == "DESCENDING"
            found.sort(key=lambda d: (_sort_key(d["properties"].get(name), known[name]), int(d["id"])), reverse=reverse)
        elif indexed is None:
            found.sort(key=lambda d: int(d["id"]))
        page = found[offset:offset + limit]
        payload = {"total": len(found), "results": [_deal_out(d, wanted) for d in page]}
        if offset + limit < len(found) and offset + limit < SEARCH_MAX_RESULTS:
            payload["paging"] = {"next": {"after": str(offset + limit)}}
        return 200, payload

    def deals_list(self, query: dict) -> tuple[int, dict]:
        """GET /crm/objects/{date}/deals: limit ≤ 100, `after`, `properties` (comma list), `archived=true` lists only
        archived (deleted) deals, with `archivedAt`."""
        try:
            limit = int(query.get("limit", "10"))
            offset = int(query.get("after") or 0)
        except ValueError:
            return 400, _error("VALIDATION_ERROR", "limit and after must be integers")
        if not 0 < limit <= 100:
            return 400, _error("VALIDATION_ERROR", f"limit must be between 1 and 100, got {limit}")
        archived = query.get("archived", "false").lower() == "true"
        wanted = [n for n in (query.get("properties") or "").split(",") if n]
        with self.lock:
            found = sorted((d for d in self.deals.values() if bool(d.get("archived")) == archived), key=lambda d: int(d["id"]))
        page = found[offset:offset + limit]
        payload = {"results": [_deal_out(d, wanted) for d in page]}
        if offset + limit < len(found):
            payload["paging"] = {"next": {"after": str(offset + limit)}}
        return 200, payload

    def _deal_contacts_read(self, body: dict) -> tuple[int, dict]:
        """POST /crm/associations/{date}/deals/contacts/batch/read: ≤ 1000 inputs (BatchInputPublicFetchAssociationsBatchRequest);
        an unknown or archived deal is a per-input error in a 207."""
        inputs = body.get("inputs")
        if not isinstance(inputs, list):
            return 400, _error("VALIDATION_ERROR", "Invalid input JSON: 'inputs' is required")
        if len(inputs) > 1000:
            return 400, _error("VALIDATION_ERROR", "The maximum number of inputs supported in a batch is 1000")
        results, errors = [], []
        with self.lock:
            for item in inputs:
                deal = self.deals.get(str((item or {}).get("id")))
                if deal is None or deal.get("archived"):
                    errors.append({**_error("OBJECT_NOT_FOUND", "No deal with that id"), "context": {"fromObjectId": [str((item or {}).get("id"))]}})
                    continue
                results.append({"from": {"id": deal["id"]}, "to": [
                    {"toObjectId": int(c), "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 3, "label": None}]}
                    for c in deal["contacts"]]})
        payload = {"status": "COMPLETE", "results": results, "startedAt": _now(), "completedAt": _now()}
        if errors:
            payload.update(numErrors=len(errors), errors=errors)
            return 207, payload
        return 200, payload

    def owners_list(self, query: dict) -> tuple[int, dict]:
        """GET /crm/owners/{date}: limit ≤ 500, after, email, archived."""
        try:
            limit, offset = int(query.get("limit", "100")), int(query.get("after") or 0)
        except ValueError:
            return 400, _error("VALIDATION_ERROR", "limit and after must be integers")
        if not 0 < limit <= 500:
            return 400, _error("VALIDATION_ERROR", f"limit must be between 1 and 500, got {limit}")
        with self.lock:
            archived = str(query.get("archived", "false")).lower() == "true"  # active owners only, unless asked
            found = [o for o in self.owners if bool(o.get("archived")) == archived
                     and (not query.get("email") or o["email"] == query["email"])]
        page = found[offset:offset + limit]
        payload = {"results": [{**o, "createdAt": _now(), "updatedAt": _now()} for o in page]}
        if offset + limit < len(found):
            payload["paging"] = {"next": {"after": str(offset + limit)}}
        return 200, payload

    def company_currency(self) -> tuple[int, dict]:
        return 200, {"currencyCode": self.config.company_currency, "currencyName": self.config.company_currency}

    def exchange_rates(self, query: dict) -> tuple[int, dict]:
        """GET /settings/currencies/{date}/exchange-rates: ExchangeRate rows to the company currency."""
        rates = [{"id": str(i), "fromCurrencyCode": code, "toCurrencyCode": self.config.company_currency,
                  "conversionRate": rate, "effectiveAt": _now(), "visibleInUI": True, "createdAt": _now(), "updatedAt": _now()}
                 for i, (code, rate) in enumerate(sorted(self.config.exchange_rates.items()), 1)]
        return 200, {"results": rates}

    def account_details(self) -> tuple[int, dict]:
        return 200, {"portalId": 4242, "accountType": "STANDARD", "timeZone": self.config.time_zone, "companyCurrency": "USD",
                     "additionalCurrencies": [], "utcOffset": "", "utcOffsetMilliseconds": 0, "uiDomain": "app.hubspot.com",
                     "dataHostingLocation": "na1"}

    # --- oauth (date-versioned: /oauth/2026-09/token, /token/introspect) -----------------------------
    def token(self, form: dict) -> tuple[int, dict]:
        with self.lock:
            if form.get("client_id") != self.config.client_id or form.get("client_secret") != self.config.client_secret:
                return 400, {"status": "BAD_CLIENT_ID", "message": "missing or invalid client_id / client_secret",
                             "correlationId": str(uuid.uuid4()), "error": "invalid_client"}
            grant = form.get("grant_type")
            if grant == "authorization_code":
                if form.get("code") not in self.auth_codes or not form.get("redirect_uri"):
                    return 400, {"status": "BAD_AUTH_CODE", "message": "missing or unknown auth code",
                                 "correlationId": str(uuid.uuid4()), "error": "invalid_grant"}
                self.auth_codes.discard(form["code"])
            elif grant == "refresh_token":
                token = form.get("refresh_token", "")
                if token not in self.refresh_tokens:
                    return 400, {"error": "invalid_grant", "error_description": "refresh token is invalid, expired or revoked",
                                 "status": "BAD_REFRESH_TOKEN", "message": "refresh token is invalid, expired or revoked",
                                 "correlationId": str(uuid.uuid4())}
                self.refresh_tokens.discard(token)
                self.used_refresh_tokens.add(token)
            else:
                return 400, {"status": "BAD_GRANT_TYPE", "message": "grant_type must be authorization_code or refresh_token",
                             "correlationId": str(uuid.uuid4()), "error": "unsupported_grant_type"}
            self.refreshes += 1
            new_refresh = f"fake-refresh-{self.refreshes}"
            self.refresh_tokens.add(new_refresh)
            access = f"fake-access-{uuid.uuid4().hex[:12]}"
            self.access_tokens[access] = time.time() + self.config.access_token_ttl
        return 200, {"token_type": "bearer", "token_use": "access_token", "access_token": access, "refresh_token": new_refresh,
                     "expires_in": self.config.access_token_ttl, "hub_id": 4242, "scopes": list(self.config.scopes)}

    def token_introspect(self, form: dict) -> tuple[int, dict]:
        token = form.get("token") or ""
        if not token:
            return 400, _error("VALIDATION_ERROR", "token is required")
        if self.authorized(token):
            expiry = self.access_tokens.get(token)
            return 200, {"active": True, "token_use": "access_token", "token_type": "bearer", "hub_id": 4242, "app_id": 1,
                         "client_id": self.config.client_id, "user_id": 1, "is_private_distribution": False,
                         "expires_in": int(expiry - time.time()) if expiry else 0, "scopes": list(self.config.scopes)}
        if token in self.refresh_tokens:
            return 200, {"active": True, "token_use": "refresh_token", "hub_id": 4242, "scopes": list(self.config.scopes)}
        return 200, {"active": False}

    # --- inspection ----------------------------------------------------------------------------
    def state(self) -> dict:
        with self.lock:
            per_booking = Counter(m["properties"].get("sourcebook_booking_uri") for m in self.meetings.values())
            return {
                "contacts": {e: c["properties"] | {"id": c["id"]} for e, c in self.contacts.items()},
                "meetings": [m | {"properties": dict(m["properties"])} for m in self.meetings.values()],
                "deals": list(self.deals.values()),
                "gdpr_blocklist": sorted(self.gdpr_blocklist),
                "gdpr_deleted": list(self.gdpr_deleted),
                "requests": dict(self.requests),
                "throttled": self.throttled,
                "daily_used": self.daily_used,
                "duplicate_meetings": {uri: n for uri, n in per_booking.items() if uri and n > 1},
                "refreshes": self.refreshes,
                "contact_reads": self.reads,
                "properties": {t: sorted(p) for t, p in self.properties.items()},
                "config": {k: (sorted(v) if isinstance(v, set) else v) for k, v in self.config.__dict__.items() if k != "tokens"},
            }


def _value_problem(definition: dict, value) -> tuple[str, str] | None:
    """HubSpot validates each value by its property's type; "" (or null) clears the property and is always accepted."""
    if value is None or value == "":
        return None
    text = str(value)
    kind = definition["type"]
    if kind == "number":
        try:
            float(text)
        except ValueError:
            return "INVALID_DECIMAL", f"{text} was not a valid number."
    elif kind in ("datetime", "date"):
        parsed = _parse_when(text)
        if parsed is None:
            return "INVALID_DATE", f"{text} was not a valid date or datetime (epoch milliseconds or ISO 8601)."
        if kind == "date" and (parsed.hour, parsed.minute, parsed.second, parsed.microsecond) != (0, 0, 0, 0):
            return "INVALID_DATE", f"{text} is not midnight UTC, which a date property needs."
    elif kind == "enumeration":
        values = text.split(";") if definition["fieldType"] == "checkbox" else [text]
        bad = [v for v in values if v not in definition["options"]]
        if bad:
            return "INVALID_OPTION", f"{bad[0]} was not one of the allowed options: {definition['options']}"
    elif kind == "bool" and text.lower() not in ("true", "false"):
        return "INVALID_BOOLEAN", f"{text} is not a valid boolean (true or false)."
    elif len(text) > 65536:
        return "INVALID_LENGTH", "value is longer than 65536 characters"
    return None


def _parse_when(text: str):
    from datetime import datetime, timezone

    if text.isdigit():
        try:
            return datetime.fromtimestamp(int(text) / 1000, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(timezone.utc) if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _deal_calculated(deal: dict) -> None:
    """What HubSpot calculates on a deal after a write: its id property and whether its stage is closed / won."""
    props = deal["properties"]
    props["hs_object_id"] = deal["id"]
    closed, won = STAGE_CLOSED.get(props.get("dealstage", ""), ("false", "false"))
    props["hs_is_closed"], props["hs_is_closed_won"] = closed, won


def _apply(stored: dict, props: dict) -> None:
    """Write values; "" (or null) clears a property, as in HubSpot."""
    for key, value in props.items():
        if value is None or value == "":
            stored.pop(key, None)
        else:
            stored[key] = str(value)


def _matches(properties: dict, filters: list, definitions: dict | None = None) -> bool:
    for f in filters:
        name = f.get("propertyName")
        value = properties.get(name)
        operator = f.get("operator")
        definition = (definitions or {}).get(name, {"type": "string"})
        if operator == "EQ" and _sort_key(value, definition) != _sort_key(f.get("value"), definition):
            return False
        if operator == "NEQ" and _sort_key(value, definition) == _sort_key(f.get("value"), definition):
            return False
        if operator == "IN" and value not in [str(v) for v in f.get("values") or []]:
            return False
        if operator == "NOT_IN" and value in [str(v) for v in f.get("values") or []]:
            return False
        if operator == "HAS_PROPERTY" and value in (None, ""):
            return False
        if operator == "NOT_HAS_PROPERTY" and value not in (None, ""):
            return False
        if operator in ("LT", "LTE", "GT", "GTE", "BETWEEN"):
            if value in (None, ""):
                return False
            have, low = _sort_key(value, definition), _sort_key(f.get("value"), definition)
            if (operator == "LT" and not have < low) or (operator == "LTE" and not have <= low) or (
                    operator == "GT" and not have > low) or (operator == "GTE" and not have >= low):
                return False
            if operator == "BETWEEN" and not low <= have <= _sort_key(f.get("highValue"), definition):
                return False
    return True


def _sort_key(value, definition: dict):
    """Datetimes compare as instants (epoch ms or ISO), numbers as numbers, the rest as text."""
    if value in (None, ""):
        return (0, 0)
    if definition["type"] in ("datetime", "date"):
        parsed = _parse_when(str(value))
        return (1, parsed.timestamp() if parsed else 0)
    if definition["type"] == "number":
        try:
            return (1, float(value))
        except ValueError:
            return (1, 0)
    return (1, str(value))


def _deal_out(deal: dict, wanted: list) -> dict:
    """SimplePublicObject: the default properties plus those asked for."""
    names = {"createdate", "hs_lastmodifieddate", "hs_object_id", *wanted}
    props = {n: deal["properties"].get(n) for n in names}
    out = {"id": deal["id"], "properties": props, "archived": bool(deal.get("archived")),
           "createdAt": deal["properties"].get("createdate"), "updatedAt": deal["properties"].get("hs_lastmodifieddate")}
    if deal.get("archived"):
        out["archivedAt"] = deal.get("archivedAt")
    return out


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def _batch_read_problem(body: dict):
    """What every CRM batch read refuses: inputs (≤ 100), properties and propertiesWithHistory are required."""
    inputs = body.get("inputs")
    if not isinstance(inputs, list):
        return 400, _error("VALIDATION_ERROR", "Invalid input JSON: 'inputs' is required")
    if len(inputs) > 100:
        return 400, TOO_MANY_INPUTS()
    missing = [f for f in ("properties", "propertiesWithHistory") if not isinstance(body.get(f), list)]
    if missing:
        return 400, _validation_error([{"message": f"{f} is required", "code": "REQUIRED_FIELD", "in": f} for f in missing])
    return None


def _batch_read_answer(found: list, missing: list, kind: str) -> tuple[int, dict]:
    payload = {"status": "COMPLETE", "results": found, "startedAt": _now(), "completedAt": _now()}
    if missing:
        payload.update(numErrors=1, errors=[{**_error("OBJECT_NOT_FOUND", f"Could not get some {kind} objects, they may be "
                                                                          "deleted or not exist."), "context": {"ids": missing}}])
        return 207, payload
    return 200, payload


def TOO_MANY_INPUTS() -> dict:  # noqa: N802 - HubSpot's exact batch-size error
    return _error("VALIDATION_ERROR", "The maximum number of inputs supported in a batch is 100. "
                                      "Please reduce the number of items and try again")


def _error(category: str, message: str) -> dict:
    return {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category}


def _validation_error(details: list[dict]) -> dict:
    """HubSpot's whole-request validation error: the message embeds the per-property results, `errors` lists them."""
    details = [{**d, "context": d.get("context") or ({"field": [d["in"]]} if d.get("in") else {})} for d in details]
    summary = ",".join(json.dumps({"isValid": False, "message": d["message"], "error": d.get("code", "INVALID_INPUT"),
                                   "name": d.get("in", "")}) for d in details)
    return {**_error("VALIDATION_ERROR", f"Property values were not valid: [{summary}]"), "errors": details}


D = API
ROUTES = [
    ("POST", rf"/crm/objects/{D}/contacts/batch/upsert", lambda f, m, b: f.contacts_upsert(b)),
    ("POST", rf"/crm/objects/{D}/contacts/batch/read", lambda f, m, b: f.contacts_read(b)),
    ("POST", rf"/crm/objects/{D}/deals/batch/update", lambda f, m, b: f.deals_update(b)),
    ("POST", rf"/crm/objects/{D}/contacts/gdpr-delete", lambda f, m, b: f.contact_gdpr_delete(b)),
    ("POST", rf"/crm/objects/{D}/meetings/batch/create", lambda f, m, b: f.meetings_create(b)),
    ("POST", rf"/crm/objects/{D}/meetings/batch/update", lambda f, m, b: f.meetings_update(b)),
    ("POST", rf"/crm/objects/{D}/meetings/search", lambda f, m, b: f.meetings_search(b)),
    ("DELETE", rf"/crm/objects/{D}/meetings/(\d+)", lambda f, m, b: f.meetings_delete(m[1])),
    ("POST", rf"/crm/properties/{D}/(\w+)/groups", lambda f, m, b: f.group_create(m[1], b)),
    ("POST", rf"/crm/properties/{D}/(\w+)", lambda f, m, b: f.property_create(m[1], b)),
    ("GET", rf"/crm/properties/{D}/(\w+)", lambda f, m, b: f.properties_list(m[1])),
    ("GET", rf"/crm/pipelines/{D}/deals", lambda f, m, b: f.pipelines()),
    ("POST", rf"/crm/objects/{D}/deals", lambda f, m, b: f.deal_create(b)),
    ("PATCH", rf"/crm/objects/{D}/deals/(\d+)", lambda f, m, b: f.deal_update(m[1], b)),
    ("POST", rf"/crm/objects/{D}/deals/batch/read", lambda f, m, b: f.deals_read(b)),
    ("POST", rf"/crm/associations/{D}/(\w+)/(\w+)/batch/read", lambda f, m, b: f.associations_read(m[1], m[2], b)),
    ("GET", rf"/account-info/{D}/details", lambda f, m, b: f.account_details()),
    ("POST", rf"/crm/objects/{D}/deals/search", lambda f, m, b: f.deals_search(b)),
    ("GET", rf"/settings/currencies/{D}/company-currency", lambda f, m, b: f.company_currency()),
]
# Routes that read the query string: (method, pattern, handler(fake, match, query)).
QUERY_ROUTES = [
    ("GET", rf"/crm/objects/{D}/deals", lambda f, m, q: f.deals_list(q)),
    ("GET", rf"/crm/owners/{D}", lambda f, m, q: f.owners_list(q)),
    ("GET", rf"/settings/currencies/{D}/exchange-rates", lambda f, m, q: f.exchange_rates(q)),
]


def make_handler(fake: FakeHubSpot):
    class Handler(JsonHandler):
        def _send(self, status: int, payload, headers: dict | None = None):
            self.send_json(status, payload, headers)

        def _body(self):
            return self.read_body()

        def do_GET(self):
            self._dispatch("GET")

        def do_POST(self):
            self._dispatch("POST")

        def do_PATCH(self):
            self._dispatch("PATCH")

        def do_DELETE(self):
            self._dispatch("DELETE")

        def _dispatch(self, method: str):
            path = urlsplit(self.path).path  # routing ignores the query string, as HubSpot's does
            raw = self._body()
            cfg = fake.config
            if path.startswith("/__fake__/"):
                return self._control(method, path, raw)
            if path.startswith(RETIRED_PREFIXES):
                with fake.lock:
                    fake.requests[f"{method} {path} 404 retired"] += 1
                return self._send(404, _error("NOT_FOUND", f"{path} is a retired API version in this fake: use the "
                                                           f"date-versioned {API} path"))
            if path.startswith(f"/oauth/{API}/token") and method == "POST":
                # OAuth parameters travel in a form body, never the query string (and never JSON).
                if not (self.headers.get("Content-Type") or "").startswith("application/x-www-form-urlencoded"):
                    return self._send(400, _error("VALIDATION_ERROR", "expected application/x-www-form-urlencoded"))
                form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                if path == f"/oauth/{API}/token":
                    status, payload = fake.token(form)
                elif path == f"/oauth/{API}/token/introspect":
                    status, payload = fake.token_introspect(form)
                else:
                    status, payload = 404, _error("NOT_FOUND", f"No route for {method} {path}")
                return self._send(status, payload)
            if cfg.latency_ms:
                time.sleep(cfg.latency_ms / 1000)
            if cfg.down:
                return self._send(503, _error("SERVICE_UNAVAILABLE", "HubSpot is down (fake)"))
            auth = self.headers.get("Authorization", "")
            token = auth[7:] if auth.startswith("Bearer ") else None
            if not fake.authorized(token):
                return self._send(401, {"status": "error", "message": "Authentication credentials not found. This API "
                                        "supports OAuth 2.0 authentication and you can find more details at "
                                        "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                                        "correlationId": str(uuid.uuid4()), "category": "INVALID_AUTHENTICATION"})
            policy, remaining = fake.take_budget()
            limit_headers = {"X-HubSpot-RateLimit-Max": cfg.rate_limit, "X-HubSpot-RateLimit-Remaining": remaining,
                             "X-HubSpot-RateLimit-Interval-Milliseconds": int(cfg.window_seconds * 1000),
                             "X-HubSpot-RateLimit-Daily": cfg.daily_limit or 250000,
                             "X-HubSpot-RateLimit-Daily-Remaining": max(0, (cfg.daily_limit or 250000) - fake.daily_used)}
            with fake.lock:
                roll = fake.random.random()
            if policy == "DAILY":
                with fake.lock:
                    fake.requests[f"{method} {path} 429 DAILY"] += 1
                return self._send(429, {"status": "error", "message": "You have reached your daily limit.",
                                        "errorType": "RATE_LIMIT", "correlationId": str(uuid.uuid4()), "policyName": "DAILY"},
                                  {**limit_headers, "X-HubSpot-RateLimit-Daily-Remaining": 0})
            if not policy and method == "POST" and path.endswith("/search") and not fake.search_budget():
                with fake.lock:
                    fake.requests[f"{method} {path} 429 SECONDLY"] += 1
                return self._send(429, {"status": "error", "message": "You have reached your secondly limit.",
                                        "errorType": "RATE_LIMIT", "correlationId": str(uuid.uuid4()), "policyName": "SECONDLY"},
                                  {"Retry-After": 1})
            if policy or roll < cfg.rate_429:
                with fake.lock:
                    fake.requests[f"{method} {path} 429"] += 1
                    if not policy:
                        fake.throttled += 1
                return self._send(429, {"status": "error", "message": "You have reached your ten_secondly_rolling limit.",
                                        "errorType": "RATE_LIMIT", "correlationId": str(uuid.uuid4()),
                                        "policyName": "TEN_SECONDLY_ROLLING"}, {**limit_headers, "X-HubSpot-RateLimit-Remaining": 0})
            if roll < cfg.rate_429 + cfg.fail_rate:
                status = fake.random.choice([500, 502, 503])
                with fake.lock:
                    fake.requests[f"{method} {path} {status}"] += 1
                return self._send(status, _error("INTERNAL_ERROR", "internal error (fake fault)"), limit_headers)
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                return self._send(400, _error("VALIDATION_ERROR", "Invalid input JSON on line 1"), limit_headers)
            if not isinstance(body, dict):
                return self._send(400, _error("VALIDATION_ERROR", "Invalid input JSON: expected an object"), limit_headers)
            query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            for route_method, pattern, handler in QUERY_ROUTES:
                match = re.fullmatch(pattern, path)
                if route_method == method and match:
                    status, payload = handler(fake, match, query)
                    with fake.lock:
                        fake.requests[f"{method} {pattern} {status}"] += 1
                    return self._send(status, payload, limit_headers)
            for route_method, pattern, handler in ROUTES:
                match = re.fullmatch(pattern, path)
                if route_method == method and match:
                    status, payload = handler(fake, match, body)
                    with fake.lock:
                        fake.requests[f"{method} {pattern} {status}"] += 1
                    targeted = not cfg.timeout_paths or any(p in path for p in cfg.timeout_paths)
                    if targeted and roll < cfg.rate_429 + cfg.fail_rate + cfg.timeout_rate:
                        time.sleep(cfg.timeout_sleep)  # applied, but the client gives up first: ambiguous
                    return self._send(status, payload, limit_headers)
            return self._send(404, _error("NOT_FOUND", f"No route for {method} {path}"))

        def _control(self, method, path, raw):
            if path == "/__fake__/state":
                return self._send(200, fake.state())
            if path == "/__fake__/reset" and method == "POST":
                fake.reset()
                return self._send(200, {"ok": True})
            if path == "/__fake__/config" and method == "POST":
                changes = json.loads(raw or b"{}")
                with fake.lock:
                    for key, value in changes.items():
                        if hasattr(fake.config, key):
                            setattr(fake.config, key, set(value) if key == "tokens" else value)
                    if "daily_limit" in changes:
                        fake.daily_used = 0
                    if "expire_access_tokens" in changes:
                        fake.access_tokens = {t: 0 for t in fake.access_tokens}
                    if "auth_codes" in changes:
                        fake.auth_codes = set(changes["auth_codes"])
                return self._send(200, {"ok": True})
            return self._send(404, {"message": "unknown control path"})

    return Handler


class FakeHubSpotServer(FakeServer):
    """Run the fake on a port in a background thread (tests) or in the foreground (the command)."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, config: FakeConfig | None = None,
                 preset_properties: bool = False):
        self.fake = FakeHubSpot(config, preset_properties=preset_properties)
        super().__init__(make_handler(self.fake), host=host, port=port)
