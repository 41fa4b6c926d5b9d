"""Every page, API and admin view answers hostile parameters with a 4xx or a form error, never a 500.

The URL list comes from the URL resolver, so a new page is walked as soon as it is routed. Each URL is
requested as each role (admin, marketing, sales, anonymous) with hypothesis-generated path values
(non-numeric admin ids, …) and query parameters: the names each view reads, with hostile values.
"""

from __future__ import annotations

import inspect
import os
import re
from urllib.parse import quote

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from django.urls import URLResolver, get_resolver
from hypothesis import HealthCheck, Phase, given, settings as hsettings, strategies as st

from bookings.tests.factories import BookingFactory, WebhookDeliveryFactory

pytestmark = pytest.mark.django_db

SKIP_PREFIXES = ("webhooks/",)  # POST-only webhook intake: its own tests and fuzzing

HOSTILE_VALUES = [  # the first one is what hypothesis tries first
    "9999-12-31", "0-1", "", " ", "\x00", "a\x00b", "\ud800", "%00", "0", "-1", "0-1", "-0", "1.5", "1e309", "nan", "inf", "true", "null",
    "9" * 30, "-" + "9" * 30, str(2**63), str(-(2**63) - 1), "0001-01-01", "1899-12-31", "2101-01-01",
    "0000-00-00", "2026-02-30", "2026-13", "2026-00", "0-0", "99999-01", "2026-06-01T25:61:00", "9999-12-31T23:59:59-12:00",
    "0001-01-01T00:00:00+14:00", "2026-06-01T00:00:00+99:00", "2026-06-01", "month", "channel", "-booked_at", "1.2.3",
    "ü😀日本", "\u202e", "<script>alert(1)</script>", "' OR 1=1 --", "[]", "{}", "a,b,,c", "x" * 5000, "é" * 2000,
]
HOSTILE_IDS = ["abc", "-1", "0", "1.5", "1e3", "0x10", " 1", "9" * 30, str(2**63), "\x00", "%00", "ü", "1/2", "..",
               "' OR 1=1 --", "x" * 2000]
# Names every report/dashboard/list view may read; each view adds the names it declares.
GENERIC_NAMES = ["channel", "source", "medium", "campaign", "status", "email", "format", "page", "q", "o", "p",
                 "booked_after", "booked_before", "start", "end", "range", "month", "group_by", "interval", "export"]
ADMIN_NAMES = ["q", "o", "p", "e", "all", "_to_field", "_popup", "_changelist_filters"]

curated = st.sampled_from(HOSTILE_VALUES)
hostile_value = st.one_of(curated, curated, curated, st.text(max_size=40), st.integers().map(str),
                          st.dates().map(lambda d: d.isoformat()), st.datetimes().map(lambda d: d.isoformat()))
hostile_id = st.sampled_from(HOSTILE_IDS)


def _leaf_patterns(resolver=None, prefix=""):
    for pattern in (resolver or get_resolver()).url_patterns:
        regex = pattern.pattern.regex.pattern.removeprefix("^")
        if isinstance(pattern, URLResolver):
            yield from _leaf_patterns(pattern, prefix + regex)
        else:
            yield prefix + regex, pattern.callback


GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?P<body>(?:[^()\\]|\\.|\([^()]*\))*)\)")


def _literal(text: str) -> str:
    text = text.replace("\\Z", "").replace("$", "")
    return re.sub(r"\\(.)", r"\1", text)


def _encode(value: str, safe: str = "") -> str:
    return quote(value.encode("utf-8", "surrogatepass"), safe=safe)


PARAM_READ = re.compile(r"""(?:GET|query_params)(?:\.get|\.getlist)?\(\s*["'](\w+)["']|GET\[\s*["'](\w+)["']\]""")


def _names_in_source(obj) -> set[str]:
    """The query parameters a view module reads (`request.GET.get("month")`, `request.GET["range"]`)."""
    try:
        source = inspect.getsource(inspect.getmodule(obj))
    except (TypeError, OSError):
        return set()
    return {a or b for a, b in PARAM_READ.findall(source)}


def _admin_names(model_admin) -> list[str]:
    names = set(ADMIN_NAMES)
    for entry in model_admin.list_filter:
        field = entry[0] if isinstance(entry, (tuple, list)) else entry
        if isinstance(field, str):
            names |= {f"{field}__{suffix}" for suffix in ("exact", "isnull", "gte", "lt", "in", "id__exact",
                                                          "range__gte", "range__lte")}  # the last two: rangefilter
        else:
            names.add(field.parameter_name)
    if model_admin.date_hierarchy:
        names |= {f"{model_admin.date_hierarchy}__{part}" for part in ("year", "month", "day")}
    for field in model_admin.model._meta.concrete_fields:
        names.add(f"{field.name}__exact")
    return sorted(names)


def _drf_names(view_class) -> list[str]:
    from rest_framework import serializers

    names = {"format", "page", "cursor", "limit", "offset", "ordering", "search"}
    for attr in dir(view_class):
        value = getattr(view_class, attr, None)
        if inspect.isclass(value) and issubclass(value, serializers.Serializer):
            names |= set(value().fields)
    filterset = getattr(view_class, "filterset_class", None)
    if filterset is not None:
        names |= set(filterset.base_filters)
    module = inspect.getmodule(view_class)
    for _, value in inspect.getmembers(module, inspect.isclass):
        if issubclass(value, serializers.Serializer) and value.__module__ == module.__name__:
            names |= set(value().fields)  # serializers a view uses without nesting them (ReportFilterSerializer)
    return sorted(names)


def _param_names(callback) -> list[str]:
    model_admin = getattr(callback, "model_admin", None)
    if model_admin is not None:
        return _admin_names(model_admin)
    view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    if view_class is not None and hasattr(view_class, "permission_classes"):
        return _drf_names(view_class)
    return sorted(set(GENERIC_NAMES) | _names_in_source(view_class or callback))


def _endpoints():
    found = []
    for regex, callback in _leaf_patterns():
        if regex.startswith(SKIP_PREFIXES):
            continue
        found.append((regex, callback, _param_names(callback)))
    return found


ENDPOINTS = _endpoints()


def _path_strategy(regex: str, real_ids: list[str]):
    parts, position = [], 0
    for group in GROUP.finditer(regex):
        parts.append(st.just(_literal(regex[position:group.start()])))
        body = group["body"]
        generated = st.from_regex(body, fullmatch=True).filter(bool) if body not in (".+", "[^/]+") else st.text(min_size=1, max_size=30)
        if group["name"] in ("object_id", "id"):
            generated = st.one_of(st.sampled_from(real_ids) if real_ids else st.nothing(), hostile_id, generated)
        parts.append(generated.map(_encode))
        position = group.end()
    parts.append(st.just(_literal(regex[position:])))
    return st.tuples(*parts).map(lambda pieces: "/" + "".join(pieces))


def _query_strategy(names: list[str]):
    pairs = st.lists(st.tuples(st.sampled_from(names), hostile_value), min_size=1, max_size=4)
    raw = st.sampled_from(["", "%FF=%FF", "%00=1", "a=%ED%A0%80", "=", "&&&"])  # broken encodings, empty names
    return st.tuples(pairs, raw).map(
        lambda p: "&".join([*(f"{_encode(k)}={_encode(v)}" for k, v in p[0]), *([p[1]] if p[1] else [])]))


@pytest.fixture
def world():
    """One of everything the admin shows, so change pages render real rows too."""
    from attribution.models import Alias, ManualAttribution
    from hubspot_sync.models import BookingSync, DealRule, HubspotConnection

    call_command("setup_roles", verbosity=0)
    booking = BookingFactory(campaign='=HYPERLINK("http://x","y")', utm_raw={"source": "\u202e"})
    WebhookDeliveryFactory()
    BookingSync.objects.create(booking=booking, next_attempt_at=booking.booked_at)
    DealRule.objects.create(event_type_name="Product demo", pipeline_id="default", stage_id="appointmentscheduled")
    HubspotConnection.objects.get_or_create(name="default")
    ManualAttribution.objects.create(booking=booking, from_values={"source": "(direct)"}, to_values={"utm_source": "x"})
    Alias.objects.get_or_create(field="source", value="zz", defaults={"canonical": "z"})
    users = {}
    for role, extra in [("admin", {"is_superuser": True}), ("marketing", {}), ("sales", {})]:
        user = User.objects.create(username=f"{role}-user", is_staff=True, **extra)  # force_login: no password hashing
        if role != "admin":
            user.groups.add(Group.objects.get(name=role.title()))
        users[role] = user
    return users


def _real_ids(callback) -> list[str]:
    model_admin = getattr(callback, "model_admin", None)
    if model_admin is None:
        return []
    return [str(pk) for pk in model_admin.model._default_manager.values_list("pk", flat=True)[:2]]


def _get(client: Client, path: str, query: str):
    # A savepoint per request: a database error must fail this request only, not every later one.
    with transaction.atomic():
        return client.get(path, QUERY_STRING=query) if query else client.get(path)


@pytest.mark.parametrize("role", ["admin", "marketing", "sales", "anonymous"])
def test_every_url_answers_hostile_parameters_without_a_server_error(role, world):
    client = Client()
    if role != "anonymous":
        client.force_login(world[role])
    endpoints = [(regex, callback, names, _real_ids(callback)) for regex, callback, names in ENDPOINTS]
    baseline = {}

    # No shrinking: each example walks every URL, and the failing URL and query are in the message.
    @hsettings(max_examples=int(os.environ.get("HOSTILE_EXAMPLES", 2)), deadline=None, database=None, phases=[Phase.generate],
               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=st.data())
    def walk(data):
        for regex, callback, names, real_ids in endpoints:
            path = data.draw(_path_strategy(regex, real_ids), label=regex)
            query = data.draw(_query_strategy(names), label="query")
            try:
                response = _get(client, path, query)
            except Exception as exc:  # the test client re-raises what a 500 would hide
                raise AssertionError(f"{role} GET {path}?{query} raised {exc!r}") from exc
            if response.status_code >= 500:
                # Only a page that fails without parameters too (healthz: 503 = unhealthy) may answer 5xx.
                clean = baseline.setdefault(path, _get(client, path, "").status_code)
                assert response.status_code == clean, f"{role} GET {path}?{query} → {response.status_code}"

    walk()


def test_a_deeply_nested_delivery_opens_in_the_admin(client, world):
    depth = 10_000
    for body in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
        delivery = WebhookDeliveryFactory(body=body.encode(), event_type="", invitee_uri="")
        client.force_login(world["admin"])
        response = client.get(f"/admin/bookings/webhookdelivery/{delivery.pk}/change/")
        assert response.status_code == 200
        assert body[:40] in response.content.decode().replace("&quot;", '"')  # shown as it came


@pytest.mark.parametrize("url", [
    "/dashboard/?range=custom&start=0001-01-01&end=9999-12-31",
    "/dashboard/?range=custom&start=2026-01-01&end=9999-12-31",
    "/dashboard/?range=custom&start=0001-01-01&end=2026-01-01",
    "/dashboard/?channel=%00",
    "/dashboard/direct/?month=0-1",
    "/dashboard/direct/?month=9999-12",
    "/dashboard/direct/?event_type=%00",
    "/api/reports/breakdown/?booked_after=0001-01-01",
    "/api/reports/breakdown/?booked_before=9999-12-31",
    "/api/reports/timeseries/?booked_after=0001-01-01&interval=month",
    "/api/reports/hygiene/?booked_before=9999-12-31",
    "/api/bookings/?booked_after=0001-01-01T00:00:00%2B14:00",
    "/api/bookings/?booked_before=9999-12-31T23:59:59-12:00",
    "/admin/bookings/booking/?q=%00",
    "/admin/bookings/booking/?channel__exact=%00",
    "/admin/bookings/booking/?booked_at__gte=0001-01-01",
    "/admin/bookings/booking/?booked_at__year=9999&booked_at__month=12",
    "/admin/axes/accessattempt/?attempt_time__year=-999999999999999999999999999999",  # found by the walk
    "/admin/bookings/booking/?booked_at__year=2026&booked_at__month=99999999999999999999",
    "/admin/bookings/webhookdelivery/abc/change/",
    "/admin/bookings/booking/1/change/?_to_field=",
    "/admin/attribution/channelrule/?medium_values__exact=cpc",
    "/admin/bookings/webhookdelivery/?invitee_uri=%00",
    "/admin/attribution/alias/?q=%00",
    "/admin/auth/user/?q=%00",
])
def test_known_hostile_parameters_get_a_client_error_or_a_page(client, world, url):
    client.force_login(world["admin"])
    assert _get(client, url, "").status_code < 500


def _messages(response) -> str:
    return " ".join(str(m) for m in response.context["messages"]) if response.context else ""


@pytest.mark.parametrize("form", [
    {"action": "alias", "value": "x" * 300, "canonical": "linkedin"},
    {"action": "alias", "value": "lnkd\x00", "canonical": "linkedin"},
    {"action": "rule", "channel": "C" * 100, "source": "newsletter"},
    {"action": "rule", "channel": "Partners", "source": "s" * 101},
])
def test_over_long_or_nul_alias_and_rule_values_are_a_form_error(client, world, form):
    from attribution.models import Alias, ChannelRule

    client.force_login(world["marketing"])
    before = (Alias.objects.count(), ChannelRule.objects.count())
    response = client.post("/dashboard/hygiene/", form, follow=True)
    assert response.status_code == 200
    assert "not added" in _messages(response)
    assert (Alias.objects.count(), ChannelRule.objects.count()) == before


@pytest.mark.parametrize("form", [
    {"source": "s" * 300}, {"source": "newsletter", "campaign": "c" * 300}, {"source": "news\x00letter"},
    {"revert": "9" * 30}, {"revert": "abc"},
])
def test_over_long_or_broken_assignment_values_are_a_form_error(client, world, form):
    from attribution.models import ManualAttribution

    booking = BookingFactory()
    client.force_login(world["marketing"])
    before = ManualAttribution.objects.count()
    response = client.post("/dashboard/direct/", {"booking": [str(booking.pk)], **form}, follow=True)
    assert response.status_code == 200
    assert "Not " in _messages(response)
    assert ManualAttribution.objects.count() == before


def test_a_date_outside_1900_2100_says_why_the_dashboard_shows_the_last_30_days(client, world):
    client.force_login(world["marketing"])
    response = client.get("/dashboard/?range=custom&start=0001-01-01&end=2026-01-01")
    assert response.status_code == 200
    assert "outside 1900–2100; showing the last 30 days" in _messages(response)
    api = client.get("/api/reports/breakdown/?booked_before=9999-12-31")
    assert api.status_code == 400 and "between 1900 and 2100" in api.content.decode()


@pytest.mark.django_db
def test_an_ip_address_filter_that_is_not_an_ip_address_is_a_400(admin_client):
    """Found by the walk above: django-axes' admin list let ValueError through (a 500)."""
    assert admin_client.get("/admin/axes/accessattempt/?ip_address__exact=0703-07-22").status_code == 400
    assert admin_client.get("/admin/axes/accessattempt/?ip_address__exact=127.0.0.1").status_code == 200


def test_a_delivery_remote_address_filter_that_is_not_an_ip_address_is_a_400(admin_client):
    # found by the hostile-parameter walk: the raw deliveries' remote_addr is an IP field too
    assert admin_client.get("/admin/bookings/webhookdelivery/?remote_addr__exact=%3A").status_code == 400
    assert admin_client.get("/admin/bookings/webhookdelivery/?remote_addr__exact=127.0.0.1").status_code == 200
