"""Bookings attributed from their visitor's journey (issue 13): the fold reads first / last non-direct touch
within JOURNEY_LOOKBACK_DAYS, a booking without UTMs leaves (direct), manual wins, touches arriving after the
webhook still join, any arrival order gives the same attribution, reattribute follows rule changes."""

import datetime as dt
import json

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from attribution.models import ChannelRule
from attribution.ruleset import ruleset_changed
from attribution.services import bookings_assign_attribution, bookings_reattribute
from bookings import calendly
from bookings.models import Booking, WebhookDelivery
from bookings.samples import encode, invitee_payload
from bookings.services.intake import delivery_receive
from bookings.samples import signed_headers
from journeys.models import Touch
from journeys.selectors import journey_get
from journeys.services import visitor_id_new
from journeys.tests.conftest import CHROME, ORIGIN

pytestmark = pytest.mark.django_db
LINKEDIN = "https://www.example.com/blog/post?utm_source=LinkedIn&utm_medium=paid_social&utm_campaign=spring_202606"
KEY = "test-signing-key"


@pytest.fixture
def eager(settings):
    import journeys.tasks  # noqa: F401 - registered, as in a worker, so eager mode runs it here
    from project.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = True
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def committed(django_capture_on_commit_callbacks, eager):
    """Run each step's on-commit work (the re-fold task, eagerly) as a real request's commit would."""

    def run(step, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return step(*args, **kwargs)

    return run


def beacon(vid, url=LINKEDIN, ref=""):
    response = Client(enforce_csrf_checks=True).post(
        "/collect/", data=json.dumps({"v": vid, "url": url, "ref": ref, "k": "session"}), content_type="text/plain",
        headers={"Origin": ORIGIN, "User-Agent": CHROME})
    assert response.status_code == 204
    return response


def webhook(payload):
    """The real intake (`delivery_receive`), signed as Calendly signs."""
    body = encode(payload)
    headers = {k.lower(): v for k, v in signed_headers(body, key=KEY).items()}
    receipt = delivery_receive(body=body, headers=headers, remote_addr="127.0.0.1")
    assert receipt.state == WebhookDelivery.State.PROCESSED, receipt
    return receipt


def booked(vid, *, invitee_id="J1", booked_at=None, tracking=None, **kwargs):
    return invitee_payload(invitee_id=invitee_id, booked_at=booked_at or timezone.now() + dt.timedelta(minutes=5),
                           tracking={"utm_term": vid, **(tracking or {})}, **kwargs)


def only_booking() -> Booking:
    return Booking.objects.get()


def test_a_booking_with_only_a_visitor_id_is_attributed_by_its_linkedin_touch(committed):
    vid = visitor_id_new()
    committed(beacon, vid, url="https://www.example.com/")  # a direct visit first
    committed(beacon, vid)  # then the LinkedIn ad
    committed(beacon, vid, url="https://www.example.com/pricing")  # then a direct return
    committed(webhook, booked(vid))
    booking = only_booking()
    touch = Touch.objects.filter(source="linkedin").get()
    assert booking.visitor_id == vid
    assert booking.attributed_by == "journey"
    assert (booking.source, booking.medium, booking.campaign, booking.channel) == (
        "linkedin", "paid_social", "spring_202606", touch.channel)
    assert booking.channel not in ("Direct", "Unassigned")
    assert not Booking.objects.filter(channel="Direct").exists()  # it left the (direct) backlog
    assert booking.term == ""
    assert (booking.first_touch_source, booking.first_touch_channel) == ("(direct)", "Direct")
    assert (booking.last_touch_source, booking.last_touch_at) == ("linkedin", touch.at)
    assert booking.touch_count == 3


def test_the_booking_own_utms_win_over_the_journey_but_the_touches_are_kept(committed):
    vid = visitor_id_new()
    committed(beacon, vid)
    committed(webhook, booked(vid, tracking={"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "brand"}))
    booking = only_booking()
    assert (booking.attributed_by, booking.source, booking.term) == ("booking", "google", "")
    assert (booking.last_touch_source, booking.touch_count, booking.visitor_id) == ("linkedin", 1, vid)


def test_a_manual_assignment_wins_over_the_journey(committed):
    vid = visitor_id_new()
    committed(beacon, vid)
    committed(webhook, booked(vid))
    user = User.objects.create_user("mkt", password="pw-123456789")
    bookings_assign_attribution(booking_ids=[only_booking().pk], source="podcast", medium="audio", campaign="", user=user)
    booking = only_booking()
    assert (booking.attributed_by, booking.source, booking.medium) == ("manual", "podcast", "audio")
    assert booking.last_touch_source == "linkedin"  # the journey is still known
    committed(webhook, booked(vid, event=calendly.NO_SHOW_CREATED))  # a later delivery does not undo it
    assert (only_booking().attributed_by, only_booking().source) == ("manual", "podcast")


def test_a_touch_outside_the_lookback_is_ignored(committed, settings):
    settings.JOURNEY_LOOKBACK_DAYS = 30
    vid = visitor_id_new()
    committed(beacon, vid)
    Touch.objects.update(at=timezone.now() - dt.timedelta(days=31))
    committed(webhook, booked(vid))
    booking = only_booking()
    assert (booking.attributed_by, booking.channel, booking.source) == ("booking", "Direct", "(direct)")
    assert (booking.touch_count, booking.first_touch_at, booking.last_touch_at) == (0, None, None)


def test_a_touch_after_the_booking_is_not_its_journey(committed):
    vid = visitor_id_new()
    committed(webhook, booked(vid, booked_at=timezone.now() - dt.timedelta(minutes=5)))
    committed(beacon, vid)  # browsing after booking
    assert (only_booking().attributed_by, only_booking().channel, only_booking().touch_count) == ("booking", "Direct", 0)


def test_a_touch_arriving_after_the_webhook_reattributes_the_booking(committed):
    vid = visitor_id_new()
    committed(webhook, booked(vid, booked_at=timezone.now() + dt.timedelta(hours=1)))
    assert (only_booking().channel, only_booking().attributed_by) == ("Direct", "booking")
    hubspot_version = only_booking().sync.version if hasattr(only_booking(), "sync") else None
    committed(beacon, vid)
    booking = only_booking()
    assert (booking.attributed_by, booking.source, booking.touch_count) == ("journey", "linkedin", 1)
    assert booking.hubspot_state == "pending"
    if hubspot_version is not None:
        booking.sync.refresh_from_db()
        assert booking.sync.version > hubspot_version  # the seam queued HubSpot


def test_a_click_on_a_tracked_link_after_the_webhook_joins_too(committed):
    from journeys.tests.factories import TrackedLinkFactory

    vid = visitor_id_new()
    committed(webhook, booked(vid, booked_at=timezone.now() + dt.timedelta(hours=1)))
    link = TrackedLinkFactory(utm_source="newsletter", utm_medium="email", utm_campaign="june_202606")
    client = Client(headers={"User-Agent": CHROME})
    client.cookies["sb_vid"] = vid
    assert committed(client.get, f"/l/{link.slug}").status_code == 302
    assert (only_booking().attributed_by, only_booking().source) == ("journey", "newsletter")


ATTRIBUTION = ("source", "medium", "campaign", "channel", "attributed_by", "visitor_id", "touch_count",
               "first_touch_source", "first_touch_channel", "last_touch_source", "last_touch_channel")
TOUCH_URLS = [
    "https://www.example.com/",
    LINKEDIN,
    "https://www.example.com/pricing?gclid=G-1",
    "https://www.example.com/about",
]


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), touches=st.lists(st.sampled_from(TOUCH_URLS), min_size=0, max_size=4),
       with_no_show=st.booleans(), own_utms=st.booleans())
def test_any_arrival_order_of_touches_and_deliveries_gives_the_same_attribution(
        committed, data, touches, with_no_show, own_utms):
    vid = visitor_id_new()
    booked_at = timezone.now() + dt.timedelta(hours=2)
    tracking = {"utm_source": "Google", "utm_medium": "cpc", "utm_campaign": "brand"} if own_utms else {}
    deliveries = [booked(vid, invitee_id=f"P-{vid}", booked_at=booked_at, tracking=tracking)]
    if with_no_show:
        at = booked_at + dt.timedelta(days=3)
        deliveries.append(booked(vid, invitee_id=f"P-{vid}", booked_at=booked_at, tracking=tracking,
                                 event=calendly.NO_SHOW_CREATED, updated_at=at, occurred_at=at))
    uri = deliveries[0]["payload"]["uri"]

    def run(steps):
        Touch.objects.filter(visitor_id=vid).delete()
        Booking.objects.filter(invitee_uri=uri).delete()
        WebhookDelivery.objects.filter(invitee_uri=uri).delete()
        for kind, item in steps:
            committed(beacon, vid, url=item) if kind == "touch" else committed(webhook, item)
        return Booking.objects.filter(invitee_uri=uri).values(*ATTRIBUTION).get()

    # Touches keep their own order (it is the journey); deliveries come before, between or after them.
    expected = run([*(("touch", url) for url in touches), *(("delivery", d) for d in deliveries)])
    slots = data.draw(st.lists(st.integers(min_value=0, max_value=len(touches)), min_size=len(deliveries),
                               max_size=len(deliveries)))
    order = data.draw(st.permutations(deliveries))
    steps = [("touch", url) for url in touches]
    for position, delivery in sorted(zip(slots, range(len(order))), reverse=True):
        steps.insert(position, ("delivery", order[delivery]))
    assert run(steps) == expected
    if touches and any(url != TOUCH_URLS[0] and url != TOUCH_URLS[3] for url in touches) and not own_utms:
        assert expected["attributed_by"] == "journey"


def test_reattribute_after_a_rule_change_moves_a_journey_booking_and_keeps_it(committed):
    vid, plain = visitor_id_new(), visitor_id_new()
    committed(beacon, vid)
    committed(webhook, booked(vid))
    committed(webhook, booked(plain, invitee_id="J2"))  # a visitor id without touches: stays Direct
    before = Booking.objects.get(visitor_id=vid)
    assert before.attributed_by == "journey" and before.channel != "LinkedIn Ads"

    ChannelRule.objects.create(position=1, channel="LinkedIn Ads", source_values=["linkedin"])
    version = ruleset_changed()
    result = bookings_reattribute()
    after = Booking.objects.get(visitor_id=vid)
    assert (after.attributed_by, after.source, after.medium, after.channel) == (
        "journey", "linkedin", "paid_social", "LinkedIn Ads")
    assert after.last_touch_channel == "LinkedIn Ads" and after.rules_version == version
    assert result.moves.get((before.channel, "LinkedIn Ads")) == 1
    untouched = Booking.objects.get(visitor_id=plain)
    assert (untouched.channel, untouched.attributed_by, untouched.rules_version) == ("Direct", "booking", version)
    # A second run finds nothing to move, and the per-booking path agrees with the job.
    assert bookings_reattribute().changed == 0
    assert Booking.objects.get(visitor_id=vid).channel == "LinkedIn Ads"


@pytest.fixture
def api():
    client = Client()
    user = User.objects.create_user("reader", password="pw-123456789")
    user.user_permissions.add(Permission.objects.get(codename="view_booking"),
                              Permission.objects.get(codename="view_dashboard"))
    client.force_login(user)
    return client


def test_the_bookings_api_shows_the_visitor_the_touches_and_who_attributed(committed, api):
    vid = visitor_id_new()
    committed(beacon, vid, url="https://www.example.com/")
    committed(beacon, vid)
    committed(webhook, booked(vid, email="ann@example.com"))
    committed(webhook, booked(visitor_id_new(), invitee_id="J2", email="bo@example.com"))
    rows = {r["email"]: r for r in api.get("/api/bookings/").json()["results"]}
    ann, bo = rows["ann@example.com"], rows["bo@example.com"]
    touches = list(Touch.objects.filter(visitor_id=vid).order_by("at"))
    assert ann["visitor_id"] == vid and ann["attributed_by"] == "journey"
    assert ann["first_touch"] == {"source": "(direct)", "medium": "(none)", "campaign": "(not set)", "channel": "Direct",
                                  "at": touches[0].at.isoformat().replace("+00:00", "Z")}
    assert ann["last_touch"] == {"source": "linkedin", "medium": "paid_social", "campaign": "spring_202606",
                                 "channel": touches[1].channel, "at": touches[1].at.isoformat().replace("+00:00", "Z")}
    assert (bo["first_touch"], bo["last_touch"], bo["attributed_by"]) == (None, None, "booking")
    journey = api.get("/api/journeys/", {"email": "ann@example.com"}).json()
    booking_event = next(e for e in journey["events"] if e["type"] == "booking")
    assert booking_event["attribution"]["attributed_by"] == "journey"
    assert booking_event["attribution"]["source"] == "linkedin"
    assert journey_get(email="bo@example.com")["events"][0]["attribution"]["attributed_by"] == "booking"


def test_the_webhook_never_reads_touches_for_a_booking_without_a_visitor_id(committed):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    committed(beacon, visitor_id_new())
    with CaptureQueriesContext(connection) as queries:
        committed(webhook, booked("", tracking={"utm_term": "", "utm_source": "google", "utm_medium": "cpc"}))
    assert only_booking().visitor_id == ""
    assert not [q for q in queries.captured_queries if Touch._meta.db_table in q["sql"]]
    vid = visitor_id_new()
    with CaptureQueriesContext(connection) as queries:
        committed(webhook, booked(vid, invitee_id="J2"))
    assert [q for q in queries.captured_queries if Touch._meta.db_table in q["sql"]]  # the journey is read
