"""A fake Calendly API (reference/calendly.md): users, scheduled events, invitees with tracking,
webhook subscriptions (409 on a duplicate URL, a `disabled` state), cursor pagination and a
per-minute rate limit answered with 429 and X-RateLimit-* headers. Stdlib only, in memory.
Control: GET /__fake__/state, POST /__fake__/config, POST /__fake__/disable_subscriptions.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

from project.fakes import FakeServer, JsonHandler
from urllib.parse import parse_qs, urlsplit

API = "https://api.calendly.com"
SOURCES = [{}, {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "brand_202611"},
           {"utm_source": "linkedin", "utm_medium": "paid_social", "utm_campaign": "launch_202611"},
           {"utm_source": "newsletter", "utm_medium": "email"}, {"utm_source": "chatgpt.com", "utm_medium": "referral"}]


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
        count = min(int(query.get("count", ["20"])[0]), 100)
        start = int(query.get("page_token", ["0"])[0] or 0)
        chunk = items[start:start + count]
        nxt = str(start + count) if start + count < len(items) else None
        return {"collection": chunk, "pagination": {"count": len(chunk), "next_page_token": nxt, "previous_page_token": None,
                                                     "next_page": None, "previous_page": None}}

    def handle(self, method: str, path: str, query: dict, body: dict) -> tuple[int, dict]:
        if path == "/users/me":
            return 200, {"resource": {"uri": self.user, "current_organization": self.org, "name": "Host"}}
        if path == "/scheduled_events" and method == "GET":
            if not query.get("organization") and not query.get("user"):
                return 400, {"title": "Invalid Argument", "message": "organization or user is required"}
            items = self.events
            if query.get("status"):
                items = [e for e in items if e["status"] == query["status"][0]]
            if query.get("min_start_time"):
                items = [e for e in items if e["start_time"] >= query["min_start_time"][0]]
            if query.get("max_start_time"):
                items = [e for e in items if e["start_time"] < query["max_start_time"][0]]
            return 200, self.page(sorted(items, key=lambda e: e["start_time"]), query)
        if path.startswith("/scheduled_events/") and path.endswith("/invitees"):
            ev_id = path.split("/")[2]
            if ev_id not in self.invitees:
                return 404, {"title": "Resource Not Found", "message": "The server could not find the requested resource."}
            return 200, self.page(self.invitees[ev_id], query)
        if path == "/webhook_subscriptions" and method == "GET":
            return 200, self.page(list(self.subscriptions.values()), query)
        if path == "/webhook_subscriptions" and method == "POST":
            with self.lock:
                if any(s["callback_url"] == body.get("url") for s in self.subscriptions.values()):
                    return 409, {"title": "Already Exists", "message": "Hook with this url already exists"}
                sub_id = uuid.uuid4().hex
                sub = {"uri": f"{API}/webhook_subscriptions/{sub_id}", "callback_url": body.get("url"), "state": "active",
                       "events": body.get("events", []), "scope": body.get("scope"), "organization": body.get("organization"),
                       "user": body.get("user"), "creator": self.user, "created_at": _iso(datetime.now(timezone.utc)),
                       "updated_at": _iso(datetime.now(timezone.utc)), "retry_started_at": None,
                       "_signing_key": body.get("signing_key")}
                self.subscriptions[sub_id] = sub
            return 201, {"resource": {k: v for k, v in sub.items() if not k.startswith("_")}}
        if path.startswith("/webhook_subscriptions/"):
            sub_id = path.rsplit("/", 1)[-1]
            with self.lock:
                if sub_id not in self.subscriptions:
                    return 404, {"title": "Resource Not Found", "message": "The server could not find the requested resource."}
                if method == "DELETE":
                    del self.subscriptions[sub_id]
                    return 204, {}
                return 200, {"resource": self.subscriptions[sub_id]}
        return 404, {"title": "Resource Not Found", "message": f"No route {method} {path}"}


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
