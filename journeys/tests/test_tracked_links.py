"""Tracked links: saved from the builder (POST /api/links/), /l/<slug> redirects with UTMs and the visitor id."""

from urllib.parse import parse_qs, urlsplit

import pytest

from journeys.models import Touch, TrackedLink
from journeys.services import visitor_id_new, visitor_id_valid
from journeys.tests.conftest import CHROME
from journeys.tests.factories import TrackedLinkFactory

pytestmark = pytest.mark.django_db
API = "/api/links/"
GOOD = {"base_url": "https://www.example.com/pricing", "source": "linkedin", "medium": "social",
        "campaign": "spring_launch_202606", "content": "carousel_b"}


def test_creating_a_link_needs_the_marketing_permission(client):
    assert client.post(API, GOOD, content_type="application/json").status_code in (401, 403)
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_user("sales", password="pw-123456789"))
    assert client.post(API, GOOD, content_type="application/json").status_code == 403


def test_it_creates_a_link_and_returns_slug_short_url_and_built_url(marketing, settings):
    settings.SOURCEBOOK_PUBLIC_URL = "https://sb.example.com"
    response = marketing.post(API, GOOD, content_type="application/json")
    assert response.status_code == 201, response.content
    data = response.json()
    link = TrackedLink.objects.get()
    assert data["slug"] == link.slug and data["short_url"] == f"https://sb.example.com/l/{link.slug}"
    assert data["url"] == ("https://www.example.com/pricing?utm_source=linkedin&utm_medium=social"
                           "&utm_campaign=spring_launch_202606&utm_content=carousel_b")
    assert link.owner == marketing.user and link.click_count == 0


def test_it_refuses_brand_and_banned_values_like_the_builder(marketing):
    response = marketing.post(API, {**GOOD, "source": "sourcebook", "medium": "website"}, content_type="application/json")
    assert response.status_code == 400
    assert {(e["field"], e["code"]) for e in response.json()["errors"]} >= {("source", "banned-value"),
                                                                              ("medium", "banned-value")}
    assert TrackedLink.objects.count() == 0


def test_a_click_redirects_with_utms_and_a_new_visitor_id_cookie(client):
    link = TrackedLinkFactory(destination="https://www.example.com/pricing?plan=pro&utm_source=old")
    response = client.get(f"/l/{link.slug}", headers={"User-Agent": CHROME, "Referer": "https://www.linkedin.com/"})
    assert response.status_code == 302
    target = urlsplit(response["Location"])
    query = parse_qs(target.query)
    assert (target.netloc, target.path) == ("www.example.com", "/pricing")
    assert query["plan"] == ["pro"] and query["utm_source"] == ["linkedin"] and query["utm_medium"] == ["social"]
    vid = query["sb_vid"][0]
    assert visitor_id_valid(vid)
    cookie = response.cookies["sb_vid"]
    assert cookie.value == vid and cookie["samesite"] == "Lax" and int(cookie["max-age"]) >= 399 * 86400
    link.refresh_from_db()
    assert link.click_count == 1
    touch = Touch.objects.get()
    assert (touch.kind, touch.visitor_id, touch.source, touch.channel, touch.link_id) == (
        "click", vid, "linkedin", "Organic Social", link.pk)
    assert touch.referrer_host == "linkedin.com"


def test_a_returning_clicker_keeps_their_id(client):
    link = TrackedLinkFactory()
    first = client.get(f"/l/{link.slug}", headers={"User-Agent": CHROME})
    second = client.get(f"/l/{link.slug}", headers={"User-Agent": CHROME})
    assert parse_qs(urlsplit(first["Location"]).query)["sb_vid"] == parse_qs(urlsplit(second["Location"]).query)["sb_vid"]
    assert Touch.objects.values("visitor_id").distinct().count() == 1


def test_a_calendly_destination_gets_the_id_in_its_tracking(client):
    link = TrackedLinkFactory(destination="https://calendly.com/acme/demo")
    query = parse_qs(urlsplit(client.get(f"/l/{link.slug}", headers={"User-Agent": CHROME})["Location"]).query)
    assert visitor_id_valid(query["utm_term"][0]) and "sb_vid" not in query
    termed = TrackedLinkFactory(destination="https://calendly.com/acme/demo", utm_term="founders")
    query = parse_qs(urlsplit(client.get(f"/l/{termed.slug}", headers={"User-Agent": CHROME})["Location"]).query)
    assert query["utm_term"] == ["founders"] and visitor_id_valid(query["salesforce_uuid"][0])


def test_an_unparseable_referer_does_not_break_a_click(client):
    link = TrackedLinkFactory()
    response = client.get(f"/l/{link.slug}", headers={"User-Agent": CHROME, "Referer": "http://[::1"})
    assert response.status_code == 302
    assert Touch.objects.get().referrer_host == ""


def test_an_unknown_slug_is_the_styled_404(client):
    response = client.get("/l/nope", headers={"User-Agent": CHROME})
    assert response.status_code == 404
    assert b"There is no page here" in response.content


def test_with_consent_required_no_cookie_and_no_id(client, settings):
    settings.JOURNEY_CONSENT_REQUIRED = True
    link = TrackedLinkFactory()
    response = client.get(f"/l/{link.slug}", headers={"User-Agent": CHROME})
    assert response.status_code == 302
    assert "sb_vid" not in response.cookies and "sb_vid" not in response["Location"]
    assert "utm_source=linkedin" in response["Location"]
    link.refresh_from_db()
    assert link.click_count == 1


def test_with_consent_required_an_existing_cookie_is_neither_read_renewed_nor_passed_on(client, settings):
    settings.JOURNEY_CONSENT_REQUIRED = True
    link = TrackedLinkFactory(destination="https://calendly.com/acme/demo")
    known = visitor_id_new()
    client.cookies["sb_vid"] = known
    response = client.get(f"/l/{link.slug}", headers={"User-Agent": CHROME})
    assert response.status_code == 302
    assert "sb_vid" not in response.cookies  # not renewed, not set
    assert known not in response["Location"] and "sbv_" not in response["Location"]  # not in utm_term either
    assert Touch.objects.get().visitor_id == ""  # counted, not joined to anyone


@pytest.mark.parametrize("ua", ["Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
                                "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)"])
def test_bots_are_redirected_but_not_counted(client, ua):
    link = TrackedLinkFactory()
    response = client.get(f"/l/{link.slug}", headers={"User-Agent": ua})
    assert response.status_code == 302 and "sb_vid" not in response.cookies
    link.refresh_from_db()
    assert link.click_count == 0 and Touch.objects.count() == 0


def test_head_is_not_a_click(client):
    link = TrackedLinkFactory()
    assert client.head(f"/l/{link.slug}", headers={"User-Agent": CHROME}).status_code == 302
    link.refresh_from_db()
    assert link.click_count == 0


def test_the_builder_page_saves_and_lists_links_with_click_counts(marketing):
    link = TrackedLinkFactory(click_count=7)
    page = marketing.get("/dashboard/links/")
    assert page.status_code == 200
    assert f"/l/{link.slug}".encode() in page.content and b">7<" in page.content
    response = marketing.post("/dashboard/links/", {**GOOD, "save": "1"})
    assert response.status_code == 200
    saved = TrackedLink.objects.exclude(pk=link.pk).get()
    assert f"/l/{saved.slug}".encode() in response.content


def test_a_link_deleted_while_cached_still_records_the_click(client):
    link = TrackedLinkFactory()
    client.get(f"/l/{link.slug}", headers={"User-Agent": CHROME})
    TrackedLink.objects.filter(pk=link.pk).delete()
    assert client.get(f"/l/{link.slug}", headers={"User-Agent": CHROME}).status_code == 302  # ≤ 30 s stale
    assert Touch.objects.filter(link__isnull=True, kind="click").count() == 2  # SET_NULL on delete, then none
    assert client.get(f"/l/{link.slug}", headers={"User-Agent": CHROME}).status_code == 404


def test_a_link_deleted_after_it_was_cached_keeps_the_click_without_the_link(client):
    link = TrackedLinkFactory()
    assert client.get(f"/l/{link.slug}", headers={"User-Agent": CHROME}).status_code == 302  # now cached
    TrackedLink.objects.filter(pk=link.pk).delete()
    assert client.get(f"/l/{link.slug}", headers={"User-Agent": CHROME}).status_code == 302  # the cached copy
    assert [t.link_id for t in Touch.objects.order_by("id")] == [None, None]  # SET_NULL, then no link to count
    assert client.get(f"/l/{link.slug}", headers={"User-Agent": CHROME}).status_code == 404  # dropped from the cache
