"""The snippet in a real browser, on a landing site served from a different origin than Sourcebook.

A visitor lands with UTMs and a gclid, moves to a second page without them; the Calendly link, the inline
embed, a link added later and a `Calendly.initInlineWidget` call all carry the landing UTMs and the visitor
id, and /collect/ stored the touches. Nothing talks to a third party: calendly.com is never loaded.
"""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from journeys.models import Touch
from tests.browser.waiting import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("rules")]


@pytest.fixture
def rules():
    """Transactional tests empty every table, seeded rules included: seed them again."""
    from attribution.services import defaults_install

    defaults_install()

PAGE = """<!doctype html><html><head><title>{title}</title>
<script src="{sourcebook}/sourcebook.js" async {attrs}></script></head><body>
<h1>{title}</h1>
<a id="book" href="https://calendly.com/acme/demo">Book a demo</a>
<a id="own" href="https://calendly.com/acme/demo?utm_source=newsletter&utm_medium=email&utm_campaign=may_202605&utm_term=founders">Tagged</a>
<a id="next" href="/second.html">Next page</a>
<div id="embed" class="calendly-inline-widget" data-url="https://calendly.com/acme/intro?hide_gdpr_banner=1"></div>
<script>
setTimeout(function () {{
  var a = document.createElement("a"); a.id = "late"; a.href = "https://calendly.com/acme/late"; a.textContent = "late";
  document.body.appendChild(a);
  window.Calendly = {{ initInlineWidget: function (o) {{ window.__inline = o.url; }} }};
  Calendly.initInlineWidget({{ url: "https://calendly.com/acme/js", parentElement: document.body }});
}}, 150);
</script>
</body></html>"""


class LandingSite:
    """A tiny marketing site on its own port (another origin than the live Sourcebook)."""

    def __init__(self, sourcebook: str, attrs: str = ""):
        pages = {path: PAGE.format(title=title, sourcebook=sourcebook, attrs=attrs).encode()
                 for path, title in (("/landing.html", "Landing"), ("/second.html", "Second"))}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                body = pages.get(urlsplit(self.path).path)
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(body or b"not found")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def landing(live_server, settings):
    site = LandingSite(live_server.url)
    settings.SOURCEBOOK_SITE_ORIGINS = [site.origin]
    yield site
    site.close()


def query(url):
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_the_landing_utms_and_the_visitor_id_reach_every_calendly_link(browser, landing, live_server):
    assert urlsplit(landing.origin).netloc != urlsplit(live_server.url).netloc
    context = browser.new_context()
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    outside = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((landing.origin, live_server.url)) else None)
    page.goto(f"{landing.origin}/landing.html?utm_source=linkedin&utm_medium=paid_social"
              "&utm_campaign=spring_launch_202606&gclid=G123")
    vid = page.wait_for_function("window.sourcebook && sourcebook.visitorId()").json_value()
    assert vid.startswith("sbv_") and len(vid) == 26

    landed = wait_for(lambda: Touch.objects.filter(visitor_id=vid).first())
    assert (landed.kind, landed.source, landed.medium, landed.campaign, landed.channel) == (
        "session", "linkedin", "paid_social", "spring_launch_202606", "Paid Social")
    assert landed.click_ids == {"gclid": "G123"} and landed.landing_path == "/landing.html"

    page.click("#next")
    page.wait_for_url("**/second.html")
    page.wait_for_function("document.getElementById('late') && window.__inline")
    page.wait_for_function("document.getElementById('late').getAttribute('href').indexOf('utm_term') > 0")
    assert page.evaluate("sourcebook.visitorId()") == vid  # the cookie / localStorage kept it

    expected = {"utm_source": "linkedin", "utm_medium": "paid_social", "utm_campaign": "spring_launch_202606",
                "utm_term": vid}
    book = query(page.get_attribute("#book", "href"))
    assert book == expected
    embed = page.get_attribute("#embed", "data-url")
    assert query(embed) == {**expected, "hide_gdpr_banner": "1"}
    assert query(page.get_attribute("#late", "href")) == expected  # added later: MutationObserver
    assert query(page.evaluate("window.__inline")) == expected  # Calendly.initInlineWidget wrapped
    # A link with UTMs of its own keeps them; the id goes to salesforce_uuid since it has a utm_term.
    own = query(page.get_attribute("#own", "href"))
    assert own["utm_source"] == "newsletter" and own["utm_term"] == "founders" and own["salesforce_uuid"] == vid
    # A second run changes nothing.
    assert page.evaluate("[...document.querySelectorAll('a,[data-url]')].every(e => { const h = e.getAttribute("
                         "e.hasAttribute('href') ? 'href' : 'data-url'); return sourcebook.rewrite(h) === h; })")

    # Same session, nothing new on the second page: no second touch. A new tab is a new session: one more.
    time.sleep(0.5)
    assert Touch.objects.filter(visitor_id=vid).count() == 1
    other = context.new_page()
    other.goto(f"{landing.origin}/second.html")
    other.wait_for_function("window.sourcebook && sourcebook.visitorId()")
    wait_for(lambda: Touch.objects.filter(visitor_id=vid).count() == 2)
    assert list(Touch.objects.filter(visitor_id=vid).order_by("at").values_list("kind", "channel")) == [
        ("session", "Paid Social"), ("session", "Direct")]
    assert errors == [] and outside == []
    context.close()

    # 4. The visitor books through that link: Calendly's webhook carries the link's tracking. The booking is
    #    attributed to the landing touch, and its journey lists the touches, then the booking, in order.
    booking = book_through_webhook(live_server, "BR1", email="lee@example.com", tracking=book)
    assert (booking.channel, booking.source, booking.attributed_by) == ("Paid Social", "linkedin", "booking")
    assert (booking.visitor_id, booking.first_touch_channel, booking.last_touch_channel) == (vid, "Paid Social", "Paid Social")
    journey = journey_of(live_server, "lee@example.com")
    assert [(e["type"], e.get("channel") or e["attribution"]["channel"]) for e in journey["events"]] == [
        ("touch", "Paid Social"), ("touch", "Direct"), ("booking", "Paid Social")]

    # 5. The same visitor books again through a bare Calendly link (only the visitor id, no UTMs): the
    #    journey attributes it.
    bare = book_through_webhook(live_server, "BR2", email="lee@example.com", tracking={"utm_term": vid})
    assert (bare.channel, bare.campaign, bare.attributed_by) == ("Paid Social", "spring_launch_202606", "journey")


def book_through_webhook(live_server, invitee_id, *, email, tracking):
    """Calendly's signed webhook, posted to the live Sourcebook as Calendly would."""
    import httpx
    from django.utils import timezone

    from bookings.models import Booking
    from bookings.samples import encode, invitee_payload, signed_headers
    from conftest import TEST_KEY

    body = encode(invitee_payload(invitee_id=invitee_id, email=email, booked_at=timezone.now(), tracking=tracking))
    answer = httpx.post(f"{live_server.url}/webhooks/calendly/", content=body, headers=signed_headers(body, key=TEST_KEY))
    assert answer.status_code == 200, answer.text
    return Booking.objects.get(invitee_uri__endswith=f"/{invitee_id}")


def journey_of(live_server, email):
    from django.test import Client

    from bookings.tests.factories import staff_user

    client = Client()
    client.force_login(staff_user("journey-reader", "view_dashboard"))
    answer = client.get("/api/journeys/", {"email": email})
    assert answer.status_code == 200, answer.content
    return answer.json()


def test_with_consent_required_nothing_is_stored_or_sent_until_consent(browser, live_server, settings):
    site = LandingSite(live_server.url, attrs='data-consent="required"')
    settings.SOURCEBOOK_SITE_ORIGINS = [site.origin]
    try:
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{site.origin}/landing.html?utm_source=linkedin&utm_medium=social&utm_campaign=spring_launch_202606")
        page.wait_for_function("window.sourcebook")
        page.wait_for_timeout(400)
        assert page.evaluate("document.cookie") == ""
        assert page.evaluate("localStorage.length + sessionStorage.length") == 0
        assert page.get_attribute("#book", "href") == "https://calendly.com/acme/demo"
        assert Touch.objects.count() == 0
        page.evaluate("sourcebook.consent()")
        vid = page.evaluate("sourcebook.visitorId()")
        assert vid.startswith("sbv_") and "sb_vid=" in page.evaluate("document.cookie")
        wait_for(lambda: Touch.objects.filter(visitor_id=vid, source="linkedin").exists())
        assert query(page.get_attribute("#book", "href"))["utm_term"] == vid
        context.close()
    finally:
        site.close()


def test_with_respect_gpc_a_gpc_browser_is_never_tracked(browser, live_server, settings):
    site = LandingSite(live_server.url, attrs="data-respect-gpc")
    settings.SOURCEBOOK_SITE_ORIGINS = [site.origin]
    try:
        context = browser.new_context()
        context.add_init_script("Object.defineProperty(navigator, 'globalPrivacyControl', {get: () => true})")
        page = context.new_page()
        page.goto(f"{site.origin}/landing.html?utm_source=linkedin&utm_medium=social&utm_campaign=spring_launch_202606")
        page.wait_for_function("window.sourcebook")
        page.evaluate("sourcebook.consent()")
        page.wait_for_timeout(400)
        assert page.evaluate("document.cookie") == "" and page.evaluate("localStorage.length") == 0
        assert page.get_attribute("#book", "href") == "https://calendly.com/acme/demo"
        assert Touch.objects.count() == 0
        context.close()
    finally:
        site.close()
