"""Thin httpx client for HubSpot. Every path lives here, so date-versioned paths are a one-file change."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import httpx

# HubSpot versions paths by date since 2026-03; each version is supported >= 18 months. v4 paths lose support
# on 2027-03-30, v1-v3 in September 2027, OAuth v1 on 2027-02-16. Paths checked against the 2026-09 specs in
# HubSpot/HubSpot-public-api-spec-collection (PublicApiSpecs/CRM/*/Rollouts/*/2026-09, Auth/Oauth/.../2026-09).
API_VERSION = "2026-09"
_V = API_VERSION
PATHS = {
    "contacts_batch_upsert": f"/crm/objects/{_V}/contacts/batch/upsert",
    "contacts_batch_read": f"/crm/objects/{_V}/contacts/batch/read",
    "deals_batch_update": f"/crm/objects/{_V}/deals/batch/update",
    "meetings_batch_create": f"/crm/objects/{_V}/meetings/batch/create",
    "meetings_batch_update": f"/crm/objects/{_V}/meetings/batch/update",
    "meetings_search": f"/crm/objects/{_V}/meetings/search",
    "property_groups": f"/crm/properties/{_V}/{{object_type}}/groups",
    "properties": f"/crm/properties/{_V}/{{object_type}}",
    "pipelines": f"/crm/pipelines/{_V}/{{object_type}}",
    "deal_create": f"/crm/objects/{_V}/deals",
    "deal_update": f"/crm/objects/{_V}/deals/{{deal_id}}",
    "deals_batch_read": f"/crm/objects/{_V}/deals/batch/read",
    # The 2026-09 associations API has no per-object GET list: batch read is the way (Associations 2026-09 spec).
    "associations_batch_read": f"/crm/associations/{_V}/{{from_type}}/{{to_type}}/batch/read",
    "account_details": f"/account-info/{_V}/details",
    # Deals read back for money reports (CRM Deals, Associations, Owners, Settings Multicurrency 2026-09 specs).
    "deals_search": f"/crm/objects/{_V}/deals/search",
    "deals_list": f"/crm/objects/{_V}/deals",  # GET; ?archived=true lists deleted deals (search never returns them)
    "owners": f"/crm/owners/{_V}",
    "company_currency": f"/settings/currencies/{_V}/company-currency",
    "exchange_rates": f"/settings/currencies/{_V}/exchange-rates",
    # Permanent (GDPR) delete; by email it also blocklists an email HubSpot does not know (Contacts 2026-09 spec).
    "contacts_gdpr_delete": f"/crm/objects/{_V}/contacts/gdpr-delete",
    "token": f"/oauth/{_V}/token",
    "token_introspect": f"/oauth/{_V}/token/introspect",
}
# HUBSPOT_DEFINED association type ids (HubSpot SDK): meeting -> contact 200, deal -> contact 3.
MEETING_TO_CONTACT = 200
DEAL_TO_CONTACT = 3
SEARCH_PAGE = 200  # search `limit` is at most 200 (PublicObjectSearchRequest)
SEARCH_MAX_RESULTS = 10_000  # one search query pages through at most 10,000 results
LIST_PAGE = 100  # GET object lists take `limit` ≤ 100
DEAL_PROPERTIES = ["dealname", "amount", "deal_currency_code", "dealstage", "pipeline", "createdate", "closedate",
                   "hubspot_owner_id", "hs_is_closed_won", "hs_is_closed", "hs_lastmodifieddate"]
MAX_BATCH = 100
ASSOCIATIONS_MAX_BATCH = 1000  # associations batch read takes up to 1,000 inputs (BatchInputPublicFetchAssociationsBatchRequest)


class HubSpotError(Exception):
    def __init__(self, *, kind: str, message: str, status: int | None = None, body=None, retry_after: float | None = None,
                 policy: str | None = None, request_body: dict | None = None):
        super().__init__(f"{kind}: {message}")
        self.kind, self.message, self.status, self.body = kind, message, status, body
        self.retry_after, self.policy, self.request_body = retry_after, policy, request_body

    @property
    def daily(self) -> bool:
        """The account's daily request limit: nothing gets through until it resets at midnight (portal time)."""
        return self.kind == "rate_limit" and self.policy == "DAILY"

    @property
    def transient(self) -> bool:
        if self.kind == "rate_limit":
            return self.policy != "DAILY"
        return self.kind in ("server", "timeout", "connection")


_MISSING_IN_MESSAGE = re.compile(r'"error"\s*:\s*"PROPERTY_DOESNT_EXIST"\s*,\s*"name"\s*:\s*"([A-Za-z0-9_]+)"')


def missing_properties(exc: HubSpotError) -> set[str]:
    """The properties HubSpot refused as unknown (PROPERTY_DOESNT_EXIST): from `errors[]` (code, context.propertyName)
    or, failing that, from the per-property results HubSpot embeds in its message."""
    if exc.kind != "validation" or not isinstance(exc.body, dict):
        return set()
    names = set()
    for error in exc.body.get("errors") or []:
        if isinstance(error, dict) and error.get("code") == "PROPERTY_DOESNT_EXIST":
            names.update(str(n) for n in ((error.get("context") or {}).get("propertyName") or [error.get("in")]) if n)
    names.update(_MISSING_IN_MESSAGE.findall(str(exc.body.get("message") or "")))
    return names


_REFUSED_IN_MESSAGE = re.compile(r'"error"\s*:\s*"[A-Z_]+"\s*,\s*"name"\s*:\s*"([A-Za-z0-9_]+)"')


def refused_properties(exc: HubSpotError) -> set[str]:
    """Every property a validation error names, whatever the reason (unknown, bad value, not an allowed option)."""
    if exc.kind != "validation" or not isinstance(exc.body, dict):
        return set()
    names = set()
    for error in exc.body.get("errors") or []:
        if isinstance(error, dict):
            names.update(str(n) for n in ((error.get("context") or {}).get("propertyName") or [error.get("in")]) if n)
    names.update(_REFUSED_IN_MESSAGE.findall(str(exc.body.get("message") or "")))
    return names


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
                 transport: httpx.BaseTransport | None = None, before_search: Callable[[], None] | None = None):
        self.token = token
        self.before_search = before_search  # CRM search has its own per-second limit on top of the burst window
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

    def contacts_batch_read(self, emails: list[str], properties: list[str], *, ready=None) -> dict[str, dict] | None:
        """Current values of `properties` of the contacts with these emails (one request, ≤ MAX_BATCH emails;
        BatchReadInputSimplePublicObjectId with idProperty=email): {email: {property: value}}. A contact HubSpot
        does not have is left out (a per-input OBJECT_NOT_FOUND in a 207). None when `ready` sent nothing."""
        if len(emails) > MAX_BATCH:
            raise ValueError(f"HubSpot batches take at most {MAX_BATCH} inputs, got {len(emails)}")
        if not emails:
            return {}
        body = {"idProperty": "email", "inputs": [{"id": e} for e in emails], "properties": ["email", *properties],
                "propertiesWithHistory": []}
        response = self._request("POST", PATHS["contacts_batch_read"], json=body, ready=ready)
        if response is None:
            return None  # `ready` decided to send nothing
        data = response.json()
        found = {}
        for item in data.get("results", []):
            props = item.get("properties") or {}
            email = (props.get("email") or "").lower()
            if email:
                found[email] = props
        return found

    def deals_batch_update(self, inputs: list[dict], *, ready=None) -> BatchResult | None:
        return self._batch(PATHS["deals_batch_update"], inputs, ready=ready)

    def deals_batch_read(self, deal_ids: list[str], properties: list[str]) -> dict[str, dict]:
        """{deal id: {property: value}} of the deals HubSpot still has (≤ MAX_BATCH ids)."""
        if len(deal_ids) > MAX_BATCH:
            raise ValueError(f"HubSpot batches take at most {MAX_BATCH} inputs, got {len(deal_ids)}")
        if not deal_ids:
            return {}
        body = {"inputs": [{"id": str(i)} for i in deal_ids], "properties": properties, "propertiesWithHistory": []}
        data = self._request("POST", PATHS["deals_batch_read"], json=body).json()
        return {str(d["id"]): d.get("properties") or {} for d in data.get("results", [])}

    def meetings_batch_create(self, inputs: list[dict], *, ready=None) -> BatchResult | None:
        return self._batch(PATHS["meetings_batch_create"], inputs, ready=ready)

    def meetings_batch_update(self, inputs: list[dict], *, ready=None) -> BatchResult | None:
        return self._batch(PATHS["meetings_batch_update"], inputs, ready=ready)

    def meetings_search_by_property(self, name: str, values: list[str]) -> list[dict]:
        """Every page: a search answers at most `limit` results and a `paging.next.after` cursor for the rest."""
        results = []
        for start in range(0, len(values), 100):
            chunk = values[start:start + 100]
            after = None
            while True:
                body = {"filterGroups": [{"filters": [{"propertyName": name, "operator": "IN", "values": chunk}]}],
                        "properties": [name], "sorts": [], "limit": SEARCH_PAGE, "after": after or "0"}
                data = self._request("POST", PATHS["meetings_search"], json=body).json()
                results += data.get("results", [])
                after = ((data.get("paging") or {}).get("next") or {}).get("after")
                if not after:
                    break
        return results

    def contact_gdpr_delete(self, email: str) -> dict:
        """Permanently delete the contact with this email (PublicGdprDeleteInput; HubSpot answers 204). The body
        sent is returned, for the outbox's record."""
        body = {"objectId": email, "idProperty": "email"}
        self._request("POST", PATHS["contacts_gdpr_delete"], json=body)
        return body

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
        ids, after = [], None
        while True:
            item = {"id": contact_id, **({"after": after} if after else {})}
            data = self._request("POST", PATHS["associations_batch_read"].format(from_type="contacts", to_type="deals"),
                                 json={"inputs": [item]}).json()
            after = None
            for result in data.get("results", []):
                ids += [str(link["toObjectId"]) for link in result.get("to") or [] if link.get("toObjectId")]
                after = ((result.get("paging") or {}).get("next") or {}).get("after") or after
            if not after:
                break
        if not ids:
            return []
        body = {"inputs": [{"id": i} for i in ids[:100]], "properties": ["dealname", "dealstage", "pipeline"],
                "propertiesWithHistory": []}
        return self._request("POST", PATHS["deals_batch_read"], json=body).json().get("results", [])

    def deal_create(self, properties: dict, contact_id: str) -> dict:
        body = {"properties": properties, "associations": [
            {"to": {"id": contact_id}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": DEAL_TO_CONTACT}]}]}
        return self._request("POST", PATHS["deal_create"], json=body).json()

    def deal_update(self, deal_id: str, properties: dict) -> dict:
        return self._request("PATCH", PATHS["deal_update"].format(deal_id=deal_id), json={"properties": properties}).json()

    # --- deals read back (money reports) ---
    def deals_search_modified(self, *, since_ms: int, until_ms: int, after: str | None = None) -> dict:
        """One page of deals with since_ms <= hs_lastmodifieddate < until_ms, oldest first: {total, results,
        paging}. A query pages through at most SEARCH_MAX_RESULTS results: the caller narrows the window."""
        if self.before_search:
            self.before_search()
        body = {"filterGroups": [{"filters": [
                    {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": str(since_ms)},
                    {"propertyName": "hs_lastmodifieddate", "operator": "LT", "value": str(until_ms)}]}],
                "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
                "properties": DEAL_PROPERTIES, "limit": SEARCH_PAGE, "after": after or "0"}
        return self._request("POST", PATHS["deals_search"], json=body).json()

    def deal_contacts(self, deal_ids: list[str]) -> dict[str, list[str]]:
        """Deal id -> associated contact ids (associations batch read, ≤ ASSOCIATIONS_MAX_BATCH deals a request: a
        whole search page in one request). A deal HubSpot no longer has is left out (a per-input error in a 207)."""
        if len(deal_ids) > ASSOCIATIONS_MAX_BATCH:
            raise ValueError(f"at most {ASSOCIATIONS_MAX_BATCH} deals per associations read, got {len(deal_ids)}")
        found = {str(i): [] for i in deal_ids}
        pending = [{"id": str(i)} for i in deal_ids]
        missing = set()
        while pending:
            data = self._request("POST", PATHS["associations_batch_read"].format(from_type="deals", to_type="contacts"),
                                 json={"inputs": pending}).json()
            pending = []
            missing |= {str(((e.get("context") or {}).get("fromObjectId") or [None])[0]) for e in data.get("errors") or []}
            for result in data.get("results", []):
                deal_id = str((result.get("from") or {}).get("id"))
                found.setdefault(deal_id, []).extend(str(link["toObjectId"]) for link in result.get("to") or []
                                                     if link.get("toObjectId"))
                after = ((result.get("paging") or {}).get("next") or {}).get("after")
                if after:
                    pending.append({"id": deal_id, "after": after})
        return {k: v for k, v in found.items() if k not in missing}

    def deals_archived(self, *, after: str | None = None) -> dict:
        """One page of archived (deleted) deals: {results: [{id, archivedAt, ...}], paging}."""
        params = {"archived": "true", "limit": LIST_PAGE, "properties": "hs_lastmodifieddate"}
        if after:
            params["after"] = after
        return self._request("GET", PATHS["deals_list"], params=params).json()

    def owners(self) -> list[dict]:
        results, after = [], None
        while True:
            params = {"limit": 500, **({"after": after} if after else {})}
            data = self._request("GET", PATHS["owners"], params=params).json()
            results += data.get("results", [])
            after = ((data.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return results

    def currencies(self) -> dict:
        """{"company": "USD", "rates": {"EUR": Decimal-able conversion rate to the company currency}}."""
        company = self._request("GET", PATHS["company_currency"]).json().get("currencyCode", "")
        rates, after = {}, None
        while True:
            data = self._request("GET", PATHS["exchange_rates"], params={"limit": 100, **({"after": after} if after else {})}).json()
            for rate in data.get("results", []):
                if rate.get("toCurrencyCode") == company:
                    rates[rate["fromCurrencyCode"]] = str(rate["conversionRate"])
            after = ((data.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return {"company": company, "rates": rates}

    def account_details(self) -> dict:
        """The portal's time zone (`timeZone`): its midnight is when the daily request limit resets."""
        return self._request("GET", PATHS["account_details"]).json()

    # --- auth ---
    def token_info(self, *, client_id: str = "", client_secret: str = "") -> dict:
        """Token introspection (POST, form body: the token never goes into a URL). `{"active": false, ...}` for a
        token HubSpot does not know; `scopes` lists what it may do."""
        token = self.token() if callable(self.token) else self.token
        form = {"token": token, "token_type_hint": "access_token"}
        if client_id:
            form.update(client_id=client_id, client_secret=client_secret)
        return _form_post(self.http, PATHS["token_introspect"], form)

    @staticmethod
    def token_refresh(*, base_url: str, client_id: str, client_secret: str, refresh_token: str, timeout: float = 10.0,
                      transport=None) -> dict:
        return HubSpotClient._token(base_url=base_url, timeout=timeout, transport=transport, form={
            "grant_type": "refresh_token", "client_id": client_id, "client_secret": client_secret,
            "refresh_token": refresh_token})

    @staticmethod
    def token_exchange_code(*, base_url: str, client_id: str, client_secret: str, code: str, redirect_uri: str,
                            timeout: float = 10.0, transport=None) -> dict:
        """OAuth authorization-code grant: a fresh token pair after someone reinstalled or re-authorized the app."""
        return HubSpotClient._token(base_url=base_url, timeout=timeout, transport=transport, form={
            "grant_type": "authorization_code", "client_id": client_id, "client_secret": client_secret, "code": code,
            "redirect_uri": redirect_uri})

    @staticmethod
    def _token(*, base_url: str, timeout: float, transport, form: dict) -> dict:
        with httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, transport=transport) as http:
            data = _form_post(http, PATHS["token"], form)
        return {
            "access_token": data.get("access_token"),
            "refresh_token": data.get("refresh_token"),
            "expires_in": data.get("expires_in") or 1800,
        }


def _form_post(http: httpx.Client, path: str, form: dict) -> dict:
    """OAuth endpoints take application/x-www-form-urlencoded bodies (never the query string) and answer
    snake_case JSON (AccessTokenResponse / TokenInfoResponse in the 2026-09 OAuth spec)."""
    try:
        response = http.post(path, data=form, headers={"Content-Type": "application/x-www-form-urlencoded"})
    except httpx.TimeoutException as exc:
        raise HubSpotError(kind="timeout", message=f"{path} timed out") from exc
    except httpx.TransportError as exc:
        raise HubSpotError(kind="connection", message=str(exc)) from exc
    if response.status_code >= 400:
        raise _error_from_response(response)
    return response.json()
