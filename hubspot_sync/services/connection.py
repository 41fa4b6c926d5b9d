"""Which credentials to use, and OAuth refresh that never burns a rotating refresh token twice."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db.models import F, Q
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
    """For /healthz and admin: mode, state, reason, the daily-limit pause (never the tokens)."""
    mode = connection_mode()
    paused = connection_daily_blocked_until()
    daily = {"daily_limit_until": paused.isoformat()} if paused else {}
    if mode != "oauth":
        broken = HubspotConnection.objects.filter(name="default", state=HubspotConnection.State.BROKEN).first()
        if broken and mode == "token":
            return {"mode": mode, "state": "broken", "reason": broken.broken_reason, **daily}
        return {"mode": mode, "state": "ok" if mode == "token" else "dry_run", "reason": "", **daily}
    conn = connection_get()
    return {"mode": mode, "state": conn.state, "reason": conn.broken_reason,
            "expires_at": conn.expires_at.isoformat() if conn.expires_at else None, **daily}


# --- the daily request limit ---------------------------------------------------------------------

def _next_daily_reset(*, now: datetime, time_zone: str) -> datetime:
    """HubSpot resets the daily limit at midnight in the portal's time zone (developers.hubspot.com/apisbytier:
    "The daily limits reset at midnight based on the time zone setting of the HubSpot account"). Without a known
    zone, wait for the next full hour: some zone's midnight passes every hour, so we never wait a day too long."""
    try:
        zone = ZoneInfo(time_zone) if time_zone else None
    except (ZoneInfoNotFoundError, ValueError):
        zone = None
    if zone is None:
        return (now + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    local = now.astimezone(zone)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    return midnight.astimezone(now.tzinfo)


def connection_daily_limit_hit() -> datetime:
    """A DAILY 429: every worker stops sending until the reset (stored, so /healthz and all workers see it)."""
    conn = connection_get()
    zone = settings.HUBSPOT_ACCOUNT_TIME_ZONE or conn.portal_time_zone
    until = _next_daily_reset(now=timezone.now(), time_zone=zone)
    HubspotConnection.objects.filter(pk=conn.pk).update(daily_limit_until=until)
    logger.error("hubspot daily request limit reached; sync paused", extra={"until": until.isoformat(), "time_zone": zone})
    return until


def connection_daily_blocked_until() -> datetime | None:
    until = HubspotConnection.objects.filter(name="default", daily_limit_until__gt=timezone.now()).values_list(
        "daily_limit_until", flat=True).first()
    return until


def connection_store_portal(*, time_zone: str) -> None:
    """hubspot_setup reads the portal's time zone once (account details): the daily limit resets at its midnight."""
    conn = connection_get()
    HubspotConnection.objects.filter(pk=conn.pk).update(portal_time_zone=time_zone[:64])


# --- reconnecting ---------------------------------------------------------------------------------

class ReconnectFailed(Exception):
    """HubSpot refused the new credentials; the connection stays as it was."""


def connection_reconnect(*, refresh_token: str = "", code: str = "", redirect_uri: str = "") -> HubspotConnection:
    """Bring a broken connection back without editing the database. OAuth: exchange an authorization code (after
    someone re-authorized the app) or spend a new refresh token once; the returned pair is stored and the state
    is ok again. Private app / service key: check the configured token still works, then clear the broken state."""
    conn = connection_get()
    if settings.HUBSPOT_ACCESS_TOKEN:
        client = HubSpotClient(base_url=settings.HUBSPOT_API_URL, token=settings.HUBSPOT_ACCESS_TOKEN,
                               timeout=settings.HUBSPOT_TIMEOUT_SECONDS)
        try:
            client.account_details()
        except HubSpotError as exc:
            raise ReconnectFailed(f"HubSpot refused HUBSPOT_ACCESS_TOKEN: {exc.status} {exc.message}") from exc
        finally:
            client.close()
        HubspotConnection.objects.filter(pk=conn.pk).update(state=HubspotConnection.State.OK, broken_reason="")
        return HubspotConnection.objects.get(pk=conn.pk)
    if not (settings.HUBSPOT_CLIENT_ID and settings.HUBSPOT_CLIENT_SECRET):
        raise ReconnectFailed("Set HUBSPOT_CLIENT_ID and HUBSPOT_CLIENT_SECRET (OAuth app) or HUBSPOT_ACCESS_TOKEN first.")
    if not (refresh_token or code):
        raise ReconnectFailed("Give a new refresh token or an authorization code (with its redirect URI).")
    if code and not redirect_uri:
        raise ReconnectFailed("An authorization code needs the redirect URI it was issued for.")
    common = {"base_url": settings.HUBSPOT_API_URL, "client_id": settings.HUBSPOT_CLIENT_ID,
              "client_secret": settings.HUBSPOT_CLIENT_SECRET, "timeout": settings.HUBSPOT_TIMEOUT_SECONDS}
    try:
        if code:
            data = HubSpotClient.token_exchange_code(code=code.strip(), redirect_uri=redirect_uri.strip(), **common)
        else:
            data = HubSpotClient.token_refresh(refresh_token=refresh_token.strip(), **common)
    except HubSpotError as exc:
        HUBSPOT_REFRESH.labels(result="reconnect_refused").inc()
        body = exc.body if isinstance(exc.body, dict) else {}
        raise ReconnectFailed(f"HubSpot refused: {body.get('status') or exc.status} {exc.message}") from exc
    # A new pair and a new version: a worker still holding the old version waits for, or uses, this pair.
    HubspotConnection.objects.filter(pk=conn.pk).update(
        access_token=data["access_token"], refresh_token=data.get("refresh_token") or refresh_token,
        expires_at=timezone.now() + timedelta(seconds=int(data.get("expires_in") or 1800)),
        token_version=F("token_version") + 1, refreshing_until=None, state=HubspotConnection.State.OK, broken_reason="",
    )
    HUBSPOT_REFRESH.labels(result="reconnected").inc()
    logger.info("hubspot connection reconnected", extra={"via": "authorization_code" if code else "refresh_token"})
    return HubspotConnection.objects.get(pk=conn.pk)
