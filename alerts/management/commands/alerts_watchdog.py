import logging
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections
from django.utils import timezone

from alerts.services.alerts import alerts_watchdog_pass

logger = logging.getLogger("sourcebook.alerts")


class Command(BaseCommand):
    help = ("Watch the Celery heartbeat from outside Celery and send the worker-heartbeat alert (fired, repeated, "
            "resolved) straight to the ops destinations: a missing worker cannot send its own alert. Runs in a loop "
            "every ALERTS_WATCHDOG_SECONDS (Procfile: watchdog); --once for cron.")

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="One check, then exit.")

    def handle(self, *args, once=False, **options):
        watching_since = None if once else timezone.now()  # the loop starts beside the worker: give it time
        while True:
            try:
                for key, event in alerts_watchdog_pass(watching_since=watching_since):
                    self.stdout.write(f"{key}: {event}")
            except Exception:  # noqa: BLE001 - the database may be restarting: keep watching, try again next round
                if once:
                    raise
                logger.exception("alerts watchdog pass failed")
            if once:
                return
            time.sleep(settings.ALERTS_WATCHDOG_SECONDS)
            close_old_connections()  # a long-lived process: drop a connection the database closed meanwhile
