"""Requests no page can answer are refused (400) before any view runs.

- A NUL character in the path or query string. PostgreSQL text can't hold NUL, so such a value can never
  name a row: every filter, search, drill-down or lookup that passed it on would fail in the database
  with a 500 — in our views, in the admin's own list filters and in third-party admin pages alike.
- An empty `_to_field` on an admin page: Django's admin looks up a field named "" (a 500 on every
  model's change, delete and history page).
- An admin list filter on an IP address field (django-axes' access logs) with a value that is not an
  IP address: the field raises ValueError while the query is built (a 500).
- An admin date-hierarchy part (`…__year`, `__month`, `__day`) that is an integer past 64 bits: the
  admin's `datetime(int(year), …)` raises OverflowError, which it does not catch (a 500).

Webhooks are left alone: intake stores every delivery as received and judges it itself.
"""

import ipaddress

from django.core.exceptions import SuspiciousOperation

EXEMPT_PREFIXES = ("/webhooks/",)


class MalformedRequest(SuspiciousOperation):
    """Django answers a SuspiciousOperation with 400 (the project's 400 page) and logs it as a security event."""


class RequestGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(EXEMPT_PREFIXES):
            if _has_nul(request):
                raise MalformedRequest("NUL character in the URL or query string")
            if "_to_field" in request.GET and not all(request.GET.getlist("_to_field")):
                raise MalformedRequest("empty _to_field")
            if request.path.startswith("/admin/") and not _ip_filters_parse(request):
                raise MalformedRequest("an IP address filter that is not an IP address")
            if request.path.startswith("/admin/") and not _date_parts_fit(request):
                raise MalformedRequest("a date part that is no calendar number")
        return self.get_response(request)


def _ip_filters_parse(request) -> bool:
    for key, values in request.GET.lists():
        if ("ip_address" in key or "remote_addr" in key) and not key.endswith(("__isnull", "__contains", "__icontains", "__startswith")):
            for value in values:
                try:
                    ipaddress.ip_address(value.strip())
                except ValueError:
                    return False
    return True


def _date_parts_fit(request) -> bool:
    for key, values in request.GET.lists():
        if key.endswith(("__year", "__month", "__day")):
            for value in values:
                digits = value.strip().lstrip("+-")
                if digits.isdigit() and len(digits) > 9:  # no year, month or day has ten digits
                    return False
    return True


def _has_nul(request) -> bool:
    if "\x00" in request.path:
        return True
    if "%00" not in request.META.get("QUERY_STRING", "") and "\x00" not in request.META.get("QUERY_STRING", ""):
        return False  # the common case costs one substring search
    return any("\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists())


def admin_lookup_parses(model, lookup: str) -> bool:
    """False for a lookup on an ArrayField: the admin passes the query-string text through, and
    PostgreSQL refuses it as a malformed array literal (a 500). Such a lookup is refused (400) instead."""
    from django.contrib.postgres.fields import ArrayField
    from django.core.exceptions import FieldDoesNotExist
    from django.db.models.constants import LOOKUP_SEP

    try:
        field = model._meta.get_field(lookup.split(LOOKUP_SEP)[0])
    except FieldDoesNotExist:
        return True  # the ORM refuses unknown names itself
    return not isinstance(field, ArrayField)
