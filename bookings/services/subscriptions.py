"""Calendly webhook subscriptions: create, list (both scopes), check (recorded in Redis for /healthz), repair."""

from __future__ import annotations

import json
import logging
import secrets
from datetime import timedelta

import redis
from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from bookings import calendly
from bookings.calendly_client import CalendlyError
from bookings.models import WebhookDelivery
from bookings.services.backfill import backfill_run
from project.health import SUBSCRIPTION_KEY

logger = logging.getLogger("sourcebook.intake")

SUBSCRIBED_EVENTS = [calendly.INVITEE_CREATED, calendly.INVITEE_CANCELED, calendly.NO_SHOW_CREATED, calendly.NO_SHOW_DELETED]


def callback_url() -> str:
    return settings.SOURCEBOOK_PUBLIC_URL.rstrip("/") + "/webhooks/calendly/"


def subscription_create(*, client, organization: str, user: str | None) -> tuple[dict, str]:
    """Subscribe our URL with a freshly generated signing key (returned once, never stored here)."""
    key = secrets.token_hex(32)
    resource = client.webhook_subscription_create(url=callback_url(), events=SUBSCRIBED_EVENTS, organization=organization,
                                                  user=user, signing_key=key)
    return resource, key


def subscriptions_list(*, client, organization: str, user: str | None) -> list[dict]:
    """Every subscription we can see, in both scopes: Calendly lists one scope per call, and a user-scoped
    subscription (`calendly_webhooks create --user-scope`) is not in the organization's list. A token that
    may not read the organization's list (not an admin: 403) still sees its user's."""
    found = []
    for scope_user in (None, user) if user else (None,):
        try:
            found += client.webhook_subscriptions(organization=organization, user=scope_user)
        except CalendlyError as exc:
            if exc.status == 403 and scope_user is None and user:
                continue
            raise
    return found


def subscriptions_ours(*, client, organization: str, user: str | None) -> list[dict]:
    """Subscriptions pointing at this Sourcebook, in either scope; an active one first."""
    ours = [s for s in subscriptions_list(client=client, organization=organization, user=user)
            if s.get("callback_url") == callback_url()]
    return sorted(ours, key=lambda s: s.get("state") != "active")


def subscription_check(*, client, organization: str, user: str | None, now=None) -> dict:
    """Is our subscription there (organization- or user-scoped), active, and are deliveries arriving?
    Recorded for /healthz. `user` is the token's user: its user-scoped subscriptions are listed too."""
    now = now or timezone.now()
    ours = subscriptions_ours(client=client, organization=organization, user=user)
    last = (WebhookDelivery.objects.filter(origin=WebhookDelivery.Origin.WEBHOOK, signature_valid=True)
            .order_by("-received_at").values_list("received_at", flat=True).first())
    local = timezone.localtime(now)
    business_hours = local.weekday() < 5 and 9 <= local.hour < 18
    silent_for = (now - last).total_seconds() / 3600 if last else None
    if not ours:
        state, problem = "missing", f"no subscription for {callback_url()}"
    elif ours[0].get("state") != "active":
        state, problem = "disabled", f"subscription {ours[0]['uri']} is {ours[0].get('state')} (Calendly gave up retrying)"
    elif business_hours and (silent_for is None or silent_for > settings.CALENDLY_SILENCE_ALERT_HOURS):
        state, problem = "silent", f"no webhook delivery for {silent_for or 'ever':.1f}h during business hours" if silent_for else "no webhook delivery yet"
    else:
        state, problem = "active", ""
    report = {"state": state, "problem": problem, "subscription": ours[0]["uri"] if ours else None,
              "scope": ours[0].get("scope") if ours else None, "user": ours[0].get("user") if ours else None,
              "last_delivery_at": last.isoformat() if last else None, "checked_at": now.isoformat()}
    redis.Redis.from_url(settings.REDIS_URL).set(SUBSCRIPTION_KEY, json.dumps(report), ex=7200)
    if problem:
        logger.error("calendly subscription problem: %s", problem, extra={"state": state})
    return report


def subscription_repair(*, client, organization: str, user: str | None, report: dict) -> tuple[dict, str, object]:
    """Recreate a missing/disabled subscription and backfill the gap since the last delivery.

    A disabled one is recreated in the scope it had; a missing one in the scope asked for (`user`
    given = user scope). A user-scoped subscription's gap is backfilled from that user's events."""
    if report.get("scope"):
        user = report.get("user") if report["scope"] == "user" else None
    if report.get("subscription"):
        client.webhook_subscription_delete(report["subscription"])
    resource, key = subscription_create(client=client, organization=organization, user=user)
    since = timezone.now() - timedelta(days=1)
    if report.get("last_delivery_at"):
        since = min(since, parse_datetime(report["last_delivery_at"]))
    run = backfill_run(client=client, since=since, organization=organization, user=user)
    return resource, key, run
