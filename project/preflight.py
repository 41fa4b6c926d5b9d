"""Fail fast, in one line, when PostgreSQL or Redis cannot be reached.

Called by manage.py and the WSGI entry point before Django touches either service, so a
new user sees "PostgreSQL is not reachable at ..." instead of a traceback wall.
"""

import os
import sys
from urllib.parse import urlsplit, urlunsplit

START_HINTS = {
    "PostgreSQL": "start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "Redis": "start it with: redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save \"\" --appendonly no",
}


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


def unreachable_services(*, database_url: str, redis_url: str, create_database: bool = False) -> list[str]:
    """Return one human line per service that cannot be reached (empty list = all good)."""
    problems = []
    problem = _check_postgres(database_url, create_database=create_database)
    if problem:
        problems.append(problem)
    problem = _check_redis(redis_url)
    if problem:
        problems.append(problem)
    return problems


def _check_postgres(url: str, *, create_database: bool) -> str | None:
    import psycopg

    parts = urlsplit(url)
    dbname = parts.path.lstrip("/") or "postgres"
    try:
        psycopg.connect(url, connect_timeout=3).close()
        return None
    except psycopg.OperationalError as exc:
        if f'database "{dbname}" does not exist' in str(exc) and create_database:
            admin_url = urlunsplit(parts._replace(path="/postgres"))
            try:
                with psycopg.connect(admin_url, connect_timeout=3, autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{dbname}"')
                return None
            except psycopg.Error as create_exc:
                return f"PostgreSQL: could not create database {dbname!r} at {_redact(url)}: {create_exc}".strip()
        if f'database "{dbname}" does not exist' in str(exc):
            return f"PostgreSQL is up but database {dbname!r} does not exist at {_redact(url)}; run `make run` or createdb {dbname}"
        return f"PostgreSQL is not reachable at {_redact(url)}; {START_HINTS['PostgreSQL']}"


def _check_redis(url: str) -> str | None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
        return None
    except redis.RedisError:
        return f"Redis is not reachable at {_redact(url)}; {START_HINTS['Redis']}"


def check_or_exit(*, create_database: bool = False) -> None:
    """Exit with status 1 and one line per unreachable service."""
    if os.environ.get("SOURCEBOOK_SKIP_PREFLIGHT"):
        return
    import environ
    from pathlib import Path

    environ.Env.read_env(Path(__file__).resolve().parent.parent / ".env", overwrite=False)
    database_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/sourcebook")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    problems = unreachable_services(database_url=database_url, redis_url=redis_url, create_database=create_database)
    if problems:
        for line in problems:
            print(f"error: {line}", file=sys.stderr)
        sys.exit(1)
