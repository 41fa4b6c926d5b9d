"""/healthz liveness vs details, /metrics without DEBUG, Prometheus multiprocess mode."""

import os
import subprocess
import sys
import textwrap
import time

import pytest
import redis
from django.conf import settings

from project.health import HEARTBEAT_KEY

pytestmark = pytest.mark.django_db


@pytest.fixture
def heartbeat():
    r = redis.Redis.from_url(settings.REDIS_URL)
    r.set(HEARTBEAT_KEY, str(time.time()))
    yield
    r.delete(HEARTBEAT_KEY)


def test_liveness_is_status_only_for_anyone(client, heartbeat):
    response = client.get("/healthz", REMOTE_ADDR="203.0.113.5")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.parametrize("url", ["/healthz/details", "/healthz?details=1"])
def test_details_need_staff_or_the_metrics_token(client, django_user_model, settings, heartbeat, url):
    assert client.get(url).status_code == 403
    assert "checks" not in client.get(url).json()
    client.force_login(django_user_model.objects.create_user("marketer"))  # not staff
    assert client.get(url).status_code == 403
    settings.METRICS_TOKEN = "scrape-me"
    assert client.get(url, headers={"Authorization": "Bearer nope"}).status_code == 403
    data = client.get(url, headers={"Authorization": "Bearer scrape-me"}).json()
    assert data["status"] == "ok" and "database" in data["checks"]
    client.force_login(django_user_model.objects.create_user("ops", is_staff=True))
    settings.METRICS_TOKEN = ""
    assert "worker" in client.get(url).json()["checks"]


def test_health_is_exempt_from_the_https_redirect(client, settings, heartbeat):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/dashboard/").status_code == 301  # the redirect is on...
    assert client.get("/healthz").status_code == 200  # ...but not for probes
    assert client.get("/healthz/details").status_code == 403
    assert client.get("/healthz?details=1").status_code == 403


def run_python(code, **env):
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SOURCEBOOK_ENV_FILE": "", "SOURCEBOOK_SKIP_PREFLIGHT": "1",
            "SECRET_KEY": "s" * 60, "CALENDLY_WEBHOOK_SIGNING_KEYS": "real-key", "DJANGO_SETTINGS_MODULE": "project.settings",
            "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none", "REDIS_URL": "redis://127.0.0.1:1/0"}
    base.update(env)
    base = {k: v for k, v in base.items() if v is not None}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=settings.BASE_DIR, env=base,
                          capture_output=True, text=True, timeout=60)


METRICS_AS_LOCALHOST = """
    import django; django.setup()
    from django.test import RequestFactory
    from project.metrics import metrics_view
    request = RequestFactory().get("/metrics", REMOTE_ADDR="127.0.0.1")
    print(metrics_view(request).status_code)
    request = RequestFactory().get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_AUTHORIZATION="Bearer tok-123")
    print(metrics_view(request).status_code)
"""


def test_with_debug_off_metrics_need_the_token_even_from_localhost():
    """Behind a proxy on the same host every visitor is 127.0.0.1: no default allow-list without DEBUG."""
    result = run_python(METRICS_AS_LOCALHOST, METRICS_TOKEN="tok-123")
    assert result.stdout.split() == ["403", "200"], result.stderr
    explicit = run_python(METRICS_AS_LOCALHOST, METRICS_TOKEN="tok-123", METRICS_ALLOWED_IPS="127.0.0.1")
    assert explicit.stdout.split() == ["200", "200"], explicit.stderr
    debug = run_python(METRICS_AS_LOCALHOST, METRICS_TOKEN="tok-123", DEBUG="1")
    assert debug.stdout.split() == ["200", "200"], debug.stderr


def test_the_allow_list_uses_the_trusted_proxy_client_ip(client, settings):
    settings.METRICS_ALLOWED_IPS = ["10.9.9.9"]
    settings.TRUSTED_PROXY_COUNT = 1
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="10.9.9.9").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 403


MULTIPROCESS = """
    import multiprocessing, os
    import django; django.setup()
    from django.test import RequestFactory

    def work(n):
        from project.metrics import DELIVERIES
        for _ in range(n):
            DELIVERIES.labels(result="processed").inc()

    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=work, args=(n,)) for n in (3, 4)]
    [w.start() for w in workers]; [w.join() for w in workers]
    from project.metrics import metrics_view
    body = metrics_view(RequestFactory().get("/metrics", HTTP_AUTHORIZATION="Bearer tok")).content.decode()
    print([line for line in body.splitlines() if line.startswith('sourcebook_webhook_deliveries_total{result="processed"}')])
"""


def test_counters_are_summed_across_worker_processes(tmp_path):
    result = run_python(MULTIPROCESS, METRICS_TOKEN="tok", PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    assert result.stdout.strip() == "['sourcebook_webhook_deliveries_total{result=\"processed\"} 7.0']", result.stderr


def test_multiprocess_mode_still_exports_the_queue_gauges(client, monkeypatch, tmp_path):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    body = client.get("/metrics").content.decode()
    assert "sourcebook_hubspot_outbox_depth" in body and "sourcebook_deliveries_unprocessed" in body


def test_gunicorn_conf_prepares_and_cleans_the_multiprocess_dir(tmp_path, monkeypatch):
    import runpy

    stale = tmp_path / "counter_999.db"
    stale.write_bytes(b"old")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    conf = runpy.run_path(str(settings.BASE_DIR / "gunicorn.conf.py"))
    conf["on_starting"](None)
    assert tmp_path.is_dir() and not stale.exists()
    conf["child_exit"](None, type("W", (), {"pid": 12345})())  # must not raise
