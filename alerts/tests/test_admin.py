"""Destinations in the admin: secrets hidden once saved, kept when the masked URL is left alone; send test."""

import pytest

from alerts.channels import Message, masked
from alerts.models import Destination, Notification
from alerts.services.outbox import notify, send_due

pytestmark = pytest.mark.django_db
SECRET_URL = "mailtos://ops:hunter2pass@smtp.example.com?to=lead@example.com"


@pytest.fixture
def admin_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-123456789")
    client.force_login(user)
    return client


def _form(url, **over):
    return {"name": "Ops mail", "url": url, "ops": "on", "digest": "on", "enabled": "on", **over}


def test_saved_secrets_are_never_shown_and_survive_an_edit(admin_client):
    response = admin_client.post("/admin/alerts/destination/add/", _form(SECRET_URL))
    assert response.status_code == 302, response.content
    d = Destination.objects.get()
    assert d.url.startswith("mailtos://ops:hunter2pass@")
    page = admin_client.get(f"/admin/alerts/destination/{d.pk}/change/").content.decode()
    listing = admin_client.get("/admin/alerts/destination/").content.decode()
    assert "hunter2pass" not in page and "hunter2pass" not in listing and masked(d.url) in page
    # Save again with the masked URL as shown, toggling a subscription: the secret is kept.
    response = admin_client.post(f"/admin/alerts/destination/{d.pk}/change/", _form(masked(d.url), marketing="on"))
    assert response.status_code == 302
    d.refresh_from_db()
    assert d.url.startswith("mailtos://ops:hunter2pass@") and d.marketing


def test_a_bad_url_is_a_form_error_not_a_500(admin_client):
    response = admin_client.post("/admin/alerts/destination/add/", _form("https://hooks.slack.com/not-apprise\x00"))
    assert response.status_code == 200 and b"apprise" in response.content
    assert not Destination.objects.exists()


def test_send_test_queues_a_message_that_the_worker_delivers(admin_client, webhook_receiver):
    d = Destination.objects.create(name="hook", url=webhook_receiver.json_url(), ops=False, marketing=False, digest=False)
    confirm = admin_client.get(f"/admin/alerts/destination/{d.pk}/test/")
    assert confirm.status_code == 200 and not Notification.objects.exists()  # a GET never sends
    response = admin_client.post(f"/admin/alerts/destination/{d.pk}/test/")
    assert response.status_code == 302 and Notification.objects.get().topic == "test"
    send_due()
    assert webhook_receiver.received[0]["payload"]["title"] == "Sourcebook: test message"
    assert "boss" in webhook_receiver.received[0]["payload"]["message"]


def test_marketing_sees_destinations_masked_but_cannot_change_them_and_sales_cannot_see_them(login_as):
    d = Destination.objects.create(name="Ops mail", url=SECRET_URL)
    marketing = login_as("mara", group="Marketing")
    type(marketing.user).objects.filter(pk=marketing.user.pk).update(is_staff=True)  # as create_demo_users makes them
    listing = marketing.get("/admin/alerts/destination/")
    assert listing.status_code == 200 and b"Ops mail" in listing.content and b"hunter2pass" not in listing.content
    page = marketing.get(f"/admin/alerts/destination/{d.pk}/change/").content.decode()
    assert "hunter2pass" not in page
    assert marketing.post(f"/admin/alerts/destination/{d.pk}/test/").status_code == 403
    assert marketing.post("/admin/alerts/destination/add/", _form(SECRET_URL, name="mine")).status_code == 403
    marketing.logout()
    sales = login_as("sam", group="Sales")
    type(sales.user).objects.filter(pk=sales.user.pk).update(is_staff=True)
    assert sales.get("/admin/alerts/destination/").status_code == 403


def test_only_admins_resend_or_discard_and_sales_sees_no_messages(login_as, webhook_receiver):
    d = Destination.objects.create(name="hook", url=webhook_receiver.json_url())
    [row] = notify("ops", Message(subject="s", text="t"))
    Notification.objects.filter(pk=row.pk).update(state="dead")
    marketing = login_as("mara", group="Marketing")
    type(marketing.user).objects.filter(pk=marketing.user.pk).update(is_staff=True)
    assert marketing.get("/admin/alerts/notification/").status_code == 200
    marketing.post("/admin/alerts/notification/", {"action": "retry", "_selected_action": [row.pk]})
    assert Notification.objects.get().state == "dead"
    marketing.logout()
    sales = login_as("sam", group="Sales")
    type(sales.user).objects.filter(pk=sales.user.pk).update(is_staff=True)
    assert sales.get("/admin/alerts/notification/").status_code == 403
    assert d.notifications.get().state == "dead"
