"""/healthz: one JSON answer to "is anything stuck?" — 200 when healthy, 503 otherwise."""

from __future__ import annotations

import hmac
import json
import time

import redis
from django.conf import settings
from django.db import connection
from django.db.models import Count, Min, Q
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from bookings.models import WebhookDelivery
from hubspot_sync.models import BookingSync, DealSyncState
from hubspot_sync.services.connection import connection_status

HEARTBEAT_KEY = "sourcebook:worker:heartbeat"
SUBSCRIPTION_KEY = "sourcebook:calendly:subscription"


def heartbeat_write() -> None:
    """Written by a beat-scheduled task that a worker runs: proves both are alive."""
    redis.Redis.from_url(settings.REDIS_URL).set(HEARTBEAT_KEY, str(time.time()), ex=3600)


# --- the facts, read by /healthz and by the alerts (alerts/checks.py): one read each ------------------------------

def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)


def worker_heartbeat_age(r: redis.Redis | None = None) -> float | None:
    """Seconds since a worker last ran the heartbeat task (None: none in the last hour, the key's expiry).
    Raises redis.RedisError when Redis cannot be read."""
    beat = (r or _redis()).get(HEARTBEAT_KEY)
    return time.time() - float(beat) if beat else None


def worker_alive(age: float | None) -> bool:
    return age is not None and age < settings.HEALTH_WORKER_MAX_AGE_SECONDS


def calendly_subscription(r: redis.Redis | None = None) -> dict:
    """The last `calendly_webhooks check` (beat, every 15 min), as recorded: {"state": "unknown"} before the first."""
    subscription = (r or _redis()).get(SUBSCRIPTION_KEY)
    return json.loads(subscription) if subscription else {"state": "unknown"}


def calendly_subscription_ok(sub: dict) -> bool:
    return sub.get("state") in ("active", "unknown")


def hubspot_ok(status: dict) -> bool:
    return status["state"] != "broken" and not status.get("daily_limit_until")  # daily limit: paused till reset


def sync_queue() -> dict:
    """The HubSpot sync outbox: pending depth, dead letters, when the oldest pending row last moved (None: empty)."""
    return BookingSync.objects.aggregate(
        pending=Count("pk", filter=Q(state__in=["pending", "in_flight"])),
        dead=Count("pk", filter=Q(state="dead")),
        oldest=Min("updated_at", filter=Q(state__in=["pending", "in_flight"])),
    )


def deal_read_state() -> dict | None:
    return DealSyncState.objects.filter(name="deals").values("dead", "failures", "last_error", "cursor").first()


def health_report() -> tuple[bool, dict]:
    checks: dict = {}
    healthy = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = {"ok": True}
    except Exception as exc:  # noqa: BLE001
        checks["database"] = {"ok": False, "error": type(exc).__name__}
        return False, checks

    r = _redis()
    try:
        r.ping()
        checks["redis"] = {"ok": True}
        age = worker_heartbeat_age(r)
        fresh = worker_alive(age)
        checks["worker"] = {"ok": fresh, "heartbeat_age_seconds": round(age, 1) if age is not None else None}
        healthy &= fresh
        sub = calendly_subscription(r)
        sub_ok = calendly_subscription_ok(sub)
        checks["calendly_subscription"] = {"ok": sub_ok, **sub}
        healthy &= sub_ok
    except redis.RedisError as exc:
        checks["redis"] = {"ok": False, "error": type(exc).__name__}
        healthy = False

    latest = WebhookDelivery.objects.filter(origin=WebhookDelivery.Origin.WEBHOOK).order_by("-received_at").values_list("received_at", flat=True).first()
    checks["last_delivery"] = {"ok": True, "age_seconds": round((timezone.now() - latest).total_seconds(), 1) if latest else None}

    hubspot = connection_status()
    hubspot_fine = hubspot_ok(hubspot)
    checks["hubspot"] = {"ok": hubspot_fine, **hubspot}
    healthy &= hubspot_fine

    queue = sync_queue()
    oldest_age = (timezone.now() - queue["oldest"]).total_seconds() if queue["oldest"] else 0
    outbox_ok = oldest_age < settings.HEALTH_OUTBOX_MAX_AGE_SECONDS
    checks["outbox"] = {"ok": outbox_ok, "depth": queue["pending"], "oldest_pending_age_seconds": round(oldest_age, 1)}
    checks["dead_letters"] = {"ok": True, "count": queue["dead"]}
    healthy &= outbox_ok
    deals = deal_read_state()
    deals_ok = not (deals and deals["dead"])  # failing HUBSPOT_MAX_ATTEMPTS times in a row
    checks["deal_read"] = {"ok": deals_ok, "failures": deals["failures"] if deals else 0,
                           "last_error": (deals or {}).get("last_error", "")[:200],
                           "cursor": deals["cursor"].isoformat() if deals and deals["cursor"] else None}
    healthy &= deals_ok
    return bool(healthy), checks


def details_allowed(request) -> bool:
    """The detailed report names services and queue depths: staff sessions or the metrics token only."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        return True
    token = settings.METRICS_TOKEN
    return bool(token) and hmac.compare_digest(request.headers.get("Authorization", ""), f"Bearer {token}")


@require_GET
def healthz(request):
    """Liveness for anyone (load balancers, uptime checks): the status, nothing else.

    `?details=1` (or /healthz/details) adds every check, for staff or the metrics token.
    """
    if request.GET.get("details"):
        return healthz_details(request)
    healthy, _checks = health_report()
    return JsonResponse({"status": "ok" if healthy else "unhealthy"}, status=200 if healthy else 503)


@require_GET
def healthz_details(request):
    if not details_allowed(request):
        return JsonResponse({"detail": "health details need a staff login or Authorization: Bearer <METRICS_TOKEN>"},
                            status=403)
    healthy, checks = health_report()
    return JsonResponse({"status": "ok" if healthy else "unhealthy", "checks": checks}, status=200 if healthy else 503)
