import pytest

pytestmark = pytest.mark.django_db
URL = "/api/links/build/"


@pytest.fixture
def api(login_as):
    return login_as("m", perms=("view_dashboard",))


def test_it_needs_a_login(client):
    assert client.post(URL, {}, content_type="application/json").status_code in (401, 403)


def test_it_builds_a_tagged_link(api):
    response = api.post(URL, {"base_url": "https://calendly.com/acme/demo", "source": "linkedin", "medium": "social",
                              "campaign": "spring_launch_202606", "content": "carousel_b"}, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["url"] == ("https://calendly.com/acme/demo?utm_source=linkedin&utm_medium=social"
                                      "&utm_campaign=spring_launch_202606&utm_content=carousel_b")


def test_it_refuses_with_field_level_reasons(api):
    response = api.post(URL, {"base_url": "https://calendly.com/acme/demo", "source": "website", "medium": "social",
                              "campaign": "launch"}, content_type="application/json")
    assert response.status_code == 400
    errors = {(e["field"], e["code"]) for e in response.json()["errors"]}
    assert errors == {("source", "banned-value"), ("campaign", "campaign-convention")}
