"""Start-up guards: with DEBUG off, Sourcebook refuses to run on the public development secrets.

Registered as Django system checks (tag `sourcebook_secrets`, run by `check`, `check --deploy`,
runserver and every command that checks) and run again by the WSGI module and the Celery app:
gunicorn never runs checks, and Celery ignores their result.
"""

from __future__ import annotations

import sys

from django.conf import settings
from django.core import checks

TAG = "sourcebook_secrets"
MIN_SECRET_KEY_LENGTH = 50
GENERATE = 'python -c "import secrets; print(secrets.token_urlsafe(50))"'


def secret_problems() -> list[str]:
    """One line per refused setting (empty with DEBUG on: development may use the defaults)."""
    if settings.DEBUG:
        return []
    problems = []
    key = settings.SECRET_KEY or ""
    if not key or key == settings.DEV_SECRET_KEY:
        problems.append(f"SECRET_KEY is unset (the public development default); set it to a random value: {GENERATE}")
    elif len(key) < MIN_SECRET_KEY_LENGTH:
        problems.append(f"SECRET_KEY is {len(key)} characters, fewer than {MIN_SECRET_KEY_LENGTH}; "
                        f"set it to a random value: {GENERATE}")
    keys = list(settings.CALENDLY_WEBHOOK_SIGNING_KEYS or [])
    if not keys or settings.DEV_SIGNING_KEY in keys:
        problems.append("CALENDLY_WEBHOOK_SIGNING_KEYS is unset or holds the development key "
                        f"{settings.DEV_SIGNING_KEY!r}: forged webhooks would be accepted; set it to the signing key "
                        f"of your Calendly webhook subscription (a new one: {GENERATE})")
    elif any(not k.strip() for k in keys):
        problems.append("CALENDLY_WEBHOOK_SIGNING_KEYS has a blank entry; give comma-separated keys, e.g. old-key,new-key")
    return problems


@checks.register(TAG)
def check_secrets(app_configs=None, **kwargs):
    return [checks.Error(line, id=f"sourcebook.E00{i}") for i, line in enumerate(secret_problems(), start=1)]


# gunicorn's WORKER_BOOT_ERROR: its master stops ("Worker failed to boot") instead of respawning forever.
BOOT_ERROR = 3


def refuse_unsafe_start(component: str) -> None:
    """Exit with one line per problem (WSGI module, Celery worker/beat). Needs settings, not apps."""
    problems = secret_problems()
    if problems:
        for line in problems:
            print(f"error: {component} refuses to start: {line}", file=sys.stderr, flush=True)
        raise SystemExit(BOOT_ERROR)
