"""Production refuses the public defaults: check --deploy, runserver, the WSGI module and Celery."""

import os
import subprocess
import sys

import pytest
from django.conf import settings

GOOD_SECRET = "p" * 64 + "-production-secret-value"
GOOD_KEY = "a-real-calendly-signing-key-0123456789"
GENERATE = "secrets.token_urlsafe(50)"


def prod_env(**extra):
    """DEBUG unset (the default), no .env file, no services needed."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SOURCEBOOK_ENV_FILE": "", "SOURCEBOOK_SKIP_PREFLIGHT": "1",
           "ALLOWED_HOSTS": "sourcebook.example", "SECRET_KEY": GOOD_SECRET, "CALENDLY_WEBHOOK_SIGNING_KEYS": GOOD_KEY,
           "DJANGO_SETTINGS_MODULE": "project.settings",
           "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/sourcebook"),
           "REDIS_URL": os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")}
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def run(args, env, timeout=60):
    return subprocess.run(args, cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=timeout)


def check_deploy(**extra):
    return run([sys.executable, "manage.py", "check", "--deploy"], prod_env(**extra))


@pytest.mark.parametrize("secret", [None, "dev-only-insecure-secret-key-change-me-in-production-0123456789", "short-" * 5])
def test_check_deploy_refuses_a_public_or_weak_secret_key(secret):
    result = check_deploy(SECRET_KEY=secret)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if "sourcebook.E" in line]
    assert len(lines) == 1, result.stderr
    assert "SECRET_KEY" in lines[0] and GENERATE in lines[0]


@pytest.mark.parametrize("keys", [None, "dev-signing-key", "new-key, dev-signing-key", ""])
def test_check_deploy_refuses_a_missing_or_development_signing_key(keys):
    result = check_deploy(CALENDLY_WEBHOOK_SIGNING_KEYS=keys)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if "sourcebook.E" in line]
    assert len(lines) == 1, result.stderr
    assert "CALENDLY_WEBHOOK_SIGNING_KEYS" in lines[0] and GENERATE in lines[0]


def test_debug_is_off_by_default_and_real_secrets_pass():
    result = run([sys.executable, "-c", "import django;django.setup();from django.conf import settings;print(settings.DEBUG)"],
                 prod_env(DEBUG=None))
    assert result.stdout.strip() == "False", result.stderr
    assert check_deploy().returncode == 0


def test_debug_on_keeps_the_development_defaults():
    result = run([sys.executable, "manage.py", "check"], prod_env(DEBUG="1", SECRET_KEY=None, CALENDLY_WEBHOOK_SIGNING_KEYS=None))
    assert result.returncode == 0, result.stderr


def test_runserver_refuses():
    result = run([sys.executable, "manage.py", "runserver", "--noreload", "127.0.0.1:0"], prod_env(SECRET_KEY=None), timeout=60)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_the_wsgi_module_refuses_to_load():
    """gunicorn never runs the checks: importing project.wsgi must refuse, with one line per problem."""
    result = run([sys.executable, "-c", "import project.wsgi"], prod_env(CALENDLY_WEBHOOK_SIGNING_KEYS="dev-signing-key"))
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [line for line in result.stderr.strip().splitlines() if line.startswith("error:")]
    assert "gunicorn refuses to start: CALENDLY_WEBHOOK_SIGNING_KEYS" in result.stderr
    ok = run([sys.executable, "-c", "import project.wsgi"], prod_env())
    assert ok.returncode == 0, ok.stderr


def test_gunicorn_refuses_to_boot():
    result = run([sys.executable, "-m", "gunicorn", "project.wsgi", "-c", "gunicorn.conf.py", "--bind", "127.0.0.1:0",
                  "--workers", "1"], prod_env(SECRET_KEY="too-short", WEB_ACCESS_LOG=""), timeout=90)
    assert result.returncode != 0
    assert "gunicorn refuses to start: SECRET_KEY is 9 characters" in result.stderr


@pytest.mark.parametrize("command", [["worker", "--pool", "solo"], ["beat", "--schedule", "/tmp/sourcebook-guards-beat"]])
def test_celery_refuses_to_start(command):
    celery = os.path.join(os.path.dirname(sys.executable), "celery")
    redis_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    result = run([celery, "-A", "project", *command, "-l", "warning"],
                 prod_env(SECRET_KEY=None, CELERY_BROKER_URL=redis_url), timeout=90)
    assert result.returncode != 0
    assert "celery refuses to start: SECRET_KEY is unset" in result.stderr


def test_signing_keys_are_trimmed_so_rotation_works():
    code = "import django;django.setup();from django.conf import settings;print(settings.CALENDLY_WEBHOOK_SIGNING_KEYS)"
    result = run([sys.executable, "-c", code], prod_env(CALENDLY_WEBHOOK_SIGNING_KEYS=" old-key , new-key "))
    assert result.stdout.strip() == "['old-key', 'new-key']", result.stderr


@pytest.mark.parametrize("keys", ["old-key,,new-key", "old-key, ", "old-key,  ,new-key"])
def test_a_blank_signing_key_entry_is_refused(keys):
    result = check_deploy(CALENDLY_WEBHOOK_SIGNING_KEYS=keys)
    assert result.returncode != 0
    assert "ImproperlyConfigured: CALENDLY_WEBHOOK_SIGNING_KEYS has a blank entry" in result.stderr


def test_the_time_zone_setting_is_read_and_checked():
    code = "import django;django.setup();from django.conf import settings;print(settings.TIME_ZONE)"
    assert run([sys.executable, "-c", code], prod_env(SOURCEBOOK_TIME_ZONE="Europe/Berlin")).stdout.strip() == "Europe/Berlin"
    assert run([sys.executable, "-c", code], prod_env(TIME_ZONE="Asia/Tokyo")).stdout.strip() == "Asia/Tokyo"  # the old name
    result = check_deploy(SOURCEBOOK_TIME_ZONE="Mars/Olympus_Mons")
    assert result.returncode != 0 and "SOURCEBOOK_TIME_ZONE='Mars/Olympus_Mons' is not an IANA time zone" in result.stderr
