"""The seed article's handler, for comparison only: parse the webhook, call HubSpot inline, return.

A plain WSGI app (no database, no outbox): every delivery waits for a contact upsert before the
200. Pointed at the fake HubSpot with latency in bench/compare_ingest.py.
"""

import json
import os

import httpx

HUBSPOT = os.environ.get("HUBSPOT_API_URL", "http://127.0.0.1:8025")
http = httpx.Client(base_url=HUBSPOT, timeout=30, headers={"Authorization": "Bearer fake-token"})


def application(environ, start_response):
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    payload = json.loads(body).get("payload", {})
    tracking = payload.get("tracking") or {}
    utms = {
        "utm_source": tracking.get("utm_source"), "utm_medium": tracking.get("utm_medium"),
        "utm_campaign": tracking.get("utm_campaign"),
    }
    source = utms.get("utm_source") or "direct"
    try:
        response = http.post("/crm/objects/2026-09/contacts/batch/upsert", json={"inputs": [{
            "idProperty": "email", "id": payload.get("email"),
            "properties": {"firstname": payload.get("name", ""), "sourcebook_last_utm_source": source}}]})
        status = "200 OK" if response.status_code < 300 else "502 Bad Gateway"
    except httpx.HTTPError:
        status = "502 Bad Gateway"
    start_response(status, [("Content-Type", "application/json")])
    return [b'{"ok": true}']
