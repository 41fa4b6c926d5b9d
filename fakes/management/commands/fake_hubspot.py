from django.core.management.base import BaseCommand, CommandError

from fakes.hubspot import FakeConfig, FakeHubSpotServer


def _rate(text: str) -> tuple[str, float]:
    code, _, rate = text.partition("=")
    try:
        return code.strip().upper(), float(rate)
    except ValueError:
        raise CommandError(f"--exchange-rate takes CODE=RATE, e.g. EUR=1.08, not {text!r}") from None


class Command(BaseCommand):
    # The fakes run on a bare checkout: no database, no secrets, DEBUG off (project/checks.py would refuse).
    requires_system_checks = []
    help = "Run the in-project fake HubSpot (contract-faithful, faults on demand). No database needed."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8025)
        parser.add_argument("--token", action="append", help="Accepted bearer token (repeatable). Default fake-token.")
        parser.add_argument("--rate-limit", type=int, default=100, help="Requests per 10 s window.")
        parser.add_argument("--fail-rate", type=float, default=0.0, help="Fraction of 500/502/503 answers.")
        parser.add_argument("--429-rate", dest="rate_429", type=float, default=0.0, help="Fraction of extra 429s.")
        parser.add_argument("--timeout-rate", type=float, default=0.0, help="Fraction applied but answered too late.")
        parser.add_argument("--timeout-sleep", type=float, default=15.0)
        parser.add_argument("--latency-ms", type=float, default=0.0)
        parser.add_argument("--preset-properties", action="store_true", help="Pre-create the sourcebook_* properties.")
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument("--exchange-rate", action="append", default=[], metavar="CODE=RATE",
                            help="A portal exchange rate to the company currency (USD), e.g. EUR=1.08 (repeatable).")

    def handle(self, *args, **o):
        config = FakeConfig(tokens=set(o["token"] or ["fake-token"]), rate_limit=o["rate_limit"], fail_rate=o["fail_rate"],
                            rate_429=o["rate_429"], timeout_rate=o["timeout_rate"], timeout_sleep=o["timeout_sleep"],
                            latency_ms=o["latency_ms"], seed=o["seed"],
                            exchange_rates=dict(_rate(text) for text in o["exchange_rate"]))
        server = FakeHubSpotServer(host=o["host"], port=o["port"], config=config, preset_properties=o["preset_properties"])
        self.stdout.write(f"fake HubSpot on {server.url} (token: {', '.join(sorted(config.tokens))}; "
                          f"state at {server.url}/__fake__/state)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
