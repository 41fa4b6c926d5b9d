import json
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from attribution.links import link_lint, links_scan
from attribution.rules import rules_from_defaults
from attribution.ruleset import ruleset_current

EXTENSIONS = {".md", ".markdown", ".html", ".htm", ".txt"}


def ruleset_defaults():
    """The default rules (attribution/defaults.py), compiled in memory: no database needed."""
    return rules_from_defaults(brand_names=settings.SOURCEBOOK_BRAND_NAMES,
                               question_pattern=settings.SELF_REPORTED_QUESTION_PATTERN)


def ruleset_for_lint(rules: str):
    """`database`: the admin-edited rules; `defaults`: never touches a database; `auto`: the database's
    rules when it answers, else the defaults (a content repository's CI has no PostgreSQL)."""
    if rules == "defaults":
        return ruleset_defaults(), "defaults"
    try:
        return ruleset_current(), "database"
    except DatabaseError:
        if rules == "database":
            raise CommandError("the database is not reachable; use --rules defaults to lint with the default rules")
        return ruleset_defaults(), "defaults"


class Command(BaseCommand):
    help = "Check UTM tags on links to our booking domains in markdown/HTML/text; exit 1 on findings."
    # Runs in a content repository's CI: no system checks (no secrets there), no PostgreSQL or Redis
    # needed (manage.py skips its service preflight for this command).
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", help="Files or directories, or - for stdin.")
        parser.add_argument("--format", choices=["text", "json"], default="text")
        parser.add_argument("--domain", action="append", help="Domain to check (repeatable); default SOURCEBOOK_LINK_DOMAINS.")
        parser.add_argument("--rules", choices=["auto", "database", "defaults"], default="auto",
                            help="auto (default): the admin-edited rules when the database answers, else the defaults; "
                                 "defaults: never connect to a database.")

    def handle(self, *args, paths, format, domain, rules, **options):
        domains = domain or settings.SOURCEBOOK_LINK_DOMAINS
        ruleset, origin = ruleset_for_lint(rules)
        results, links = [], 0
        for name, text in self._sources(paths):
            for hit in links_scan(text, domains=domains):
                links += 1
                for finding in link_lint(hit.url, ruleset=ruleset):
                    results.append({"file": name, "line": hit.line, "col": hit.col, "code": finding.code,
                                    "message": finding.message, "url": hit.url})
        if format == "json":
            self.stdout.write(json.dumps(results, indent=2))
        else:
            for r in results:
                self.stdout.write(f"{r['file']}:{r['line']}:{r['col']}: {r['code']} {r['message']}")
            self.stderr.write(f"{links} links checked, {len(results)} findings ({origin} rules)")
        if results:
            sys.exit(1)

    def _sources(self, paths):
        for raw in paths:
            if raw == "-":
                yield "<stdin>", sys.stdin.read()
                continue
            path = Path(raw)
            if not path.exists():
                raise CommandError(f"no such file or directory: {raw}")
            files = sorted(p for p in path.rglob("*") if p.suffix.lower() in EXTENSIONS) if path.is_dir() else [path]
            for file in files:
                yield str(file), file.read_text(errors="replace")
