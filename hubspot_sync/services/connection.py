"""Which credentials to use, and OAuth refresh that never burns a rotating refresh token twice."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from hubspot_sync.client import HubSpotClient, HubSpotError
from hubspot_sync.models import HubspotConnection
from project.metrics import HUBSPOT_REFRESH

logger = logging.getLogger("sourcebook.hubspot")
REFRESH_MARGIN = timedelta(seconds=90)
REFRESH_LEASE = timedelta(seconds=30)


class ConnectionBroken(Exception):
    """HubSpot refused our credentials for good (e.g. BAD_REFRESH_TOKEN): a human must reconnect."""


def connection_mode() -> str:
    """"token" (private app / service key), "oauth", or "dry_run" when nothing is configured."""
    if settings.HUBSPOT_ACCESS_TOKEN:
        return "token"
    if settings.HUBSPOT_CLIENT_ID and (settings.HUBSPOT_REFRESH_TOKEN or HubspotConnection.objects.exclude(refresh_token="").exists()):
        return "oauth"
    return "dry_run"


def connection_get() -> HubspotConnection:
    conn, created = HubspotConnection.objects.get_or_create(
        name="default", defaults={"refresh_token": settings.HUBSPOT_REFRESH_TOKEN}
    )
    return conn


def connection_token() -> str:
    """A valid access token, refreshed ~90 s before it expires."""
    if settings.HUBSPOT_ACCESS_TOKEN:
        return settings.HUBSPOT_ACCESS_TOKEN
    conn = connection_get()
    if conn.state == HubspotConnection.State.BROKEN:
        raise ConnectionBroken(conn.broken_reason or "HubSpot connection is broken")
    if conn.access_token and conn.expires_at and conn.expires_at - timezone.now() > REFRESH_MARGIN:
        return conn.access_token
    return connection_refresh(seen_version=conn.token_version)


def connection_refresh(*, seen_version: int, wait_seconds: float = 30.0) -> str:
    """Optimistic concurrency: only the worker whose conditional UPDATE bumps `token_version` calls
    HubSpot; the others wait for the new pair instead of spending the same refresh token."""
    now = timezone.now()
    won = HubspotConnection.objects.filter(
        Q(refreshing_until__isnull=True) | Q(refreshing_until__lt=now),
        name="default", token_version=seen_version, state=HubspotConnection.State.OK,
    ).update(token_version=seen_version + 1, refreshing_until=now + REFRESH_LEASE)
    if not won:
        return _wait_for_refresh(seen_version=seen_version, wait_seconds=wait_seconds)

    conn = HubspotConnection.objects.get(name="default")
    try:
        data = HubSpotClient.token_refresh(
            base_url=settings.HUBSPOT_API_URL, client_id=settings.HUBSPOT_CLIENT_ID,
            client_secret=settings.HUBSPOT_CLIENT_SECRET, refresh_token=conn.refresh_token,
            timeout=settings.HUBSPOT_TIMEOUT_SECONDS,
        )
    except HubSpotError as exc:
        if exc.kind == "bad_refresh_token":
            HUBSPOT_REFRESH.labels(result="bad_refresh_token").inc()
            HubspotConnection.objects.filter(pk=conn.pk).update(
                state=HubspotConnection.State.BROKEN, refreshing_until=None,
                broken_reason="HubSpot rejected the refresh token (BAD_REFRESH_TOKEN): reconnect the app.",
            )
            logger.error("hubspot refresh token rejected; connection marked broken")
            raise ConnectionBroken("BAD_REFRESH_TOKEN") from exc
        HUBSPOT_REFRESH.labels(result="error").inc()
        HubspotConnection.objects.filter(pk=conn.pk).update(refreshing_until=None)
        raise
    HubspotConnection.objects.filter(pk=conn.pk, token_version=seen_version + 1).update(
        access_token=data["access_token"],
        refresh_token=data.get("refresh_token") or conn.refresh_token,
        expires_at=timezone.now() + timedelta(seconds=int(data.get("expires_in") or 1800)),
        refreshing_until=None,
    )
    HUBSPOT_REFRESH.labels(result="success").inc()
    logger.info("hubspot token refreshed", extra={"token_version": seen_version + 1})
    return data["access_token"]


def _wait_for_refresh(*, seen_version: int, wait_seconds: float) -> str:
    """Someone else holds the refresh lease: use the pair they store (or the token already fresh)."""
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        conn = HubspotConnection.objects.get(name="default")
        if conn.state == HubspotConnection.State.BROKEN:
            raise ConnectionBroken(conn.broken_reason)
        now = timezone.now()
        lease_over = conn.refreshing_until is None or conn.refreshing_until < now
        fresh = bool(conn.access_token and conn.expires_at and conn.expires_at - now > REFRESH_MARGIN)
        if lease_over and conn.access_token and (conn.token_version > seen_version or fresh):
            return conn.access_token
        if lease_over and conn.refreshing_until is not None:  # the refresher died: take over
            return connection_refresh(seen_version=conn.token_version, wait_seconds=max(0.0, deadline - time.monotonic()))
        time.sleep(0.05)
    raise TimeoutError("another worker is still refreshing the HubSpot token")


def connection_mark_broken(*, reason: str) -> None:
    conn = connection_get()
    HubspotConnection.objects.filter(pk=conn.pk).update(state=HubspotConnection.State.BROKEN, broken_reason=reason[:2000])


def connection_status() -> dict:
    """For /healthz and admin: mode, state, reason (never the tokens)."""
    mode = connection_mode()
    if mode != "oauth":
        broken = HubspotConnection.objects.filter(name="default", state=HubspotConnection.State.BROKEN).first()
        if broken and mode == "token":
            return {"mode": mode, "state": "broken", "reason": broken.broken_reason}
        return {"mode": mode, "state": "ok" if mode == "token" else "dry_run", "reason": ""}
    conn = connection_get()
    return {"mode": mode, "state": conn.state, "reason": conn.broken_reason,
            "expires_at": conn.expires_at.isoformat() if conn.expires_at else None}
