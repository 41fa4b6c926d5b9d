"""GET /sourcebook.js: cacheable, small, no dependencies, talks only to its own origin."""

import gzip
import re

import pytest

from journeys.views import SNIPPET_PATH, snippet_compact

URL = "/sourcebook.js"


def test_it_is_served_with_caching_headers(client):
    response = client.get(URL)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert "public" in response["Cache-Control"] and "max-age=" in response["Cache-Control"]
    assert response["ETag"]
    assert response["Cross-Origin-Resource-Policy"] == "cross-origin"
    again = client.get(URL, headers={"If-None-Match": response["ETag"]})
    assert again.status_code == 304


def test_it_is_at_most_3_kb_gzipped(client):
    body = client.get(URL).content
    size = len(gzip.compress(body, 9))
    assert size <= 3000, f"sourcebook.js is {size} bytes gzipped"
    zipped = client.get(URL, headers={"Accept-Encoding": "gzip"})
    assert zipped["Content-Encoding"] == "gzip" and len(zipped.content) <= 3000
    assert gzip.decompress(zipped.content) == body


def test_it_loads_nothing_and_calls_no_third_party():
    source = SNIPPET_PATH.read_text()
    code = re.sub(r"/\*.*?\*/", "", source, flags=re.S)
    assert "http://" not in code and "https://" not in code.replace('"https:"', "")
    assert "import(" not in code and "createElement" not in code and "importScripts" not in code
    assert code.count("base + \"/collect/\"") == 2  # beacon and its fetch fallback: the script's own origin


def test_compacting_keeps_every_statement():
    source = SNIPPET_PATH.read_text()
    compact = snippet_compact(source)
    assert compact.count("function") == source.count("function")


@pytest.mark.django_db
def test_dashboard_pages_keep_the_strict_csp(client):
    response = client.get("/accounts/login/")
    assert "script-src 'self'" in response["Content-Security-Policy"]
