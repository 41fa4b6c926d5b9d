"""`make run`'s local inbox: a destination that mails the SMTP catcher, with a welcome message that arrives."""

import httpx
import pytest
from django.core.management import call_command

from alerts.channels import Message
from alerts.models import Destination
from alerts.services.outbox import notify, send_due
from fakes.inbox import WebhookReceiver

pytestmark = pytest.mark.django_db


def test_demo_inbox_destination_delivers_its_welcome_once(smtp_catcher):
    call_command("demo_inbox", smtp=f"{smtp_catcher.host}:{smtp_catcher.port}")
    call_command("demo_inbox", smtp=f"{smtp_catcher.host}:{smtp_catcher.port}")  # every `make run`: nothing new
    d = Destination.objects.get()
    assert d.ops and d.marketing and d.digest
    assert send_due()["sent"] == 1
    [mail] = smtp_catcher.messages
    assert mail.subject == "Sourcebook: your local inbox works" and "Destinations" in mail.text


def test_the_inbox_page_shows_mail_escaped(smtp_catcher):
    Destination.objects.create(name="m", url=smtp_catcher.mailto())
    notify("ops", Message(subject="<script>alert(1)</script>", text="t", html="<p>campaign &amp; co</p>"))
    send_due()
    web = WebhookReceiver(smtp=smtp_catcher).start()
    try:
        page = httpx.get(web.url + "/").text
        data = httpx.get(web.url + "/messages.json").json()
    finally:
        web.stop()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert data["mail"][0]["subject"] == "<script>alert(1)</script>"
