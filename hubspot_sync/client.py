"""Thin httpx client for HubSpot. Every path lives here, so date-versioned paths are a one-file change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import httpx

PATHS = {
    "contacts_batch_upsert": "/crm/v3/objects/contacts/batch/upsert",
    "contacts_batch_read": "/crm/v3/objects/contacts/batch/read",
    "meetings_batch_create": "/crm/v3/objects/meetings/batch/create",
    "meetings_batch_update": "/crm/v3/objects/meetings/batch/update",
    "meetings_search": "/crm/v3/objects/meetings/search",
    "property_groups": "/crm/v3/properties/{object_type}/groups",
    "properties": "/crm/v3/properties/{object_type}",
    "pipelines": "/crm/v3/pipelines/{object_type}",
    "deal_create": "/crm/v3/objects/deals",
    "deal_update": "/crm/v3/objects/deals/{deal_id}",
    "deals_batch_read": "/crm/v3/objects/deals/batch/read",
    "contact_deals": "/crm/v4/objects/contacts/{contact_id}/associations/deals",
    "token": "/oauth/v1/token",
    "token_info": "/oauth/v1/access-tokens/{token}",
}
MAX_BATCH = 100


class HubSpotError(Exception):
    def __init__(self, *, kind: str, message: str, status: int | None = None, body=None, retry_after: float | None = None,
                 policy: str | None = None, request_body: dict | None = None):
        super().__init__(f"{kind}: {message}")
        self.kind, self.message, self.status, self.body = kind, message, status, body
        self.retry_after, self.policy, self.request_body = retry_after, policy, request_body

    @property
    def transient(self) -> bool:
        if self.kind == "rate_limit":
            return self.policy != "DAILY"
        return self.kind in ("server", "timeout", "connection")


@dataclass
class BatchResult:
    status: int
    results: list
    errors: list
    request_body: dict
    response_body: dict


def _error_from_response(response: httpx.Response, request_body=None) -> HubSpotError:
    try:
        body = response.json()
    except ValueError:
        body = response.text[:2000]
    message = body.get("message", "") if isinstance(body, dict) else str(body)
    status = response.status_code
    if status == 429 or (isinstance(body, dict) and (body.get("errorType") == "RATE_LIMIT" or body.get("category") == "RATE_LIMITS")):
        retry_after = response.headers.get("Retry-After")
        interval = response.headers.get("X-HubSpot-RateLimit-Interval-Milliseconds")
        seconds = float(retry_after) if retry_after else (int(interval) / 1000 if interval else 10.0)
        return HubSpotError(kind="rate_limit", message=message or "rate limited", status=status, body=body,
                            retry_after=seconds, policy=body.get("policyName") if isinstance(body, dict) else None,
                            request_body=request_body)
    if isinstance(body, dict) and body.get("status") == "BAD_REFRESH_TOKEN":
        kind = "bad_refresh_token"
    else:
        kind = {400: "validation", 401: "auth", 403: "forbidden", 404: "not_found", 409: "conflict"}.get(
            status, "server" if status >= 500 else "validation")
    return HubSpotError(kind=kind, message=message or f"HTTP {status}", status=status, body=body, request_body=request_body)


class HubSpotClient:
    def __init__(self, *, base_url: str, token: str | Callable[[], str], timeout: float = 10.0,
                 before_request: Callable[[], None] | None = None,
                 after_response: Callable[[httpx.Response], None] | None = None,
                 transport: httpx.BaseTransport | None = None):
        self.token = token
        self.before_request, self.after_response = before_request, after_response
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, transport=transport,
                                 headers={"Content-Type": "application/json", "User-Agent": "sourcebook/1.0"})

    def close(self) -> None:
        self.http.close()

    # --- plumbing ---
    def _request(self, method: str, path: str, *, json=None, params=None, ready=None) -> httpx.Response | None:
        """`ready(body)` runs after any wait for rate-limit budget, right before sending: it returns the
        body to send, or None to send nothing (the caller's lease check)."""
        if self.before_request:
            self.before_request()
        token = self.token() if callable(self.token) else self.token  # may wait for another worker's refresh
        if ready is not None:
            json = ready(json)
            if json is None:
                return None
        try:
            response = self.http.request(method, path, json=json, params=params, headers={"Authorization": f"Bearer {token}"})
        except httpx.TimeoutException as exc:
            raise HubSpotError(kind="timeout", message=f"no answer within the timeout ({exc.__class__.__name__})",
                               request_body=json) from exc
        except httpx.TransportError as exc:
            raise HubSpotError(kind="connection", message=str(exc) or exc.__class__.__name__, request_body=json) from exc
        if self.after_response:
            self.after_response(response)
        if response.status_code >= 400:
            raise _error_from_response(response, json)
        return response

    def _batch(self, path: str, inputs: list[dict], *, ready=None) -> BatchResult | None:
        """None when `ready` decided to send nothing."""
        if len(inputs) > MAX_BATCH:
            raise ValueError(f"HubSpot batches take at most {MAX_BATCH} inputs, got {len(inputs)}")
        sent = {"body": {"inputs": inputs}}

        def gate(body):
            sent["body"] = ready(body) if ready else body
            return sent["body"]

        response = self._request("POST", path, json=sent["body"], ready=gate)
        if response is None:
            return None
        body = sent["body"]
        data = response.json() if response.content else {}
        return BatchResult(status=response.status_code, results=data.get("results", []), errors=data.get("errors", []),
                           request_body=body, response_body=data)

    # --- contacts and meetings ---
    def contacts_batch_upsert(self, inputs: list[dict], *, ready=None) -> BatchResult | None:
        return self._batch(PATHS["contacts_batch_upsert"], inputs, ready=ready)

    def meetings_batch_create(self, inputs: list[dict], *, ready=None) -> BatchResult | None:
        return self._batch(PATHS["meetings_batch_create"], inputs, ready=ready)

    def meetings_batch_update(self, inputs: list[dict], *, ready=None) -> BatchResult | None:
        return self._batch(PATHS["meetings_batch_update"], inputs, ready=ready)

    def meetings_search_by_property(self, name: str, values: list[str]) -> list[dict]:
        results = []
        for start in range(0, len(values), 100):
            chunk = values[start:start + 100]
            body = {"filterGroups": [{"filters": [{"propertyName": name, "operator": "IN", "values": chunk}]}],
                    "properties": [name], "limit": 100}
            results += self._request("POST", PATHS["meetings_search"], json=body).json().get("results", [])
        return results

    # --- properties, pipelines, deals ---
    def property_group_create(self, object_type: str, name: str, label: str) -> bool:
        return self._create_once(PATHS["property_groups"].format(object_type=object_type),
                                 {"name": name, "label": label, "displayOrder": -1})

    def property_create(self, object_type: str, definition: dict) -> bool:
        return self._create_once(PATHS["properties"].format(object_type=object_type), definition)

    def _create_once(self, path: str, body: dict) -> bool:
        try:
            self._request("POST", path, json=body)
            return True
        except HubSpotError as exc:
            if exc.kind == "conflict":
                return False
            raise

    def properties_list(self, object_type: str) -> list[dict]:
        return self._request("GET", PATHS["properties"].format(object_type=object_type)).json().get("results", [])

    def pipelines(self, object_type: str = "deals") -> list[dict]:
        return self._request("GET", PATHS["pipelines"].format(object_type=object_type)).json().get("results", [])

    def deals_for_contact(self, contact_id: str) -> list[dict]:
        links = self._request("GET", PATHS["contact_deals"].format(contact_id=contact_id)).json().get("results", [])
        ids = [str(link.get("toObjectId")) for link in links if link.get("toObjectId")]
        if not ids:
            return []
        body = {"inputs": [{"id": i} for i in ids[:100]], "properties": ["dealname", "dealstage", "pipeline"]}
        return self._request("POST", PATHS["deals_batch_read"], json=body).json().get("results", [])

    def deal_create(self, properties: dict, contact_id: str) -> dict:
        body = {"properties": properties, "associations": [
            {"to": {"id": contact_id}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}]}]}
        return self._request("POST", PATHS["deal_create"], json=body).json()

    def deal_update(self, deal_id: str, properties: dict) -> dict:
        return self._request("PATCH", PATHS["deal_update"].format(deal_id=deal_id), json={"properties": properties}).json()

    # --- auth ---
    def token_info(self) -> dict:
        token = self.token() if callable(self.token) else self.token
        return self._request("GET", PATHS["token_info"].format(token=token)).json()

    @staticmethod
    def token_refresh(*, base_url: str, client_id: str, client_secret: str, refresh_token: str, timeout: float = 10.0,
                      transport=None) -> dict:
        form = {"grant_type": "refresh_token", "client_id": client_id, "client_secret": client_secret,
                "refresh_token": refresh_token}
        try:
            with httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, transport=transport) as http:
                response = http.post(PATHS["token"], data=form)
        except httpx.TimeoutException as exc:
            raise HubSpotError(kind="timeout", message="token refresh timed out") from exc
        except httpx.TransportError as exc:
            raise HubSpotError(kind="connection", message=str(exc)) from exc
        if response.status_code >= 400:
            raise _error_from_response(response)
        data = response.json()
        return {
            "access_token": data.get("access_token") or data.get("accessToken"),
            "refresh_token": data.get("refresh_token") or data.get("refreshToken"),
            "expires_in": data.get("expires_in") or data.get("expiresIn") or 1800,
        }
