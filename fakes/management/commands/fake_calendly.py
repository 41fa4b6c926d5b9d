from django.core.management.base import BaseCommand

from fakes.calendly import FakeCalendlyServer


class Command(BaseCommand):
    # The fakes run on a bare checkout: no database, no secrets, DEBUG off (project/checks.py would refuse).
    requires_system_checks = []
    help = "Run the in-project fake Calendly API (no database needed)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8026)
        parser.add_argument("--events", type=int, default=200)
        parser.add_argument("--invitees-per-event", type=int, default=1)
        parser.add_argument("--rate-limit", type=int, default=500, help="Requests per minute (Calendly paid plans: 500).")
        parser.add_argument("--window-seconds", type=float, default=60.0)
        parser.add_argument("--token", default="fake-calendly-token")

    def handle(self, *args, **o):
        server = FakeCalendlyServer(host=o["host"], port=o["port"], events=o["events"], invitees_per_event=o["invitees_per_event"],
                                    rate_limit=o["rate_limit"], window_seconds=o["window_seconds"], token=o["token"])
        self.stdout.write(f"fake Calendly on {server.url} (token {o['token']}, {o['events']} events, {o['rate_limit']} req/min)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
