"""Styled error pages and login throttling (django-axes) on the admin and dashboard logins."""

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.template import loader
from django.test import Client

pytestmark = pytest.mark.django_db
PASSWORD = "right-password-123"


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # dozens of logins below


@pytest.fixture
def roles():
    call_command("setup_roles", verbosity=0)


def make_user(name, role=None, **extra):
    user = User.objects.create_user(name, password=PASSWORD, is_staff=True, **extra)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


# --- error pages -------------------------------------------------------------------------------------

def test_sales_opening_the_dashboard_gets_a_styled_403_linking_to_the_bookings_list(client, roles):
    client.force_login(make_user("sally", "Sales"))
    response = client.get("/dashboard/")
    assert response.status_code == 403
    html = response.content.decode()
    assert 'href="/admin/bookings/booking/"' in html
    assert "css/app.css" in html and "Sourcebook" in html  # the site's look, not a bare "403 Forbidden"
    assert "isn't part of your role" in html


def test_404_is_the_styled_page_not_the_debug_url_list(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "There is no page here" in html and 'href="/dashboard/"' in html
    assert "URLconf" not in html and "admin/" not in html.split("There is no page here")[0].split("<main")[-1]


def test_500_renders_without_a_database_or_context(django_assert_num_queries):
    with django_assert_num_queries(0):
        html = loader.get_template("500.html").render()  # Django renders it with an empty context
    assert "Something went wrong" in html and 'href="/dashboard/"' in html and "css/app.css" in html


# --- login throttling --------------------------------------------------------------------------------

def post_login(client, url, username, password, ip="10.0.0.1", **extra):
    return client.post(url, {"username": username, "password": password, "next": "/dashboard/"}, REMOTE_ADDR=ip, **extra)


@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/"])
def test_the_sixth_wrong_password_locks_out_even_the_right_one(url, roles):
    make_user("marta", "Marketing")
    client = Client()
    for _ in range(4):
        response = post_login(client, url, "marta", "wrong")
        assert response.status_code == 200  # the form again, with its error
    assert post_login(client, url, "marta", "wrong").status_code == 429  # the 5th failure locks
    locked = post_login(client, url, "marta", PASSWORD)  # the 6th try, with the right password
    assert locked.status_code == 429
    assert "Too many failed log-ins" in locked.content.decode() and "css/app.css" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    # Another address, or another user from the same address, is not locked.
    assert post_login(Client(), url, "marta", PASSWORD, ip="10.0.0.2").status_code == 302
    make_user("other", "Marketing")
    assert post_login(Client(), url, "other", PASSWORD).status_code == 302


def test_the_lock_follows_the_trusted_proxy_client_ip(settings, roles):
    settings.TRUSTED_PROXY_COUNT = 1
    make_user("marta", "Marketing")
    for _ in range(5):
        post_login(Client(), "/accounts/login/", "marta", "wrong", ip="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert AccessAttempt.objects.get().ip_address == "203.0.113.9"
    # The proxy's own address is shared by everybody: a different client behind it is not locked.
    assert post_login(Client(), "/accounts/login/", "marta", PASSWORD, ip="127.0.0.1",
                      HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == 302
    assert post_login(Client(), "/accounts/login/", "marta", PASSWORD, ip="127.0.0.1",
                      HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 429


def test_an_admin_unlocks_in_the_admin(roles):
    make_user("marta", "Marketing")
    for _ in range(6):
        post_login(Client(), "/accounts/login/", "marta", "wrong")
    assert post_login(Client(), "/accounts/login/", "marta", PASSWORD).status_code == 429
    boss = Client()
    boss.force_login(User.objects.create_superuser("boss", password=PASSWORD))
    changelist = boss.get("/admin/axes/accessattempt/")
    assert changelist.status_code == 200 and "marta" in changelist.content.decode()
    attempt = AccessAttempt.objects.get(username="marta")
    response = boss.post("/admin/axes/accessattempt/", {"action": "delete_selected", "_selected_action": [attempt.pk],
                                                        "post": "yes"})
    assert response.status_code == 302
    assert post_login(Client(), "/accounts/login/", "marta", PASSWORD).status_code == 302


def test_a_good_login_clears_earlier_failures(roles):
    make_user("marta", "Marketing")
    for _ in range(4):
        post_login(Client(), "/accounts/login/", "marta", "wrong")
    assert post_login(Client(), "/accounts/login/", "marta", PASSWORD).status_code == 302
    for _ in range(4):
        post_login(Client(), "/accounts/login/", "marta", "wrong")
    assert post_login(Client(), "/accounts/login/", "marta", PASSWORD).status_code == 302


def test_programmatic_login_without_a_request_still_works(client, roles):
    """Test-client login() (no HTTP request, nothing to throttle) goes past axes to the model backend."""
    make_user("marta", "Marketing")
    assert client.login(username="marta", password=PASSWORD)
    assert client.get("/dashboard/").status_code == 200
