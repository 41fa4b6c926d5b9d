"""Shared benchmark plumbing: a throwaway database, the app under gunicorn on a free port, machine facts.

Everything here is deliberately explicit so a benchmark measures what it says:

* `fresh_database(db)` drops and recreates `db` and migrates it with `manage.py migrate`
  (DATABASE_URL in the environment), so no run sees another run's rows.
* `gunicorn(db, ...)` starts `gunicorn project.wsgi` with *command-line flags only*: the project's
  `gunicorn.conf.py` (owned by ops, read by default from the working directory) is replaced by
  the empty `bench/gunicorn_empty.conf.py`, so a change there cannot silently change a benchmark.
  No access log, no control socket, no worker recycling (`--max-requests 0`).
* `app_root` lets a benchmark run against another checkout (e.g. a scratch copy with a candidate
  change in /tmp/benchcopy) with the same harness, database handling and load generator.
"""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PG_HOST = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
PG_ADMIN = f"{PG_HOST}/postgres"
EMPTY_GUNICORN_CONF = Path(__file__).resolve().parent / "gunicorn_empty.conf.py"
SIGNING_KEY = "bench-key"
# The Redis database the app under test uses (DB 14 unless BENCH_REDIS_URL says; runs side by side pick their own).
BENCH_REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url(db: str) -> str:
    return f"{PG_HOST}/{db}"


def bench_env(db: str, **extra) -> dict:
    """Production-like settings (DEBUG=0) for a bench database; `extra` wins."""
    return {
        **os.environ,
        "DATABASE_URL": database_url(db),
        "REDIS_URL": BENCH_REDIS_URL,
        "CELERY_BROKER_URL": BENCH_REDIS_URL,
        "DEBUG": "0",
        "SECRET_KEY": "bench-" + "x" * 60,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_HSTS_SECONDS": "0",
        "CALENDLY_WEBHOOK_SIGNING_KEYS": SIGNING_KEY,
        "LOG_LEVEL": "WARNING",
        "WEB_ACCESS_LOG": "",
        "PYTHONDONTWRITEBYTECODE": "1",  # never leave __pycache__ behind in another checkout
        **extra,
    }


def empty_database(db: str) -> None:
    """Drop and create `db` (empty: no tables)."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db}"')


def fresh_database(db: str, *, root: Path = ROOT, env: dict | None = None) -> float:
    """Drop/create `db` and migrate it; returns the seconds it took."""
    started = time.monotonic()
    empty_database(db)
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v0"], cwd=root, env=env or bench_env(db), check=True)
    return time.monotonic() - started


def run_sql(db: str, statements: list[str]) -> None:
    """Apply ad-hoc SQL to a bench database (e.g. `--sql "DROP INDEX ..."` to try a schema change)."""
    if statements:
        with psycopg.connect(database_url(db), autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)


def drop_database(db: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


@dataclass
class Server:
    url: str
    pid: int
    command: list[str]
    log_path: str
    flags: dict = field(default_factory=dict)

    def describe(self) -> str:
        f = self.flags
        kind = f"{f['workers']} {f['worker_class']} worker{'s' if f['workers'] != 1 else ''}"
        if f["worker_class"] == "gthread":
            kind += f" x {f['threads']} threads"
        return kind

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError), open(self.log_path, errors="replace") as fh:
            return "".join(fh.readlines()[-lines:])
        return ""


def gunicorn_command(port: int, *, workers: int, threads: int, worker_class: str, extra_args: list[str] = (),
                     wsgi: str = "project.wsgi") -> list[str]:
    return [
        PY, "-m", "gunicorn", wsgi,
        "--config", str(EMPTY_GUNICORN_CONF),  # not ./gunicorn.conf.py: every flag is below
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers),
        "--worker-class", worker_class,
        "--threads", str(threads),
        "--backlog", "2048",
        "--keep-alive", "30",  # the load generator keeps its connections open
        "--timeout", "60",
        "--graceful-timeout", "5",
        "--max-requests", "0",  # no worker recycling in the middle of a run
        "--log-level", "warning",
        "--error-logfile", "-",  # access log stays off (the default without --access-logfile)
        "--no-control-socket",  # the default ~/.gunicorn/gunicorn.ctl is shared with any other gunicorn
        *extra_args,
    ]


@contextlib.contextmanager
def gunicorn(db: str, *, workers: int = 2, threads: int = 4, worker_class: str = "gthread", extra_env: dict | None = None):
    """The app under gunicorn on a free port; yields its base URL (kept for bench/faults.py and friends)."""
    with serve(db, workers=workers, threads=threads, worker_class=worker_class, extra_env=extra_env) as server:
        yield server.url


@contextlib.contextmanager
def serve(db: str, *, workers: int = 2, threads: int = 1, worker_class: str = "sync", extra_env: dict | None = None,
          extra_args: list[str] = (), root: Path = ROOT, ready_timeout: float = 30.0, wsgi: str = "project.wsgi"):
    """Start the app (or another WSGI app, e.g. bench/baseline) under gunicorn on a free port; yields a
    `Server` (its `.url`) once it answers."""
    port = free_port()
    env = bench_env(db, **(extra_env or {}))
    cmd = gunicorn_command(port, workers=workers, threads=threads, worker_class=worker_class, extra_args=list(extra_args),
                           wsgi=wsgi)
    with gunicorn_running(cmd, port=port, env=env, root=root, ready_timeout=ready_timeout) as server:
        server.flags = {"workers": workers, "threads": threads, "worker_class": worker_class, "extra_args": list(extra_args)}
        yield server


@contextlib.contextmanager
def gunicorn_running(cmd: list[str], *, port: int, env: dict, root: Path = ROOT, ready_timeout: float = 30.0):
    """Run a gunicorn command (see `gunicorn_command`) in its own session until the block ends; yields a
    `Server` once the webhook URL answers. Shared by the benchmarks and the tests that need a real gunicorn."""
    log = tempfile.NamedTemporaryFile(prefix="bench-gunicorn-", suffix=".log", delete=False)
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(url=f"http://127.0.0.1:{port}", pid=proc.pid, command=cmd, log_path=log.name)
    try:
        _wait_ready(server, proc, ready_timeout)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def _wait_ready(server: Server, proc: subprocess.Popen, timeout: float) -> None:
    """Ready = Django answers on the webhook URL (OPTIONS: no body, no database, no warning log line)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}:\n{server.log_tail()}")
        try:
            if httpx.request("OPTIONS", f"{server.url}/webhooks/calendly/", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not become ready within {timeout:.0f}s:\n{server.log_tail()}")


def machine() -> str:
    """One line: cores, CPU, memory, Python, PostgreSQL, gunicorn."""
    with psycopg.connect(PG_ADMIN) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0].split()[0]
    cpu = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as fh:
        cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), "")
    mem = ""
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo") as fh:
        mem = f", {round(int(fh.readline().split()[1]) / 1024 / 1024)} GiB"
    try:
        from importlib.metadata import version

        gunicorn_version = f", gunicorn {version('gunicorn')}"
    except Exception:  # noqa: BLE001
        gunicorn_version = ""
    return (f"{os.cpu_count()} cores ({cpu or platform.machine()}){mem}, Python {platform.python_version()}, "
            f"PostgreSQL {pg}{gunicorn_version}")


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of unsorted values; 0.0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]
