"""Thin httpx client for the Calendly API v2. Every Calendly path lives here."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Iterator

import httpx

PATHS = {
    "me": "/users/me",
    "scheduled_events": "/scheduled_events",
    "scheduled_event": "/scheduled_events/{uuid}",
    "invitees": "/scheduled_events/{uuid}/invitees",
    "invitee": "/scheduled_events/{event_uuid}/invitees/{uuid}",
    "webhook_subscriptions": "/webhook_subscriptions",
    "webhook_subscription": "/webhook_subscriptions/{uuid}",
}
PAGE_SIZE = 100  # Calendly's maximum `count`: more is a 400
# One request waits out at most this many 429s, and this long in total, before it fails (never forever).
RATE_LIMIT_MAX_WAITS = 5
RATE_LIMIT_MAX_WAIT_SECONDS = 300.0


class CalendlyError(Exception):
    def __init__(self, status: int | None, message: str, body=None):
        super().__init__(f"Calendly {status or 'network'}: {message}")
        self.status, self.message, self.body = status, message, body

    @property
    def transient(self) -> bool:
        """Worth retrying later: network, rate limit, Calendly's own errors."""
        return self.status is None or self.status == 429 or self.status >= 500


class CalendlyRateLimited(CalendlyError):
    """Still 429 after the allowed waits: something else spends this user's budget, or the reset is too far away."""


@dataclass
class Stats:
    calls: int = 0
    waits_429: int = 0
    waited_seconds: float = 0.0
    retries: int = 0
    per_status: dict = field(default_factory=dict)


def uuid_of(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


def _rate_limit_wait(response: httpx.Response) -> float:
    """Seconds until Calendly's window resets: Retry-After if sent, else X-RateLimit-Reset (seconds), else 60."""
    for header in ("Retry-After", "X-RateLimit-Reset"):
        try:
            value = float(response.headers.get(header) or "nan")
        except ValueError:
            continue
        if value == value and value >= 0:  # not NaN
            return value
    return 60.0


class CalendlyClient:
    """429: wait the announced reset and retry, at most `max_rate_limit_waits` times and
    `max_rate_limit_wait_seconds` in total per request, then raise CalendlyRateLimited;
    5xx/timeouts: back off and retry; 400/403/404: raise."""

    def __init__(self, *, base_url: str, token: str, timeout: float = 15.0, max_retries: int = 5, transport=None,
                 sleep=time.sleep, max_rate_limit_waits: int = RATE_LIMIT_MAX_WAITS,
                 max_rate_limit_wait_seconds: float = RATE_LIMIT_MAX_WAIT_SECONDS):
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, transport=transport,
                                 headers={"Authorization": f"Bearer {token}", "User-Agent": "sourcebook/1.0"})
        self.max_retries, self.sleep, self.stats = max_retries, sleep, Stats()
        self.max_rate_limit_waits, self.max_rate_limit_wait_seconds = max_rate_limit_waits, max_rate_limit_wait_seconds

    @classmethod
    def from_settings(cls, **kwargs) -> "CalendlyClient":
        from django.conf import settings

        options = {"base_url": settings.CALENDLY_API_URL, "token": settings.CALENDLY_TOKEN,
                   "max_rate_limit_waits": settings.CALENDLY_RATE_LIMIT_MAX_WAITS,
                   "max_rate_limit_wait_seconds": settings.CALENDLY_RATE_LIMIT_MAX_WAIT_SECONDS}
        return cls(**{**options, **kwargs})

    def close(self) -> None:
        self.http.close()

    def _request(self, method: str, path: str, **kwargs) -> dict:
        attempt, waits, waited = 0, 0, 0.0
        while True:
            self.stats.calls += 1
            try:
                response = self.http.request(method, path, **kwargs)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                if attempt >= self.max_retries:
                    raise CalendlyError(None, f"{type(exc).__name__}: {exc}") from exc
                attempt += 1
                self.stats.retries += 1
                self.sleep(min(30, 2 ** attempt) * random.uniform(0.5, 1))
                continue
            self.stats.per_status[response.status_code] = self.stats.per_status.get(response.status_code, 0) + 1
            if response.status_code == 429:
                reset = _rate_limit_wait(response)
                if waits >= self.max_rate_limit_waits or waited + reset > self.max_rate_limit_wait_seconds:
                    raise CalendlyRateLimited(
                        429, f"rate limit still exceeded after {waits} waits ({waited:.0f}s) on {method} {path}; "
                             f"next reset in {reset:.0f}s — another integration may be using this user's "
                             f"{response.headers.get('X-RateLimit-Limit', '?')} requests/minute; run it again later",
                        _error_body(response))
                waits += 1
                waited += reset
                self.stats.waits_429 += 1
                self.stats.waited_seconds += reset
                self.sleep(reset)
                continue
            if response.status_code >= 500 and attempt < self.max_retries:
                attempt += 1
                self.stats.retries += 1
                self.sleep(min(30, 2 ** attempt) * random.uniform(0.5, 1))
                continue
            if response.status_code >= 400:
                body = _error_body(response)
                hint = {401: "the token was rejected (revoked or wrong CALENDLY_TOKEN)",
                        403: "the token may not do this (plan or scope; organization scope needs an admin)",
                        404: "not found", 409: "already exists"}.get(response.status_code, "")
                message = body.get("message") or body.get("title") or ""
                details = "; ".join(f"{d.get('parameter')}: {d.get('message')}" for d in body.get("details") or []
                                    if isinstance(d, dict))
                message = f"{message} ({details})" if details else message
                raise CalendlyError(response.status_code, f"{message} {('— ' + hint) if hint else ''}".strip(), body)
            return response.json() if response.content else {}

    def _paginate_all(self, path: str, params: dict) -> list[dict]:
        items = []
        for page, _ in self._paginate(path, params):
            items.extend(page)
        return items

    def _paginate(self, path: str, params: dict) -> Iterator[tuple[list[dict], str | None]]:
        """Yield (page items, next page token); resume by passing page_token in params."""
        params = {**params, "count": PAGE_SIZE}
        while True:
            data = self._request("GET", path, params={k: v for k, v in params.items() if v is not None})
            token = (data.get("pagination") or {}).get("next_page_token")
            yield data.get("collection", []), token
            if not token:
                return
            params["page_token"] = token

    def me(self) -> dict:
        return self._request("GET", PATHS["me"])["resource"]

    def scheduled_events(self, *, organization: str | None = None, user: str | None = None, min_start_time=None,
                         max_start_time=None, status: str | None = None, page_token: str | None = None):
        return self._paginate(PATHS["scheduled_events"], {
            "organization": organization, "user": user, "min_start_time": min_start_time, "max_start_time": max_start_time,
            "status": status, "sort": "start_time:asc", "page_token": page_token})

    def scheduled_event(self, event_uri: str) -> dict:
        return self._request("GET", PATHS["scheduled_event"].format(uuid=uuid_of(event_uri)))["resource"]

    def invitees(self, event_uri: str) -> list[dict]:
        return self._paginate_all(PATHS["invitees"].format(uuid=uuid_of(event_uri)), {"sort": "created_at:asc"})

    def invitee(self, invitee_uri: str) -> dict:
        """`.../scheduled_events/<event>/invitees/<invitee>`: the invitee as the API sees it now."""
        event_uuid = invitee_uri.rstrip("/").split("/")[-3]
        return self._request("GET", PATHS["invitee"].format(event_uuid=event_uuid, uuid=uuid_of(invitee_uri)))["resource"]

    def webhook_subscriptions(self, *, organization: str, user: str | None = None) -> list[dict]:
        """One scope per call, as Calendly lists: `user` given = that user's subscriptions, else the organization's.
        A user-scoped subscription is not in the organization's list."""
        scope = "user" if user else "organization"
        return self._paginate_all(PATHS["webhook_subscriptions"], {"organization": organization, "user": user, "scope": scope})

    def webhook_subscription_create(self, *, url: str, events: list[str], organization: str, user: str | None,
                                    signing_key: str) -> dict:
        body = {"url": url, "events": events, "organization": organization, "scope": "user" if user else "organization",
                "signing_key": signing_key}
        if user:
            body["user"] = user
        return self._request("POST", PATHS["webhook_subscriptions"], json=body)["resource"]

    def webhook_subscription_delete(self, uri: str) -> None:
        self._request("DELETE", PATHS["webhook_subscription"].format(uuid=uuid_of(uri)))


def _error_body(response: httpx.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {"message": response.text[:300]}
    return body if isinstance(body, dict) else {"message": str(body)[:300]}
