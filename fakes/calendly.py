"""A fake Calendly API, as strict as Calendly's API reference: users, scheduled events (list and get),
invitees (list and get) with tracking, webhook subscriptions (list needs `organization` and `scope`,
plus `user`/`group` for those scopes, and returns only that scope; create validates `events`; 409 on
a duplicate URL; a `disabled` state), cursor pagination with `count` ≤ 100, 400s in Calendly's error
shape, and a per-minute rate limit answered with 429 and X-RateLimit-* headers. Stdlib only, in memory.
Control: GET /__fake__/state, POST /__fake__/config, POST /__fake__/disable_subscriptions.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

from fakes.http import FakeServer, JsonHandler

API = "https://api.calendly.com"
SOURCES = [{}, {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "brand_202611"},
           {"utm_source": "linkedin", "utm_medium": "paid_social", "utm_campaign": "launch_202611"},
           {"utm_source": "newsletter", "utm_medium": "email"}, {"utm_source": "chatgpt.com", "utm_medium": "referral"}]


# Calendly's webhook event names and the subscription scopes each allows (Create Webhook Subscription).
WEBHOOK_EVENT_SCOPES = {
    "invitee.created": {"organization", "user", "group"},
    "invitee.canceled": {"organization", "user", "group"},
    "invitee_no_show.created": {"organization", "user", "group"},
    "invitee_no_show.deleted": {"organization", "user", "group"},
    "event_type.created": {"organization", "user", "group"},
    "event_type.updated": {"organization", "user", "group"},
    "event_type.deleted": {"organization", "user", "group"},
    "routing_form_submission.created": {"organization"},
}
SCOPES = ("organization", "user", "group")
NOT_FOUND = {"title": "Resource Not Found", "message": "The server could not find the requested resource."}


class Invalid(Exception):
    """A 400 in Calendly's shape: {"title": "Invalid Argument", "message": ..., "details": [{parameter, message}]}."""

    def __init__(self, parameter: str, message: str):
        super().__init__(message)
        self.parameter, self.message = parameter, message

    def body(self) -> dict:
        return {"title": "Invalid Argument", "message": "The supplied parameters are invalid.",
                "details": [{"parameter": self.parameter, "message": self.message}]}


def _one(query: dict, name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _choice(query: dict, name: str, allowed) -> str | None:
    value = _one(query, name)
    if value is not None and value not in allowed:
        raise Invalid(name, f"must be one of {', '.join(allowed)}")
    return value


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FakeCalendly:
    def __init__(self, *, events: int = 200, invitees_per_event: int = 1, rate_limit: int = 500, window_seconds: float = 60.0,
                 token: str = "fake-calendly-token", seed: int = 1):
        self.lock = threading.RLock()
        self.token, self.rate_limit, self.window_seconds = token, rate_limit, window_seconds
        self.window_start, self.window_count = time.monotonic(), 0
        self.calls, self.throttled = 0, 0
        self.org, self.user = f"{API}/organizations/ORG1", f"{API}/users/U1"
        self.subscriptions: dict[str, dict] = {}
        self.events: list[dict] = []
        self.invitees: dict[str, list[dict]] = {}
        rng = random.Random(seed)
        now = datetime.now(timezone.utc).replace(microsecond=0)
        for i in range(events):
            ev_id = f"FEV{i:07d}"
            start = now - timedelta(days=60) + timedelta(minutes=int(i * 90 * 24 * 60 / max(events, 1)))
            created = start - timedelta(days=rng.randint(1, 10))
            ev_uri = f"{API}/scheduled_events/{ev_id}"
            canceled = rng.random() < 0.1
            event = {"uri": ev_uri, "name": rng.choice(["Product demo", "Intro call"]), "status": "canceled" if canceled else "active",
                     "start_time": _iso(start), "end_time": _iso(start + timedelta(minutes=30)),
                     "event_type": f"{API}/event_types/ET1", "created_at": _iso(created), "updated_at": _iso(created),
                     "event_memberships": [{"user": self.user}], "invitees_counter": {"total": invitees_per_event}}
            self.events.append(event)
            self.invitees[ev_id] = [{
                "uri": f"{ev_uri}/invitees/FINV{i:07d}{k}", "email": f"fake{i}-{k}@example.com", "name": f"Fake Person {i}",
                "status": event["status"], "timezone": "UTC", "event": ev_uri, "created_at": _iso(created),
                "updated_at": _iso(created + timedelta(hours=1) if canceled else created), "rescheduled": False,
                "old_invitee": None, "new_invitee": None, "no_show": None,
                "questions_and_answers": [{"question": "How did you hear about us?", "answer": rng.choice(["ChatGPT", "A friend", ""]), "position": 0}],
                "tracking": {"utm_campaign": None, "utm_source": None, "utm_medium": None, "utm_content": None, "utm_term": None,
                             "salesforce_uuid": None, **rng.choice(SOURCES)},
                "cancellation": {"canceled_by": "Fake Person", "reason": "", "canceler_type": "invitee",
                                 "created_at": _iso(created + timedelta(hours=1))} if canceled else None,
            } for k in range(invitees_per_event)]

    def budget(self) -> tuple[bool, int, int]:
        """Calendly's limit is per user per minute: a fixed window whose reset the headers announce."""
        now = time.monotonic()
        with self.lock:
            if now - self.window_start >= self.window_seconds:
                self.window_start, self.window_count = now, 0
            reset = max(1, int(self.window_start + self.window_seconds - now + 0.999))
            if self.window_count >= self.rate_limit:
                self.throttled += 1
                return False, 0, reset
            self.window_count += 1
            self.calls += 1
            return True, self.rate_limit - self.window_count, reset

    @staticmethod
    def page(items: list, query: dict) -> dict:
        """Calendly's pagination: `count` 1..100 (default 20), else 400; an unknown page_token is a 400 too."""
        try:
            count = int(_one(query, "count") or 20)
        except ValueError:
            raise Invalid("count", "must be an integer") from None
        if not 1 <= count <= 100:
            raise Invalid("count", "must be between 1 and 100")
        try:
            start = int(_one(query, "page_token") or 0)
        except ValueError:
            raise Invalid("page_token", "is invalid") from None
        chunk = items[start:start + count]
        nxt = str(start + count) if start + count < len(items) else None
        return {"collection": chunk, "pagination": {"count": len(chunk), "next_page_token": nxt, "previous_page_token": None,
                                                     "next_page": None, "previous_page": None}}

    def handle(self, method: str, path: str, query: dict, body: dict) -> tuple[int, dict]:
        try:
            return self._handle(method, path, query, body)
        except Invalid as exc:
            return 400, exc.body()

    def _handle(self, method: str, path: str, query: dict, body: dict) -> tuple[int, dict]:
        parts = [p for p in path.split("/") if p]
        if path == "/users/me":
            return 200, {"resource": {"uri": self.user, "current_organization": self.org, "name": "Host"}}
        if parts == ["scheduled_events"] and method == "GET":
            if not any(_one(query, k) for k in ("organization", "user", "group")):
                raise Invalid("organization", "one of organization, user or group is required")
            status = _choice(query, "status", ("active", "canceled"))
            sort = _choice(query, "sort", ("start_time:asc", "start_time:desc"))
            items = self.events
            if status:
                items = [e for e in items if e["status"] == status]
            if _one(query, "min_start_time"):
                items = [e for e in items if e["start_time"] >= _one(query, "min_start_time")]
            if _one(query, "max_start_time"):
                items = [e for e in items if e["start_time"] < _one(query, "max_start_time")]
            return 200, self.page(sorted(items, key=lambda e: e["start_time"], reverse=sort == "start_time:desc"), query)
        if len(parts) == 2 and parts[0] == "scheduled_events" and method == "GET":
            event = next((e for e in self.events if e["uri"].rsplit("/", 1)[-1] == parts[1]), None)
            return (200, {"resource": event}) if event else (404, NOT_FOUND)
        if len(parts) == 3 and parts[0] == "scheduled_events" and parts[2] == "invitees" and method == "GET":
            if parts[1] not in self.invitees:
                return 404, NOT_FOUND
            status = _choice(query, "status", ("active", "canceled"))
            sort = _choice(query, "sort", ("created_at:asc", "created_at:desc"))
            items = [i for i in self.invitees[parts[1]] if not status or i["status"] == status]
            return 200, self.page(sorted(items, key=lambda i: i["created_at"], reverse=sort == "created_at:desc"), query)
        if len(parts) == 4 and parts[0] == "scheduled_events" and parts[2] == "invitees" and method == "GET":
            invitee = next((i for i in self.invitees.get(parts[1], []) if i["uri"].rsplit("/", 1)[-1] == parts[3]), None)
            return (200, {"resource": invitee}) if invitee else (404, NOT_FOUND)
        if path == "/webhook_subscriptions" and method == "GET":
            return 200, self.page(self.subscriptions_list(query), query)
        if path == "/webhook_subscriptions" and method == "POST":
            self.subscription_validate(body)
            with self.lock:
                if any(s["callback_url"] == body.get("url") for s in self.subscriptions.values()):
                    return 409, {"title": "Already Exists", "message": "Hook with this url already exists"}
                sub_id = uuid.uuid4().hex
                sub = {"uri": f"{API}/webhook_subscriptions/{sub_id}", "callback_url": body.get("url"), "state": "active",
                       "events": body.get("events", []), "scope": body.get("scope"), "organization": body.get("organization"),
                       "user": body.get("user") if body.get("scope") == "user" else None,
                       "group": body.get("group") if body.get("scope") == "group" else None,
                       "creator": self.user, "created_at": _iso(datetime.now(timezone.utc)),
                       "updated_at": _iso(datetime.now(timezone.utc)), "retry_started_at": None,
                       "_signing_key": body.get("signing_key")}
                self.subscriptions[sub_id] = sub
            return 201, {"resource": _public(sub)}
        if path.startswith("/webhook_subscriptions/"):
            sub_id = path.rsplit("/", 1)[-1]
            with self.lock:
                if sub_id not in self.subscriptions:
                    return 404, NOT_FOUND
                if method == "DELETE":
                    del self.subscriptions[sub_id]
                    return 204, {}
                return 200, {"resource": _public(self.subscriptions[sub_id])}
        return 404, {"title": "Resource Not Found", "message": f"No route {method} {path}"}

    def subscriptions_list(self, query: dict) -> list[dict]:
        """`organization` and `scope` are always required; `user`/`group` when that is the scope. Only
        subscriptions of that scope come back: a user-scoped one is not in the organization's list."""
        organization = _one(query, "organization")
        if not organization:
            raise Invalid("organization", "is required")
        scope = _one(query, "scope")
        if not scope:
            raise Invalid("scope", "is required")
        _choice(query, "scope", SCOPES)
        if scope in ("user", "group") and not _one(query, scope):
            raise Invalid(scope, f"is required when scope is {scope}")
        _choice(query, "sort", ("created_at:asc", "created_at:desc"))
        with self.lock:
            subs = [s for s in self.subscriptions.values() if s["organization"] == organization and s["scope"] == scope
                    and (scope == "organization" or s.get(scope) == _one(query, scope))]
        return [_public(s) for s in subs]

    @staticmethod
    def subscription_validate(body: dict) -> None:
        if not isinstance(body.get("url"), str) or not body["url"].startswith(("http://", "https://")):
            raise Invalid("url", "must be a valid URL")
        events = body.get("events")
        if not isinstance(events, list) or not events:
            raise Invalid("events", "must be a non-empty list")
        if not body.get("organization"):
            raise Invalid("organization", "is required")
        scope = body.get("scope")
        if scope not in SCOPES:
            raise Invalid("scope", f"must be one of {', '.join(SCOPES)}")
        if scope in ("user", "group") and not body.get(scope):
            raise Invalid(scope, f"is required when scope is {scope}")
        for event in events:
            if event not in WEBHOOK_EVENT_SCOPES:
                raise Invalid("events", f"{event!r} is not a valid event")
            if scope not in WEBHOOK_EVENT_SCOPES[event]:
                raise Invalid("events", f"{event} can't be subscribed with {scope} scope")


def _public(sub: dict) -> dict:
    return {k: v for k, v in sub.items() if not k.startswith("_")}


def make_handler(fake: FakeCalendly):
    class Handler(JsonHandler):
        def send(self, status, payload, headers=None):
            self.send_json(status, payload, headers)

        def dispatch(self, method):
            parts = urlsplit(self.path)
            raw = self.read_body()
            if parts.path.startswith("/__fake__/"):
                if parts.path == "/__fake__/state":
                    return self.send(200, {"calls": fake.calls, "throttled": fake.throttled,
                                           "subscriptions": list(fake.subscriptions.values()), "events": len(fake.events)})
                if parts.path == "/__fake__/disable_subscriptions":
                    for sub in fake.subscriptions.values():
                        sub["state"] = "disabled"
                    return self.send(200, {"ok": True})
                if parts.path == "/__fake__/config":
                    for k, v in json.loads(raw or b"{}").items():
                        setattr(fake, k, v)
                    return self.send(200, {"ok": True})
            if self.headers.get("Authorization") != f"Bearer {fake.token}":
                return self.send(401, {"title": "Unauthenticated", "message": "The access token is invalid"})
            allowed, remaining, reset = fake.budget()
            headers = {"X-RateLimit-Limit": fake.rate_limit, "X-RateLimit-Remaining": remaining, "X-RateLimit-Reset": reset}
            if not allowed:
                return self.send(429, {"title": "Too Many Requests", "message": "Rate limit exceeded"}, headers)
            status, payload = fake.handle(method, parts.path, parse_qs(parts.query), json.loads(raw) if raw else {})
            self.send(status, payload, headers)

        def do_GET(self):
            self.dispatch("GET")

        def do_POST(self):
            self.dispatch("POST")

        def do_DELETE(self):
            self.dispatch("DELETE")

    return Handler


class FakeCalendlyServer(FakeServer):
    def __init__(self, *, host="127.0.0.1", port=0, **options):
        self.fake = FakeCalendly(**options)
        super().__init__(make_handler(self.fake), host=host, port=port)
