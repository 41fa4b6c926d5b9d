"""Shared benchmark plumbing: a throwaway database, the app under gunicorn, machine facts."""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_env(db: str, **extra) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{db}",
        "REDIS_URL": "redis://127.0.0.1:6379/14",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/14",
        "DEBUG": "0",
        "SECRET_KEY": "bench-" + "x" * 60,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_HSTS_SECONDS": "0",
        "CALENDLY_WEBHOOK_SIGNING_KEYS": "bench-key",
        "LOG_LEVEL": "WARNING",
        "WEB_ACCESS_LOG": "",
        **extra,
    }


def fresh_database(db: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db}"')
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=bench_env(db), check=True)


def drop_database(db: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


@contextlib.contextmanager
def gunicorn(db: str, *, workers: int = 2, threads: int = 4, worker_class: str = "gthread", extra_env: dict | None = None):
    port = free_port()
    env = bench_env(db, **(extra_env or {}))
    cmd = [PY, "-m", "gunicorn", "project.wsgi", "-b", f"127.0.0.1:{port}", "-w", str(workers), "--threads", str(threads),
           "-k", worker_class, "--log-level", "warning", "--keep-alive", "30"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{url}/webhooks/calendly/", timeout=1).status_code == 405:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError("gunicorn did not become ready")
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def machine() -> str:
    with psycopg.connect(PG_ADMIN) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
    return f"{os.cpu_count()} cores, Python {platform.python_version()}, PostgreSQL {pg}, {platform.machine()}"


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]
