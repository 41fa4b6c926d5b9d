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
    "invitees": "/scheduled_events/{uuid}/invitees",
    "webhook_subscriptions": "/webhook_subscriptions",
    "webhook_subscription": "/webhook_subscriptions/{uuid}",
}
PAGE_SIZE = 100


class CalendlyError(Exception):
    def __init__(self, status: int | None, message: str, body=None):
        super().__init__(f"Calendly {status or 'network'}: {message}")
        self.status, self.message, self.body = status, message, body


@dataclass
class Stats:
    calls: int = 0
    waits_429: int = 0
    waited_seconds: float = 0.0
    retries: int = 0
    per_status: dict = field(default_factory=dict)


def uuid_of(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


class CalendlyClient:
    """429: wait X-RateLimit-Reset seconds and retry; 5xx/timeouts: back off and retry; 400/403/404: raise."""

    def __init__(self, *, base_url: str, token: str, timeout: float = 15.0, max_retries: int = 5, transport=None,
                 sleep=time.sleep):
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, transport=transport,
                                 headers={"Authorization": f"Bearer {token}", "User-Agent": "sourcebook/1.0"})
        self.max_retries, self.sleep, self.stats = max_retries, sleep, Stats()

    def close(self) -> None:
        self.http.close()

    def _request(self, method: str, path: str, **kwargs) -> dict:
        attempt = 0
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
                reset = float(response.headers.get("X-RateLimit-Reset") or 60)
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
                try:
                    body = response.json()
                except ValueError:
                    body = {"message": response.text[:300]}
                hint = {401: "the token was rejected (revoked or wrong CALENDLY_TOKEN)",
                        403: "the token may not do this (plan or scope; organization scope needs an admin)",
                        404: "not found", 409: "already exists"}.get(response.status_code, "")
                message = body.get("message") or body.get("title") or ""
                raise CalendlyError(response.status_code, f"{message} {('— ' + hint) if hint else ''}".strip(), body)
            return response.json() if response.content else {}

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

    def invitees(self, event_uri: str) -> list[dict]:
        items = []
        for page, _ in self._paginate(PATHS["invitees"].format(uuid=uuid_of(event_uri)), {"sort": "created_at:asc"}):
            items.extend(page)
        return items

    def webhook_subscriptions(self, *, organization: str, user: str | None = None) -> list[dict]:
        scope = "user" if user else "organization"
        items = []
        for page, _ in self._paginate(PATHS["webhook_subscriptions"], {"organization": organization, "user": user, "scope": scope}):
            items.extend(page)
        return items

    def webhook_subscription_create(self, *, url: str, events: list[str], organization: str, user: str | None,
                                    signing_key: str) -> dict:
        body = {"url": url, "events": events, "organization": organization, "scope": "user" if user else "organization",
                "signing_key": signing_key}
        if user:
            body["user"] = user
        return self._request("POST", PATHS["webhook_subscriptions"], json=body)["resource"]

    def webhook_subscription_delete(self, uri: str) -> None:
        self._request("DELETE", PATHS["webhook_subscription"].format(uuid=uuid_of(uri)))
