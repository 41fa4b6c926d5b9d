from django.core.management.base import BaseCommand

from alerts.channels import Message
from alerts.models import Destination
from alerts.services.outbox import notify

NAME = "Local inbox (demo)"


class Command(BaseCommand):
    help = ("`make run`: a destination that mails the local SMTP catcher (`manage.py fake_inbox`), subscribed to "
            "everything, with a welcome message queued. Does nothing when any destination exists.")

    def add_arguments(self, parser):
        parser.add_argument("--smtp", default="127.0.0.1:8027", help="host:port of the SMTP catcher")
        parser.add_argument("--to", default="marketing@example.com")

    def handle(self, *args, smtp, to, **options):
        if Destination.objects.exists():
            return
        destination = Destination.objects.create(
            name=NAME, url=f"mailto://{smtp}?from=sourcebook@example.com&to={to}")
        text = ("Sourcebook is running. Alerts and the weekly digest for this demo arrive in this local inbox.\n"
                "Add Slack, Teams, e-mail or webhook destinations in the admin: Alerts and digest > Destinations.")
        notify("test", Message(subject="Sourcebook: your local inbox works", text=text, markdown=text,
                               html="<p>" + text.replace("\n", "</p><p>") + "</p>"),
               destinations=[destination], key="demo:welcome")
        self.stdout.write(f"demo destination {NAME!r}: mail to {to} via the SMTP catcher on {smtp}")
