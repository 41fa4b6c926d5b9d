"""Content-Security-Policy / Permissions-Policy, login-only API docs, no tokens in httpx logs."""

import logging
import re

import httpx
import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from rest_framework.authtoken.models import Token

pytestmark = pytest.mark.django_db


@pytest.fixture
def marketer_client(client):
    call_command("setup_roles", verbosity=0)
    user = User.objects.create_user("marta", is_staff=True)
    user.groups.add(Group.objects.get(name="Marketing"))
    client.force_login(user)
    return client


def script_src(response) -> str:
    policy = response["Content-Security-Policy"]
    return next(part for part in policy.split(";") if part.strip().startswith("script-src"))


@pytest.mark.parametrize("url", ["/accounts/login/", "/dashboard/", "/dashboard/direct/", "/dashboard/links/", "/admin/",
                                 "/api/docs/", "/no-such-page/"])
def test_pages_carry_a_csp_without_unsafe_inline_scripts_and_a_permissions_policy(marketer_client, url):
    response = marketer_client.get(url)
    assert response.status_code in (200, 404), response.status_code
    assert "'unsafe-inline'" not in script_src(response) and "'unsafe-eval'" not in script_src(response)
    assert "frame-ancestors 'self'" in response["Content-Security-Policy"]
    assert "camera=()" in response["Permissions-Policy"] and "geolocation=()" in response["Permissions-Policy"]


@pytest.mark.parametrize("url", ["/dashboard/", "/dashboard/direct/", "/dashboard/links/", "/accounts/login/"])
def test_every_inline_script_has_the_nonce_and_no_inline_handlers(marketer_client, url):
    response = marketer_client.get(url)
    html = response.content.decode()
    inline = [t for t in re.findall(r"<script\b[^>]*>", html) if "src=" not in t and 'type="application/json"' not in t]
    if url == "/dashboard/":
        assert 'src="/static/js/dashboard.js"' in html  # the chart's script: a file, no inline start-up code
    if inline:
        nonce = re.search(r"'nonce-([^']+)'", script_src(response)).group(1)
        for tag in inline:
            assert f'nonce="{nonce}"' in tag, tag
    assert not re.search(r"\son(click|change|submit|load|input)=", html)


def test_api_schema_and_docs_need_a_login(client, marketer_client):
    anonymous = type(client)()
    assert anonymous.get("/api/schema/").status_code in (401, 403)
    docs = anonymous.get("/api/docs/")
    assert docs.status_code == 302 and docs["Location"].startswith("/accounts/login/")
    assert marketer_client.get("/api/schema/").status_code == 200
    page = marketer_client.get("/api/docs/")
    assert page.status_code == 200 and "swagger-ui" in page.content.decode()
    assert "<script>" not in page.content.decode()  # the init script is a file (CSP)
    assert marketer_client.get("/api/docs/?script=").status_code == 200


def test_api_schema_with_a_token(client):
    """What bench/fuzz_api.py (schemathesis) does: fetch the schema with a token."""
    token = Token.objects.create(user=User.objects.create_user("fuzzer"))
    response = type(client)().get("/api/schema/", headers={"Authorization": f"Token {token.key}"})
    assert response.status_code == 200 and b"openapi" in response.content


def test_httpx_never_logs_a_url_with_a_token(caplog):
    from fakes.http import FakeServer, JsonHandler

    class Handler(JsonHandler):
        def do_GET(self):  # noqa: N802
            self.send_json(200, {"ok": True})

    server = FakeServer(Handler).start()
    try:
        with caplog.at_level(logging.INFO):
            assert httpx.get(f"{server.url}/oauth/v1/access-tokens/secret-token-123?token=secret-token-123").status_code == 200
    finally:
        server.httpd.shutdown()
    assert "secret-token-123" not in caplog.text
    assert logging.getLogger("httpx").getEffectiveLevel() >= logging.WARNING
    assert logging.getLogger("httpcore").getEffectiveLevel() >= logging.WARNING
