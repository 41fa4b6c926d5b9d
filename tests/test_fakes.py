"""The fakes live in `fakes/`, outside the runtime apps, and run on a bare checkout."""

import ast
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
RUNTIME_APPS = ["bookings", "attribution", "hubspot_sync", "project"]


def bare_env() -> dict:
    """DEBUG off, no secrets, no .env: what the system checks (project/checks.py) refuse for other commands."""
    keep = {"PATH", "HOME", "LANG", "TMPDIR"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(SOURCEBOOK_ENV_FILE="", DEBUG="0", PYTHONUNBUFFERED="1", DJANGO_SETTINGS_MODULE="project.settings")
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("command", ["fake_hubspot", "fake_calendly"])
def test_the_fake_commands_show_help_on_a_bare_checkout(command):
    result = subprocess.run([sys.executable, "manage.py", command, "--help"], cwd=ROOT, env=bare_env(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"manage.py {command}" in result.stdout


@pytest.mark.parametrize("command, path", [("fake_hubspot", "/__fake__/state"), ("fake_calendly", "/__fake__/state")])
def test_the_fake_commands_serve_with_debug_off_and_no_secrets(command, path):
    port = free_port()
    process = subprocess.Popen([sys.executable, "manage.py", command, "--port", str(port)], cwd=ROOT, env=bare_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.stderr.read()  # refused by the system checks?
            try:
                assert httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2).status_code == 200
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the fake never answered"
                time.sleep(0.2)
    finally:
        process.terminate()
        process.wait(timeout=10)


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def test_no_runtime_module_imports_the_fakes():
    offenders = [
        str(path.relative_to(ROOT))
        for app in RUNTIME_APPS
        for path in (ROOT / app).rglob("*.py")
        if "tests" not in path.relative_to(ROOT).parts
        and any(m == "fakes" or m.startswith("fakes.") for m in imported_modules(path))
    ]
    assert offenders == []
