"""POST /collect/: CORS for our sites only, 4 KiB bodies, bots dropped, the server parses the UTMs."""

import json

import pytest
from django.test import Client
from prometheus_client import REGISTRY

from journeys.models import Touch
from journeys.services import visitor_id_new
from journeys.tests.conftest import CHROME, ORIGIN

pytestmark = pytest.mark.django_db
URL = "/collect/"


@pytest.fixture
def csrf_client():
    return Client(enforce_csrf_checks=True)


def beacon(client, body, *, origin=ORIGIN, ua=CHROME, content_type="text/plain;charset=UTF-8", meta=None, **headers):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    if origin:
        headers["Origin"] = origin
    if ua:
        headers["User-Agent"] = ua
    return client.post(URL, data=data, content_type=content_type, headers=headers, **(meta or {}))


def counted(result):
    return REGISTRY.get_sample_value("sourcebook_journey_requests_total", {"result": result}) or 0


def body(**overrides):
    return {"v": visitor_id_new(), "url": "https://www.example.com/blog/post?utm_source=LinkedIn&utm_medium=paid_social"
            "&utm_campaign=spring_202606&gclid=G1", "ref": "https://www.linkedin.com/feed/", "t": 1780000000000,
            "k": "session", **overrides}


def test_it_stores_a_touch_from_a_text_plain_beacon(csrf_client):
    sent = body()
    response = beacon(csrf_client, sent)
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    touch = Touch.objects.get()
    assert (touch.visitor_id, touch.kind, touch.source, touch.medium, touch.campaign, touch.channel) == (
        sent["v"], "session", "linkedin", "paid_social", "spring_202606", "Paid Social")
    assert touch.click_ids == {"gclid": "G1"}
    assert (touch.landing_path, touch.referrer_host) == ("/blog/post", "linkedin.com")
    assert touch.client_at is not None


def test_it_accepts_application_json(csrf_client):
    assert beacon(csrf_client, body(), content_type="application/json").status_code == 204
    assert Touch.objects.count() == 1


def test_it_forbids_a_request_without_origin(csrf_client):
    before = counted("forbidden")
    response = beacon(csrf_client, body(), origin=None)
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response
    assert Touch.objects.count() == 0
    assert counted("forbidden") == before + 1


def test_it_forbids_another_origin(csrf_client):
    response = beacon(csrf_client, body(), origin="https://evil.example.net")
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response


def test_it_answers_a_preflight_for_an_allowed_origin_only(csrf_client):
    ok = csrf_client.options(URL, headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
    assert ok.status_code == 204
    assert ok["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in ok["Access-Control-Allow-Methods"]
    assert csrf_client.options(URL, headers={"Origin": "https://evil.example.net"}).status_code == 403


def test_it_refuses_a_body_over_4_kib_and_counts_it(csrf_client):
    before = counted("too_large")
    response = beacon(csrf_client, json.dumps(body(url="https://www.example.com/?" + "a" * 5000)))
    assert response.status_code == 413
    assert Touch.objects.count() == 0
    assert counted("too_large") == before + 1


@pytest.mark.parametrize("bad", [b"not json", b"[1,2]", json.dumps({"v": "nope", "url": "https://x.example/"}),
                                 json.dumps({"v": "sbv_" + "a" * 22, "url": "javascript:alert(1)"}),
                                 json.dumps({"v": "sbv_" + "a" * 22, "url": 5}), b"\xff\xfe",
                                 json.dumps({"v": "sbv_" + "a" * 22, "url": "https://x.example/\u0000?utm_source=a"}),
                                 '{"v": "sbv_aaaaaaaaaaaaaaaaaaaaaa", "url": "https://x.example/", "ref": "https://\\ud800.example/"}'])
def test_it_refuses_a_malformed_body_and_counts_it(csrf_client, bad):
    before = counted("malformed")
    assert beacon(csrf_client, bad).status_code == 400
    assert Touch.objects.count() == 0
    assert counted("malformed") == before + 1


@pytest.mark.parametrize("ua", ["Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
                                "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
                                "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                                "Mozilla/5.0 (compatible; Microsoft Office SafeLinks)", "curl/8.5.0", ""])
def test_bots_get_204_but_are_not_stored(csrf_client, ua):
    before = counted("bot")
    assert beacon(csrf_client, body(), ua=ua).status_code == 204
    assert Touch.objects.count() == 0
    assert counted("bot") == before + 1


def test_head_is_204_not_stored_and_counted_as_a_bot(csrf_client):
    before = counted("bot")
    assert csrf_client.head(URL, headers={"Origin": ORIGIN, "User-Agent": CHROME}).status_code == 204
    assert Touch.objects.count() == 0 and counted("bot") == before + 1


def test_a_prefetch_is_not_stored(csrf_client):
    assert beacon(csrf_client, body(), **{"Sec-Purpose": "prefetch"}).status_code == 204
    assert Touch.objects.count() == 0


def test_headless_chromium_is_a_browser(csrf_client):
    assert beacon(csrf_client, body(), ua=CHROME).status_code == 204
    assert Touch.objects.count() == 1


def test_the_ip_is_never_stored_raw(csrf_client):
    beacon(csrf_client, body(), meta={"REMOTE_ADDR": "203.0.113.77"})
    beacon(csrf_client, body(), meta={"REMOTE_ADDR": "203.0.113.9"})
    first, second = Touch.objects.order_by("id")
    assert first.ip_hash and first.ip_hash == second.ip_hash  # same /24, same day
    assert "203.0.113" not in json.dumps([f.value_from_object(first) for f in Touch._meta.fields], default=str)


def test_a_visitor_id_in_utm_term_is_not_a_utm(csrf_client):
    vid = visitor_id_new()
    beacon(csrf_client, body(v=vid, url=f"https://www.example.com/?utm_term={vid}", ref=""))
    assert Touch.objects.get().channel == "Direct"


def test_an_internal_referrer_is_not_a_referrer(csrf_client):
    beacon(csrf_client, body(url="https://www.example.com/pricing", ref="https://www.example.com/blog"))
    touch = Touch.objects.get()
    assert (touch.referrer_host, touch.channel) == ("", "Direct")


def test_an_unparseable_referrer_is_ignored_and_an_unparseable_url_refused(csrf_client):
    assert beacon(csrf_client, body(url="https://www.example.com/", ref="http://[::1")).status_code == 204
    assert Touch.objects.get().referrer_host == ""
    assert beacon(csrf_client, body(url="http://[::1/x")).status_code == 400


def test_an_ai_assistant_referrer_is_its_channel(csrf_client):
    beacon(csrf_client, body(url="https://www.example.com/", ref="https://chatgpt.com/"))
    assert Touch.objects.get().channel == "AI Assistants"


def test_collect_is_listed_in_metrics(client):
    beacon(client, b"nope")
    text = client.get("/metrics").content.decode()
    assert 'sourcebook_journey_requests_total{result="malformed"}' in text
