import os
import subprocess
import sys
from pathlib import Path

from project.preflight import unreachable_services

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args, **env):
    environment = {**os.environ, **env}
    environment.pop("SOURCEBOOK_SKIP_PREFLIGHT", None)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60)


def test_manage_py_names_each_unreachable_service_in_one_line():
    result = run_manage("migrate", DATABASE_URL="postgres://postgres@127.0.0.1:5999/x", REDIS_URL="redis://127.0.0.1:6999/0")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("error: PostgreSQL is not reachable at postgres://postgres@127.0.0.1:5999/x")
    assert "pg_ctlcluster" in lines[0]
    assert lines[1].startswith("error: Redis is not reachable at redis://127.0.0.1:6999/0")
    assert "Traceback" not in result.stderr + result.stdout


def test_passwords_in_urls_are_not_printed():
    result = run_manage("showmigrations", DATABASE_URL="postgres://bob:s3cret@127.0.0.1:5999/x")
    assert "s3cret" not in result.stderr and "bob:***@" in result.stderr


def test_a_healthy_setup_has_no_problems(settings):
    url = "postgres://postgres@127.0.0.1:5432/postgres"
    assert unreachable_services(database_url=url, redis_url=settings.REDIS_URL) == []


def test_the_web_process_refuses_to_start_without_its_services():
    env = {**os.environ, "DATABASE_URL": "postgres://postgres@127.0.0.1:5999/x"}
    result = subprocess.run([sys.executable, "-c", "import project.wsgi"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "PostgreSQL is not reachable" in result.stderr and "Traceback" not in result.stderr
