"""The two commands on a fresh machine: `make test`'s tool check, and lint_utms without services."""

import os
import subprocess
import sys

from django.conf import settings

FIXTURES = settings.BASE_DIR / "attribution" / "tests" / "fixtures"
CLOSED = {"DATABASE_URL": "postgres://postgres@127.0.0.1:1/sourcebook", "REDIS_URL": "redis://127.0.0.1:1/0",
          "CELERY_BROKER_URL": "redis://127.0.0.1:1/0"}


def lint(*args):
    """As a content repository's CI runs it: no PostgreSQL, no Redis, no secrets, no .env, DEBUG unset."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SOURCEBOOK_ENV_FILE": "", **CLOSED}
    return subprocess.run([sys.executable, "manage.py", "lint_utms", *args], cwd=settings.BASE_DIR, env=env,
                          capture_output=True, text=True, timeout=60)


def test_lint_utms_runs_without_postgres_or_redis():
    clean = lint(str(FIXTURES / "clean.md"))
    assert clean.returncode == 0, clean.stderr
    assert "0 findings (defaults rules)" in clean.stderr
    assert "not reachable" not in clean.stderr


def test_lint_utms_finds_problems_without_services():
    result = lint(str(FIXTURES / "seed_examples.md"), "--rules", "defaults", "--format", "json")
    assert result.returncode == 1, result.stderr
    assert '"code"' in result.stdout and "Traceback" not in result.stderr


def test_the_defaults_ruleset_lints_like_the_seeded_database(db):
    """The in-memory defaults give the same findings as the rules seeded in the database."""
    from attribution.links import link_lint, links_scan
    from attribution.management.commands.lint_utms import ruleset_defaults
    from attribution.ruleset import ruleset_build

    text = (FIXTURES / "seed_examples.md").read_text()
    urls = [hit.url for hit in links_scan(text, domains=["calendly.com"])]
    assert urls
    seeded, defaults = ruleset_build(), ruleset_defaults()
    for url in urls:
        assert link_lint(url, ruleset=defaults) == link_lint(url, ruleset=seeded), url


def ensure_tools(tmp_path, *tools, uid="1000"):
    """scripts/ensure_tools.sh on a machine without Chromium/npm, as a non-root user."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "id").write_text(f"#!/bin/sh\necho {uid}\n")
    (fake_bin / "id").chmod(0o755)
    return subprocess.run(["/bin/bash", "scripts/ensure_tools.sh", *tools], cwd=settings.BASE_DIR,
                          env={"PATH": str(fake_bin)}, capture_output=True, text=True, timeout=30)


def test_make_test_stops_with_one_line_naming_chromium_and_the_command(tmp_path):
    result = ensure_tools(tmp_path, "chromium", "npm")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: chromium is missing; install it with: sudo apt-get install chromium (or set CHROMIUM_PATH to a Chromium binary)"]


def test_make_test_stops_with_one_line_naming_npm(tmp_path):
    result = ensure_tools(tmp_path, "npm")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["error: npm is missing; install it with: sudo apt-get install nodejs npm"]


def test_present_tools_pass_quietly():
    result = subprocess.run(["scripts/ensure_tools.sh", "chromium", "npm"], cwd=settings.BASE_DIR, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0 and result.stderr == ""


def test_make_test_and_ci_share_the_install_step():
    makefile = (settings.BASE_DIR / "Makefile").read_text()
    ci = (settings.BASE_DIR / ".ci" / "run").read_text()
    assert "scripts/ensure_tools.sh chromium npm" in makefile and "scripts/ensure_tools.sh chromium npm" in ci
    test_rule = next(line for line in makefile.splitlines() if line.startswith("test:"))
    assert test_rule.split(":")[1].split()[0] == "tools-test"  # before anything needs the tools


def _make_dotenv():
    """scripts/make_dotenv.py (what `make run` calls first), loaded from its file."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_dotenv", settings.BASE_DIR / "scripts" / "make_dotenv.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_make_run_writes_a_local_env_once(tmp_path):
    dotenv_ensure = _make_dotenv().dotenv_ensure
    path = tmp_path / ".env"
    added = dotenv_ensure(path)
    assert set(added) == {"SECRET_KEY", "CALENDLY_WEBHOOK_SIGNING_KEYS", "SOURCEBOOK_PROFILE"}
    assert len(added["SECRET_KEY"]) >= 50 and added["CALENDLY_WEBHOOK_SIGNING_KEYS"] != "dev-signing-key"
    first = path.read_text()
    assert dotenv_ensure(path) == {} and path.read_text() == first  # never rewritten
    # The generated file passes the start-up guards (DEBUG unset = off), with plain HTTP on 127.0.0.1.
    code = ("import django;django.setup();from django.conf import settings as s;from project.checks import secret_problems;"
            "print(secret_problems(), s.DEBUG, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.ALLOWED_HOSTS)")
    result = subprocess.run([sys.executable, "-c", code], cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=60,
                            env={"PATH": os.environ.get("PATH", ""), "SOURCEBOOK_ENV_FILE": str(path),
                                 "DJANGO_SETTINGS_MODULE": "project.settings"})
    assert result.stdout.strip() == "[] False False False ['127.0.0.1', 'localhost']", result.stderr


def test_an_existing_env_keeps_its_values(tmp_path):
    dotenv_ensure = _make_dotenv().dotenv_ensure
    path = tmp_path / ".env"
    path.write_text("SECRET_KEY=mine-" + "k" * 60)
    assert set(dotenv_ensure(path)) == {"CALENDLY_WEBHOOK_SIGNING_KEYS", "SOURCEBOOK_PROFILE"}
    assert path.read_text().startswith("SECRET_KEY=mine-" + "k" * 60 + "\n")


def test_a_copied_env_example_gets_real_secrets(tmp_path):
    dotenv_ensure = _make_dotenv().dotenv_ensure
    path = tmp_path / ".env"
    path.write_text((settings.BASE_DIR / ".env.example").read_text())
    assert {"SECRET_KEY", "CALENDLY_WEBHOOK_SIGNING_KEYS"} <= set(dotenv_ensure(path))
    text = path.read_text()
    assert text.count("\nSECRET_KEY=") == 1 and "\nSECRET_KEY=\n" not in text
    assert text.count("\nCALENDLY_WEBHOOK_SIGNING_KEYS=") == 1
