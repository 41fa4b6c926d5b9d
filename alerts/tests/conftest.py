import pytest

from alerts.models import Destination
from fakes.inbox import SmtpCatcher, WebhookReceiver


@pytest.fixture
def smtp_catcher():
    catcher = SmtpCatcher().start()
    yield catcher
    catcher.stop()


@pytest.fixture
def webhook_receiver():
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def destination(webhook_receiver, db):
    """A destination posting to the local webhook receiver, subscribed to everything."""

    def make(name="ops hook", **fields):
        return Destination.objects.create(name=name, url=fields.pop("url", webhook_receiver.json_url()), **fields)

    return make
