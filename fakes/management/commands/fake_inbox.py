import logging

from django.core.management.base import BaseCommand

from fakes.inbox import SmtpCatcher, WebhookReceiver


class Command(BaseCommand):
    requires_system_checks = []  # runs on a bare checkout, like the other fakes
    help = "Run a local SMTP catcher and webhook receiver; read what Sourcebook sent at http://HOST:HTTP_PORT/."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--smtp-port", type=int, default=8027)
        parser.add_argument("--http-port", type=int, default=8028)

    def handle(self, *args, **o):
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command at INFO
        def echo(m):
            self.stdout.write(f"\n=== mail {m.received_at}: {m.subject!r} to {', '.join(m.recipients)}\n{m.text}\n")

        smtp = SmtpCatcher(host=o["host"], port=o["smtp_port"], echo=echo).start()
        web = WebhookReceiver(host=o["host"], port=o["http_port"], smtp=smtp)
        self.stdout.write(f"local inbox: SMTP on {o['host']}:{smtp.port}, read it at {web.url}/ "
                          f"(webhook posts: {web.json_url()})")
        try:
            web.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            smtp.stop()
