"""The apprise boundary: which body each service gets, Slack as Block Kit, Teams' card, secrets masked.

apprise's Slack and Teams plugins post to fixed hosts (hooks.slack.com, the Power Automate host): their payloads are
checked at the plugin boundary (requests.post), as nothing here may reach the internet."""

import json
from unittest import mock

import pytest

from alerts.channels import DeliveryFailed, DestinationError, Message, deliver, kind, masked, normalize

SLACK = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"
TEAMS = "workflows://prod-00.westus.logic.azure.com:443/4f2b1a/S3cretSig/"
MSG = Message(subject="Weekly digest", text="text-only body", markdown="*Bookings* 42 (+5)\n• Paid search 20", html="<p>html</p>")


def _posted(url: str) -> dict:
    """The one request the plugin makes (Slack calls requests.request, Teams requests.post)."""
    response = mock.Mock(status_code=200, content=b"ok", text="ok")
    response.json.return_value = {}
    with mock.patch("requests.post", return_value=response) as post, \
            mock.patch("requests.request", return_value=response) as request:
        deliver(normalize(url), MSG)
    [call] = post.call_args_list + request.call_args_list
    return json.loads(call.kwargs["data"])


def test_slack_gets_block_kit_blocks_from_the_markdown():
    payload = _posted(SLACK)
    [attachment] = payload["attachments"]
    assert [b["type"] for b in attachment["blocks"]] == ["header", "section"], payload  # no apprise logo or footer
    rendered = json.dumps(attachment["blocks"])
    assert "Weekly digest" in rendered and "Bookings" in rendered and "Paid search 20" in rendered
    assert "text-only" not in rendered  # the Markdown body, not the text one


def test_slack_keeps_the_users_own_blocks_choice():
    assert normalize(SLACK).endswith("?blocks=yes&footer=no&image=no")
    assert "blocks=yes" not in normalize(SLACK + "?blocks=no")


def test_teams_workflow_gets_an_adaptive_card_with_the_markdown():
    payload = _posted(TEAMS)
    rendered = json.dumps(payload)
    assert "AdaptiveCard" in rendered and "Paid search 20" in rendered and "Weekly digest" in rendered



def test_teams_card_title_is_literal_markdown():
    """The subject carries what links said (a campaign in an alert's title): in the card it is text, not a link."""
    hostile = Message(subject="New Unassigned campaign [win](https://evil.example) *now*", text="t", markdown="m")
    response = mock.Mock(status_code=200, content=b"ok", text="ok")
    with mock.patch("requests.post", return_value=response) as post:
        deliver(normalize(TEAMS), hostile)
    rendered = json.dumps(json.loads(post.call_args.kwargs["data"]))
    assert "[win](https" not in rendered and "*now*" not in rendered
    assert "win" in rendered and "evil.example" in rendered  # escaped, not dropped


@pytest.mark.parametrize("url", ["", "garbage", "http://example.com", "slack://", "ftp://x/y"])
def test_urls_apprise_cannot_send_to_are_refused_with_examples(url):
    with pytest.raises(DestinationError, match="slack://"):
        normalize(url)


@pytest.mark.parametrize(("url", "secret"), [
    (SLACK, "TIiajkdnlazkcOXrIdevi7FQ"),
    (TEAMS, "S3cretSig"),
    ("mailtos://ops:hunter2pass@smtp.example.com?to=lead@example.com", "hunter2pass"),
    ("json://user:pw-s3cret@hooks.example.com/path", "pw-s3cret"),
    # A generic webhook's secret is often its path (Zapier, n8n, Make): apprise's privacy form shows paths.
    ("json://hooks.example.com/hooks/catch/123/s3cretPathTok/", "s3cretPathTok"),
    ("jsons://hooks.example.com/webhook/5f0c-s3cretUuid", "s3cretUuid"),
    ("form://hooks.example.com/s3cretFormTok", "s3cretFormTok"),
])
def test_masked_urls_hide_secrets(url, secret):
    shown = masked(normalize(url))
    assert secret not in shown and shown.split(":", 1)[0] in url
    assert kind(url) != "invalid"


def test_a_refusal_carries_apprises_reason():
    response = mock.Mock(status_code=404, content=b"no_service", text="no_service")
    with mock.patch("requests.request", return_value=response), pytest.raises(DeliveryFailed, match="404|no_service|Slack"):
        deliver(normalize(SLACK), MSG)


def test_a_long_subject_fits_slacks_header_block():
    """Slack refuses a message whose header block holds more than 150 characters (invalid_blocks): an alert's
    subject carries a source, medium or campaign and reaches 250. Cut, it still says what it is about."""
    subject = "[Sourcebook] Still firing: New Unassigned value: " + "a&b " * 50
    response = mock.Mock(status_code=200, content=b"ok", text="ok")
    response.json.return_value = {}
    with mock.patch("requests.request", return_value=response) as request:
        deliver(normalize(SLACK), Message(subject=subject[:250], text="t", markdown="m"))
    [call] = request.call_args_list
    [header, _] = json.loads(call.kwargs["data"])["attachments"][0]["blocks"]
    assert header["type"] == "header" and len(header["text"]["text"]) <= 150, header
    assert header["text"]["text"].startswith("[Sourcebook] Still firing: New Unassigned value: a&amp;b")
