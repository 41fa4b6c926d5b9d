import json
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from attribution.links import link_lint, links_scan
from attribution.services import ruleset_current

EXTENSIONS = {".md", ".markdown", ".html", ".htm", ".txt"}


class Command(BaseCommand):
    help = "Check UTM tags on links to our booking domains in markdown/HTML/text; exit 1 on findings."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", help="Files or directories, or - for stdin.")
        parser.add_argument("--format", choices=["text", "json"], default="text")
        parser.add_argument("--domain", action="append", help="Domain to check (repeatable); default SOURCEBOOK_LINK_DOMAINS.")

    def handle(self, *args, paths, format, domain, **options):
        domains = domain or settings.SOURCEBOOK_LINK_DOMAINS
        ruleset = ruleset_current()
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
            self.stderr.write(f"{links} links checked, {len(results)} findings")
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
