"""A contract-faithful fake HubSpot (reference/hubspot.md), in memory, stdlib only.

Used by tests, `make run` and benchmarks. Faults on demand: error rate, extra 429s, ambiguous
timeouts (the write is applied, the answer comes too late), latency, full outage.
Inspect with GET /__fake__/state; reconfigure with POST /__fake__/config; POST /__fake__/reset.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field

from project.fakes import FakeServer, JsonHandler
from urllib.parse import parse_qs, urlsplit

DEFAULT_CONTACT_PROPERTIES = {"email", "firstname", "lastname", "phone", "company", "website", "lifecyclestage"}
DEFAULT_MEETING_PROPERTIES = {
    "hs_timestamp", "hs_meeting_title", "hs_meeting_body", "hs_meeting_start_time", "hs_meeting_end_time",
    "hs_meeting_outcome", "hs_meeting_location", "hs_meeting_external_url", "hubspot_owner_id", "hs_internal_meeting_notes",
}
DEFAULT_DEAL_PROPERTIES = {"dealname", "dealstage", "pipeline", "amount", "closedate"}
SOURCEBOOK_CONTACT_PROPERTIES = {
    "sourcebook_last_utm_source", "sourcebook_last_utm_medium", "sourcebook_last_utm_campaign", "sourcebook_last_utm_content",
    "sourcebook_last_utm_term", "sourcebook_last_channel", "sourcebook_first_utm_source", "sourcebook_first_utm_medium",
    "sourcebook_first_utm_campaign", "sourcebook_first_channel", "sourcebook_self_reported_source",
    "sourcebook_last_booking_at", "sourcebook_bookings_count",
}
OUTCOMES = {"SCHEDULED", "COMPLETED", "RESCHEDULED", "NO_SHOW", "CANCELED"}
STAGES = ["appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "decisionmakerboughtin", "contractsent",
          "closedwon", "closedlost"]
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class FakeConfig:
    tokens: set = field(default_factory=lambda: {"fake-token"})
    rate_limit: int = 100
    window_seconds: float = 10.0
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
            self.deals: dict[str, dict] = {}
            self.next_id = 1000
            self.properties = {"contacts": set(DEFAULT_CONTACT_PROPERTIES), "meetings": set(DEFAULT_MEETING_PROPERTIES),
                               "deals": set(DEFAULT_DEAL_PROPERTIES)}
            self.groups = {"contacts": {"contactinformation"}, "meetings": set(), "deals": {"dealinformation"}}
            if self.preset:
                self.properties["contacts"] |= SOURCEBOOK_CONTACT_PROPERTIES
                self.properties["meetings"].add("sourcebook_booking_uri")
                self.groups["contacts"].add("sourcebook")
                self.groups["meetings"].add("sourcebook")
            self.window: deque = deque()
            self.requests: Counter = Counter()
            self.throttled = 0
            self.access_tokens: dict[str, float] = {}  # oauth access token -> expiry
            self.refresh_tokens: set = {"fake-refresh-0"}
            self.used_refresh_tokens: set = set()
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

    def take_budget(self) -> tuple[bool, int]:
        now = time.monotonic()
        with self.lock:
            while self.window and self.window[0] <= now - self.config.window_seconds:
                self.window.popleft()
            if len(self.window) >= self.config.rate_limit:
                self.throttled += 1
                return False, 0
            self.window.append(now)
            return True, self.config.rate_limit - len(self.window)

    # --- contacts ----------------------------------------------------------------------------------
    def contacts_upsert(self, body: dict) -> tuple[int, dict]:
        inputs = body.get("inputs")
        if not isinstance(inputs, list):
            return 400, _error("VALIDATION_ERROR", "Invalid input JSON: 'inputs' is required")
        if len(inputs) > 100:
            return 400, TOO_MANY_INPUTS()
        results, errors = [], []
        with self.lock:
            for item in inputs:
                email = str(item.get("id") or "").strip().lower()
                props = item.get("properties") or {}
                if item.get("idProperty") != "email" or not email or not EMAIL_RE.match(email):
                    errors.append({**_error("VALIDATION_ERROR", f"Property values were not valid: "
                                            f"[{{\"isValid\":false,\"message\":\"Email address {email} is invalid\","
                                            f"\"error\":\"INVALID_EMAIL\",\"name\":\"email\"}}]"),
                                   "context": {"ids": [email]}})
                    continue
                unknown = sorted(p for p in props if p not in self.properties["contacts"])
                if unknown:
                    details = ",".join(f"{{\"isValid\":false,\"message\":\"Property \\\"{p}\\\" does not exist\","
                                       f"\"error\":\"PROPERTY_DOESNT_EXIST\",\"name\":\"{p}\"}}" for p in unknown)
                    errors.append({**_error("VALIDATION_ERROR", f"Property values were not valid: [{details}]"),
                                   "context": {"ids": [email], "propertyName": unknown}})
                    continue
                existing = self.contacts.get(email)
                new = existing is None
                if new:
                    existing = self.contacts[email] = {"id": self._id(), "properties": {"email": email}}
                existing["properties"].update({k: ("" if v is None else str(v)) for k, v in props.items()})
                results.append({"id": existing["id"], "new": new, "properties": dict(existing["properties"]),
                                "createdAt": _now(), "updatedAt": _now()})
        payload = {"status": "COMPLETE", "results": results, "requestedAt": _now(), "startedAt": _now(), "completedAt": _now()}
        if errors:
            payload.update(numErrors=len(errors), errors=errors)
            return 207, payload
        return 200, payload

    # --- meetings ----------------------------------------------------------------------------------
    def _meeting_errors(self, props: dict, *, creating: bool) -> str | None:
        unknown = [p for p in props if p not in self.properties["meetings"]]
        if unknown:
            return f"Property \"{unknown[0]}\" does not exist"
        if creating and not props.get("hs_timestamp"):
            return "hs_timestamp is required"
        outcome = props.get("hs_meeting_outcome")
        if outcome is not None and outcome not in OUTCOMES:
            return f"{outcome} was not one of the allowed options: {sorted(OUTCOMES)}"
        return None

    def meetings_create(self, body: dict) -> tuple[int, dict]:
        inputs = body.get("inputs") or []
        if len(inputs) > 100:
            return 400, TOO_MANY_INPUTS()
        results, errors = [], []
        with self.lock:
            known_ids = {c["id"] for c in self.contacts.values()}  # once per request: per input it was quadratic
            for item in inputs:
                props = item.get("properties") or {}
                problem = self._meeting_errors(props, creating=True)
                contacts = [str(a.get("to", {}).get("id")) for a in item.get("associations") or []]
                if not problem and any(c not in known_ids for c in contacts):
                    problem = "association target does not exist"
                if problem:
                    errors.append({**_error("VALIDATION_ERROR", problem),
                                   "context": {"objectWriteTraceId": [item.get("objectWriteTraceId")]}})
                    continue
                meeting = {"id": self._id(), "properties": {k: str(v) for k, v in props.items()}, "contacts": contacts}
                self.meetings[meeting["id"]] = meeting
                results.append({"id": meeting["id"], "properties": dict(meeting["properties"]),
                                "objectWriteTraceId": item.get("objectWriteTraceId"), "createdAt": _now()})
        payload = {"status": "COMPLETE", "results": results}
        if errors:
            payload.update(numErrors=len(errors), errors=errors)
            return 207, payload
        return 201, payload

    def meetings_update(self, body: dict) -> tuple[int, dict]:
        inputs = body.get("inputs") or []
        if len(inputs) > 100:
            return 400, TOO_MANY_INPUTS()
        results, errors = [], []
        with self.lock:
            for item in inputs:
                meeting = self.meetings.get(str(item.get("id")))
                props = item.get("properties") or {}
                problem = "Object not found" if meeting is None else self._meeting_errors(props, creating=False)
                if problem:
                    errors.append({**_error("VALIDATION_ERROR" if meeting else "OBJECT_NOT_FOUND", problem),
                                   "context": {"ids": [str(item.get("id"))]}})
                    continue
                meeting["properties"].update({k: str(v) for k, v in props.items()})
                results.append({"id": meeting["id"], "properties": dict(meeting["properties"]), "updatedAt": _now()})
        payload = {"status": "COMPLETE", "results": results}
        if errors:
            payload.update(numErrors=len(errors), errors=errors)
            return 207, payload
        return 200, payload

    def meetings_search(self, body: dict) -> tuple[int, dict]:
        filters = [f for g in body.get("filterGroups") or [] for f in g.get("filters") or []]
        with self.lock:
            found = []
            for meeting in self.meetings.values():
                ok = True
                for f in filters:
                    value = meeting["properties"].get(f.get("propertyName"))
                    if f.get("operator") == "EQ":
                        ok &= value == f.get("value")
                    elif f.get("operator") == "IN":
                        ok &= value in (f.get("values") or [])
                if ok:
                    found.append({"id": meeting["id"], "properties": dict(meeting["properties"])})
        return 200, {"total": len(found), "results": found[: body.get("limit", 100)]}

    # --- properties, pipelines, deals ----------------------------------------------------------
    def group_create(self, object_type: str, body: dict) -> tuple[int, dict]:
        with self.lock:
            groups = self.groups.setdefault(object_type, set())
            if body.get("name") in groups:
                return 409, _error("CONFLICT", f"A property group named '{body.get('name')}' already exists.")
            groups.add(body.get("name"))
        return 201, {"name": body.get("name"), "label": body.get("label"), "displayOrder": body.get("displayOrder", -1)}

    def property_create(self, object_type: str, body: dict) -> tuple[int, dict]:
        name = body.get("name") or ""
        if not re.match(r"^[a-z][a-z0-9_]*$", name):
            return 400, _error("VALIDATION_ERROR", f"Property name {name!r} is invalid")
        valid = {("string", "text"), ("string", "textarea"), ("number", "number"), ("bool", "booleancheckbox"),
                 ("datetime", "date"), ("date", "date"), ("enumeration", "select"), ("enumeration", "radio"),
                 ("enumeration", "checkbox")}
        if (body.get("type"), body.get("fieldType")) not in valid:
            return 400, _error("VALIDATION_ERROR", f"Invalid type/fieldType {body.get('type')}/{body.get('fieldType')}")
        with self.lock:
            if body.get("groupName") not in self.groups.setdefault(object_type, set()):
                return 400, _error("VALIDATION_ERROR", f"Property group {body.get('groupName')} does not exist")
            props = self.properties.setdefault(object_type, set())
            if name in props:
                return 409, _error("CONFLICT", f"Property named '{name}' already exists.")
            props.add(name)
        return 201, {**body, "createdAt": _now()}

    def properties_list(self, object_type: str) -> tuple[int, dict]:
        return 200, {"results": [{"name": p} for p in sorted(self.properties.get(object_type, set()))]}

    def pipelines(self) -> tuple[int, dict]:
        stages = [{"id": s, "label": s, "displayOrder": i, "metadata": {"isClosed": str(s.startswith("closed")).lower()}}
                  for i, s in enumerate(STAGES)]
        return 200, {"results": [{"id": "default", "label": "Sales Pipeline", "displayOrder": 0, "stages": stages}]}

    def deal_create(self, body: dict) -> tuple[int, dict]:
        props = body.get("properties") or {}
        if props.get("dealstage") not in STAGES:
            return 400, _error("VALIDATION_ERROR", f"{props.get('dealstage')} is not a valid stage")
        with self.lock:
            deal = {"id": self._id(), "properties": {k: str(v) for k, v in props.items()},
                    "contacts": [str(a.get("to", {}).get("id")) for a in body.get("associations") or []]}
            self.deals[deal["id"]] = deal
        return 201, {"id": deal["id"], "properties": dict(deal["properties"])}

    def deal_update(self, deal_id: str, body: dict) -> tuple[int, dict]:
        with self.lock:
            deal = self.deals.get(deal_id)
            if deal is None:
                return 404, _error("OBJECT_NOT_FOUND", "Object not found")
            deal["properties"].update({k: str(v) for k, v in (body.get("properties") or {}).items()})
        return 200, {"id": deal_id, "properties": dict(deal["properties"])}

    def contact_deals(self, contact_id: str) -> tuple[int, dict]:
        with self.lock:
            links = [{"toObjectId": int(d["id"]), "associationTypes": []} for d in self.deals.values() if contact_id in d["contacts"]]
        return 200, {"results": links}

    def deals_read(self, body: dict) -> tuple[int, dict]:
        with self.lock:
            found = [{"id": d["id"], "properties": dict(d["properties"])}
                     for i in body.get("inputs") or [] if (d := self.deals.get(str(i.get("id"))))]
        return 200, {"status": "COMPLETE", "results": found}

    # --- oauth -------------------------------------------------------------------------------------
    def token_refresh(self, form: dict) -> tuple[int, dict]:
        with self.lock:
            token = form.get("refresh_token", "")
            if (form.get("grant_type") != "refresh_token" or form.get("client_id") != self.config.client_id
                    or form.get("client_secret") != self.config.client_secret or token not in self.refresh_tokens):
                return 400, {"error": "invalid_grant", "error_description": "refresh token is invalid, expired or revoked",
                             "status": "BAD_REFRESH_TOKEN", "message": "refresh token is invalid, expired or revoked"}
            self.refresh_tokens.discard(token)
            self.used_refresh_tokens.add(token)
            self.refreshes += 1
            new_refresh = f"fake-refresh-{self.refreshes}"
            self.refresh_tokens.add(new_refresh)
            access = f"fake-access-{uuid.uuid4().hex[:12]}"
            self.access_tokens[access] = time.time() + self.config.access_token_ttl
        return 200, {"token_type": "bearer", "access_token": access, "refresh_token": new_refresh,
                     "expires_in": self.config.access_token_ttl}

    def token_info(self, token: str) -> tuple[int, dict]:
        if not self.authorized(token):
            return 404, _error("NOT_FOUND", "token not found")
        return 200, {"token": "(hidden)", "hub_id": 4242, "app_id": 1, "token_type": "access",
                     "scopes": ["crm.objects.contacts.read", "crm.objects.contacts.write", "crm.schemas.contacts.write",
                                "crm.objects.deals.read", "crm.objects.deals.write"]}

    # --- inspection ----------------------------------------------------------------------------
    def state(self) -> dict:
        with self.lock:
            per_booking = Counter(m["properties"].get("sourcebook_booking_uri") for m in self.meetings.values())
            return {
                "contacts": {e: c["properties"] | {"id": c["id"]} for e, c in self.contacts.items()},
                "meetings": [m | {"properties": dict(m["properties"])} for m in self.meetings.values()],
                "deals": list(self.deals.values()),
                "requests": dict(self.requests),
                "throttled": self.throttled,
                "duplicate_meetings": {uri: n for uri, n in per_booking.items() if uri and n > 1},
                "refreshes": self.refreshes,
                "config": {k: (sorted(v) if isinstance(v, set) else v) for k, v in self.config.__dict__.items() if k != "tokens"},
            }


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def TOO_MANY_INPUTS() -> dict:  # noqa: N802 - HubSpot's exact batch-size error
    return _error("VALIDATION_ERROR", "The maximum number of inputs supported in a batch is 100. "
                                      "Please reduce the number of items and try again")


def _error(category: str, message: str) -> dict:
    return {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category}


ROUTES = [
    ("POST", r"/crm/v3/objects/contacts/batch/upsert", lambda f, m, b: f.contacts_upsert(b)),
    ("POST", r"/crm/v3/objects/meetings/batch/create", lambda f, m, b: f.meetings_create(b)),
    ("POST", r"/crm/v3/objects/meetings/batch/update", lambda f, m, b: f.meetings_update(b)),
    ("POST", r"/crm/v3/objects/meetings/search", lambda f, m, b: f.meetings_search(b)),
    ("POST", r"/crm/v3/properties/(\w+)/groups", lambda f, m, b: f.group_create(m[1], b)),
    ("POST", r"/crm/v3/properties/(\w+)", lambda f, m, b: f.property_create(m[1], b)),
    ("GET", r"/crm/v3/properties/(\w+)", lambda f, m, b: f.properties_list(m[1])),
    ("GET", r"/crm/v3/pipelines/deals", lambda f, m, b: f.pipelines()),
    ("POST", r"/crm/v3/objects/deals", lambda f, m, b: f.deal_create(b)),
    ("PATCH", r"/crm/v3/objects/deals/(\d+)", lambda f, m, b: f.deal_update(m[1], b)),
    ("POST", r"/crm/v3/objects/deals/batch/read", lambda f, m, b: f.deals_read(b)),
    ("GET", r"/crm/v4/objects/contacts/(\d+)/associations/deals", lambda f, m, b: f.contact_deals(m[1])),
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

        def _dispatch(self, method: str):
            path = urlsplit(self.path).path
            raw = self._body()
            cfg = fake.config
            if path.startswith("/__fake__/"):
                return self._control(method, path, raw)
            if path == "/oauth/v1/token" and method == "POST":
                form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                status, payload = fake.token_refresh(form)
                return self._send(status, payload)
            if path.startswith("/oauth/v1/access-tokens/"):
                status, payload = fake.token_info(path.rsplit("/", 1)[-1])
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
            allowed, remaining = fake.take_budget()
            limit_headers = {"X-HubSpot-RateLimit-Max": cfg.rate_limit, "X-HubSpot-RateLimit-Remaining": remaining,
                             "X-HubSpot-RateLimit-Interval-Milliseconds": int(cfg.window_seconds * 1000),
                             "X-HubSpot-RateLimit-Daily": 250000, "X-HubSpot-RateLimit-Daily-Remaining": 249000}
            with fake.lock:
                roll = fake.random.random()
            if not allowed or roll < cfg.rate_429:
                with fake.lock:
                    fake.requests[f"{method} {path} 429"] += 1
                    if allowed:
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
                    if "expire_access_tokens" in changes:
                        fake.access_tokens = {t: 0 for t in fake.access_tokens}
                return self._send(200, {"ok": True})
            return self._send(404, {"message": "unknown control path"})

    return Handler


class FakeHubSpotServer(FakeServer):
    """Run the fake on a port in a background thread (tests) or in the foreground (the command)."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, config: FakeConfig | None = None,
                 preset_properties: bool = False):
        self.fake = FakeHubSpot(config, preset_properties=preset_properties)
        super().__init__(make_handler(self.fake), host=host, port=port)
