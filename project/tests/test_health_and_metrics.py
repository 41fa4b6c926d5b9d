import subprocess
import sys
import time

import pytest
from django.conf import settings

from project.health import HEARTBEAT_KEY

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_redis")]


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("ops", is_staff=True))
    return client


def test_healthz_is_503_without_a_worker_heartbeat(client, staff_client):
    assert client.get("/healthz").status_code == 503
    response = client.get("/healthz/details")
    assert response.status_code == 503
    assert response.json()["checks"]["worker"]["ok"] is False


def test_healthz_is_200_when_everything_is_fine(staff_client, clean_redis):
    client = staff_client
    clean_redis.set(HEARTBEAT_KEY, str(time.time()))
    assert client.get("/healthz").status_code == 200
    data = client.get("/healthz?details=1").json()
    assert data["status"] == "ok"
    assert set(data["checks"]) >= {"database", "redis", "worker", "hubspot", "outbox", "dead_letters", "last_delivery",
                                   "calendly_subscription"}


def test_healthz_reports_a_broken_hubspot_connection(staff_client, clean_redis, settings):
    client = staff_client
    from hubspot_sync.services.connection import connection_mark_broken

    settings.HUBSPOT_ACCESS_TOKEN = "pat-revoked"
    clean_redis.set(HEARTBEAT_KEY, str(time.time()))
    connection_mark_broken(reason="BAD_REFRESH_TOKEN")
    response = client.get("/healthz/details")
    assert response.status_code == 503 and response.json()["checks"]["hubspot"]["state"] == "broken"


def test_metrics_need_an_allowed_address_or_token(client, settings, post_signed):
    from bookings.samples import invitee_payload

    post_signed(invitee_payload())
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 403
    settings.METRICS_TOKEN = "scrape-me"
    body = client.get("/metrics", REMOTE_ADDR="10.1.2.3", headers={"Authorization": "Bearer scrape-me"}).content.decode()
    assert 'sourcebook_webhook_deliveries_total{result="processed"}' in body
    assert "sourcebook_hubspot_outbox_depth" in body
    local = client.get("/metrics").content.decode()
    assert "django_http_requests_total_by_method_total" in local or "django_http_requests" in local


def test_check_deploy_is_clean_with_production_settings():
    env = {"DEBUG": "0", "SECRET_KEY": "x" * 64 + "-production-secret-value", "ALLOWED_HOSTS": "sourcebook.example",
           "CALENDLY_WEBHOOK_SIGNING_KEYS": "a-real-calendly-signing-key", "SOURCEBOOK_ENV_FILE": "",
           "SOURCEBOOK_SKIP_PREFLIGHT": "1", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
