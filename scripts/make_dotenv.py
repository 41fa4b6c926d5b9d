#!/usr/bin/env python3
"""`make run`, first run: write a git-ignored `.env` with random secrets for this machine.

Sourcebook refuses to start on the public development SECRET_KEY and Calendly signing key
(project/checks.py). This writes real ones once and prints the signing key once (paste it where
your Calendly webhook subscription's signing key goes). An existing `.env` is never overwritten:
only the variables it lacks are added. Standard library only, no Django: it runs before anything.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def dotenv_ensure(path: Path) -> dict[str, str]:
    """Add the missing local secrets to `path`; returns what was added."""
    text = path.read_text() if path.exists() else ""
    # `KEY=` with no value (a copied .env.example) counts as missing: that line is dropped and rewritten.
    text = re.sub(r"^\s*(?:export\s+)?(SECRET_KEY|CALENDLY_WEBHOOK_SIGNING_KEYS|SOURCEBOOK_PROFILE)\s*=\s*$\n?", "", text,
                  flags=re.M)
    present = set(re.findall(r"^\s*(?:export\s+)?([A-Z0-9_]+)\s*=", text, re.M))
    wanted = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "CALENDLY_WEBHOOK_SIGNING_KEYS": secrets.token_urlsafe(32),
        # Plain HTTP on 127.0.0.1: no HTTPS redirect, no secure-only cookies, ALLOWED_HOSTS 127.0.0.1/localhost.
        "SOURCEBOOK_PROFILE": "local",
    }
    added = {k: v for k, v in wanted.items() if k not in present}
    if not added:
        return {}
    lines = [] if not text or text.endswith("\n") else [""]
    if not text:
        lines.append("# Written by `make run` (scripts/make_dotenv.py) for this machine only; never commit it.")
    lines += [f"{k}={v}" for k, v in added.items()]
    path.write_text(text + "\n".join(lines) + "\n")
    path.chmod(0o600)
    return added


def main() -> int:
    path = Path(os.environ.get("SOURCEBOOK_ENV_FILE") or ROOT / ".env")
    added = dotenv_ensure(path)
    if added:
        print(f"Wrote {', '.join(added)} to {path} (git-ignored).")
    if "CALENDLY_WEBHOOK_SIGNING_KEYS" in added:
        print(f"  Calendly webhook signing key (shown once; it stays in {path.name}): {added['CALENDLY_WEBHOOK_SIGNING_KEYS']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
