"""The cycle's rules across any sequence of firing / clear evaluations, clock steps and silences (hypothesis), and the
alerts' admin page."""

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from alerts.checks import CHECKS, Check, Finding, check_for
from alerts.models import AlertState
from alerts.services.alerts import alert_apply, alerts_silence, alerts_unsilence

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 3, 12, 0, tzinfo=timezone.utc)
REPEAT = timedelta(hours=24)

steps = st.lists(st.tuples(st.booleans(), st.integers(0, 30), st.sampled_from([None, None, None, "silence", "unsilence"])),
                 min_size=1, max_size=30)


@given(steps=steps)
@hsettings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_one_fired_per_episode_repeats_spaced_resolved_only_after_fired(steps, settings):
    settings.ALERTS_REPEAT_HOURS = 24
    AlertState.objects.filter(key="prop").delete()
    check = Check("prop", "ops", lambda now: None)
    sent, clock = [], {"now": T0}
    episode, was_firing, silenced = 0, False, False
    log = []  # (episode, event, now, silenced)

    def send(topic, message, key):
        sent.append(key)

    for firing, hours, toggle in steps:
        clock["now"] += timedelta(hours=hours)
        state = AlertState.objects.filter(key="prop").first()
        if toggle and state:
            silenced = toggle == "silence"
            (alerts_silence if silenced else alerts_unsilence)([state.pk])
        if firing and not was_firing:
            episode += 1
        event = alert_apply(check, Finding("prop", firing, title="Something broke"), now=clock["now"], send=send)
        told = {e for ep, e, _, _ in log if ep == episode}
        if firing and not silenced and "fired" not in told:
            assert event == "fired"  # liveness: an unannounced episode is announced as soon as it may be
        if not firing and was_firing:
            assert event == ("resolved" if "fired" in told else None)  # resolved exactly for the announced episodes
        if event:
            log.append((episode, event, clock["now"], silenced))
        was_firing = firing

    assert len(sent) == len(set(sent))  # every message has its own outbox key: a retry cannot double it
    for ep in set(e for e, *_ in log):
        events = [(event, at, quiet) for e, event, at, quiet in log if e == ep]
        names = [event for event, _, _ in events]
        assert names.count("fired") <= 1 and names.count("resolved") <= 1
        assert names[0] == "fired"  # nothing before the episode's "fired"
        assert "resolved" not in names[:-1]  # nothing after its "resolved"
        told = [at for event, at, _ in events if event != "resolved"]
        assert all(b - a >= REPEAT for a, b in zip(told, told[1:]))
        assert not any(quiet for event, _, quiet in events if event != "resolved")  # silenced: no fired, no repeat


def test_every_alert_key_finds_its_check():
    assert check_for("unassigned_value:tiktok / social") is check_for("unassigned_value")
    assert check_for("campaign_dropped:a:b").key == "campaign_dropped"
    assert check_for("nope") is None
    assert len({c.key for c in CHECKS}) == len(CHECKS)
    assert [c.key for c in CHECKS if c.by_watchdog] == ["worker_heartbeat"]


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-123456789"))
    return client


def test_the_admin_lists_alerts_and_silences_them(admin_client):
    check = Check("calendly_subscription", "ops", lambda now: None)
    alert_apply(check, Finding("calendly_subscription", True, title="Calendly subscription disabled"), now=T0,
                send=lambda *a: None)
    state = AlertState.objects.get()
    page = admin_client.get("/admin/alerts/alertstate/").content.decode()
    assert "Calendly subscription disabled" in page and "firing" in page
    assert admin_client.get("/admin/alerts/alertstate/add/").status_code == 403

    response = admin_client.post("/admin/alerts/alertstate/", {"action": "silence_forever", "_selected_action": [state.pk]})
    assert response.status_code == 302
    state.refresh_from_db()
    assert state.muted and state.silenced_by == "boss"
    assert "firing, silenced" in admin_client.get("/admin/alerts/alertstate/").content.decode()

    admin_client.post("/admin/alerts/alertstate/", {"action": "unsilence", "_selected_action": [state.pk]})
    state.refresh_from_db()
    assert not state.muted and state.silenced_until is None

    # Silenced until a date, from the alert's page: only the silence is editable.
    response = admin_client.post(f"/admin/alerts/alertstate/{state.pk}/change/", {
        "silenced_until_0": "2099-01-01", "silenced_until_1": "00:00:00", "title": "hacked"})
    assert response.status_code == 302, response.content
    state.refresh_from_db()
    assert state.silenced_until.year == 2099 and state.title == "Calendly subscription disabled"
    assert "silenced until" in admin_client.get("/admin/alerts/alertstate/").content.decode()


def test_the_admin_shows_an_alert_disabled_by_setting(admin_client, settings):
    alert_apply(Check("dead_letters", "ops", lambda now: None), Finding("dead_letters", False), now=T0)
    settings.ALERTS_DISABLED = ["dead_letters"]
    assert "ok, disabled (ALERTS_DISABLED)" in admin_client.get("/admin/alerts/alertstate/").content.decode()


def test_a_hostile_value_is_text_in_every_format(smtp_catcher):
    """An Unassigned value is whatever a link said: never markup in the e-mail."""
    from alerts.models import Destination
    from alerts.services.alerts import alert_message
    from alerts.services.outbox import notify, send_due

    Destination.objects.create(name="mail", url=smtp_catcher.mailto())
    key = 'unassigned_value:<img src=x onerror=alert(1)> / "x"'
    alert_apply(Check("unassigned_value", "marketing", lambda now: None, family=True),
                Finding(key, True, title="New Unassigned value: <img src=x onerror=alert(1)>",
                        detail="source “<img src=x onerror=alert(1)>”", hint="Fix `the link`"), now=T0,
                send=lambda *a: None)
    state = AlertState.objects.get(key=key)
    message = alert_message(state, "fired", now=T0)
    assert "<img" not in message.html and "&lt;img src=x" in message.html and ">the link</span>" in message.html
    notify("marketing", message)
    send_due()
    [mail] = smtp_catcher.messages
    assert "<img" not in mail.html and "&lt;img" in mail.html


def test_a_view_only_user_sees_alerts_but_cannot_silence_them(client, django_user_model):
    from django.contrib.auth.models import Permission

    alert_apply(Check("dead_letters", "ops", lambda now: None), Finding("dead_letters", True, title="Dead letters exist"),
                now=T0, send=lambda *a: None)
    state = AlertState.objects.get()
    user = django_user_model.objects.create_user("viewer", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_alertstate"))
    client.force_login(user)
    page = client.get("/admin/alerts/alertstate/").content.decode()
    assert "Dead letters exist" in page and "silence_forever" not in page
    client.post("/admin/alerts/alertstate/", {"action": "silence_forever", "_selected_action": [state.pk]})
    client.post(f"/admin/alerts/alertstate/{state.pk}/change/", {"muted": "on"})
    state.refresh_from_db()
    assert not state.muted


def test_marketing_can_silence_an_alert(login_as):
    client = login_as("marketer", group="Marketing")
    client.user.is_staff = True  # as create_demo_users makes them
    client.user.save()
    alert_apply(Check("campaign_dropped", "marketing", lambda now: None, family=True),
                Finding("campaign_dropped:spring_202611", True, title="Campaign “spring_202611” had no bookings last week"),
                now=T0, send=lambda *a: None)
    state = AlertState.objects.get()
    assert "spring_202611" in client.get("/admin/alerts/alertstate/").content.decode()
    client.post("/admin/alerts/alertstate/", {"action": "silence_forever", "_selected_action": [state.pk]})
    state.refresh_from_db()
    assert state.muted and state.silenced_by == "marketer"
