import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token

from bookings import calendly
from bookings.apis import BookingListApi
from bookings.samples import invitee_payload

pytestmark = pytest.mark.django_db
URL = "/api/bookings/"


@pytest.fixture
def seeded(post_signed):
    from datetime import datetime, timedelta, timezone

    t0 = datetime(2026, 6, 1, tzinfo=timezone.utc)
    post_signed(invitee_payload(invitee_id="A", email="a@example.com", booked_at=t0,
                                tracking={"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "brand"}))
    post_signed(invitee_payload(invitee_id="B", email="b@example.com", booked_at=t0 + timedelta(days=10),
                                tracking={"utm_source": "linkedin", "utm_medium": "paid", "utm_campaign": "spring"}))
    post_signed(invitee_payload(invitee_id="C", email="c@example.com", booked_at=t0 + timedelta(days=20)))
    post_signed(invitee_payload(invitee_id="C", email="c@example.com", booked_at=t0 + timedelta(days=20),
                                event=calendly.INVITEE_CANCELED))


@pytest.fixture
def api(login_as):
    return login_as("u", perms=("view_booking",))


def emails(response):
    return sorted(r["email"] for r in response.json()["results"])


def test_it_needs_authentication(client, seeded):
    assert client.get(URL).status_code in (401, 403)


def test_token_auth(client, seeded):
    from django.contrib.auth.models import Permission

    bot = User.objects.create_user("bot")
    bot.user_permissions.add(Permission.objects.get(codename="view_booking"))
    token = Token.objects.create(user=bot)
    response = client.get(URL, headers={"Authorization": f"Token {token.key}"})
    assert response.status_code == 200 and response.json()["count"] == 3


def test_every_result_has_the_documented_fields(api, seeded):
    result = api.get(URL).json()["results"][0]
    assert set(result) == set(BookingListApi.OutputSerializer().fields)
    for name in ("invitee_uri", "event_uri", "email", "name", "status", "rescheduled", "rescheduled_from", "start_time",
                 "booked_at", "canceled_at", "no_show", "tracking", "source", "medium", "campaign", "content", "term",
                 "channel", "self_reported_source", "hubspot_state"):
        assert name in result


@pytest.mark.parametrize("query,expected", [
    ("email=A@example.com", ["a@example.com"]),
    ("status=canceled", ["c@example.com"]),
    ("source=google", ["a@example.com"]),
    ("medium=paid", ["b@example.com"]),
    ("campaign=spring", ["b@example.com"]),
    ("channel=Direct", ["c@example.com"]),
    ("booked_after=2026-06-05T00:00:00Z", ["b@example.com", "c@example.com"]),
    ("booked_before=2026-06-05T00:00:00Z", ["a@example.com"]),
    ("invitee_uri=https://api.calendly.com/scheduled_events/EV-B/invitees/B", ["b@example.com"]),
])
def test_filters(api, seeded, query, expected):
    assert emails(api.get(f"{URL}?{query}")) == expected


def test_rescheduled_from_is_the_old_invitee_uri(api, post_signed):
    old = "https://api.calendly.com/scheduled_events/EV-O/invitees/O"
    post_signed(invitee_payload(invitee_id="O", event_id="EV-O"))
    post_signed(invitee_payload(invitee_id="N", event_id="EV-N", old_invitee=old))
    rows = {r["invitee_uri"]: r for r in api.get(URL).json()["results"]}
    assert rows["https://api.calendly.com/scheduled_events/EV-N/invitees/N"]["rescheduled_from"] == old
    assert rows[old]["rescheduled"] is True


def test_pagination(api, post_signed, settings):
    for i in range(3):
        post_signed(invitee_payload(invitee_id=f"P{i}"))
    data = api.get(f"{URL}?page_size=2").json()
    assert data["count"] == 3 and len(data["results"]) == 2 and data["next"]


def test_schema_and_docs(api):
    schema = api.get("/api/schema/")
    assert schema.status_code == 200
    text = schema.content.decode()
    assert "/api/bookings/" in text and "/api/reports/breakdown/" in text
    assert api.get("/api/docs/").status_code == 200
