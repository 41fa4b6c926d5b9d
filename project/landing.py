"""Where each role belongs: the one home for "which page does this user start on".

Marketing (anyone who may see the dashboard) starts on the dashboard; everyone else who may read bookings
(sales) starts on the bookings list in the admin. Used after log-in (both log-in pages), by `/`, and for the
admin's "View site" link.
"""

from __future__ import annotations

from django.urls import reverse

DASHBOARD_PERMISSION = "attribution.view_dashboard"
BOOKINGS_PERMISSION = "bookings.view_booking"


def is_sales(user) -> bool:
    """Reads bookings but may not see the marketing dashboard (the Sales group, or any such user)."""
    return not user.has_perm(DASHBOARD_PERMISSION) and user.has_perm(BOOKINGS_PERMISSION)


def landing_url(user) -> str:
    if is_sales(user):
        return reverse("admin:bookings_booking_changelist")
    return reverse("dashboard")


def after_login_url(user, requested: str) -> str:
    """`requested` is the log-in form's `next` (already checked to be safe), "" when none. The generic starting
    points ("/", the dashboard) become the user's own landing page; the admin's home sends sales to their
    list; any other page asked for is kept."""
    if requested in ("", "/", reverse("dashboard")):
        return landing_url(user)
    if requested == reverse("admin:index") and is_sales(user):
        return reverse("admin:bookings_booking_changelist")
    return requested
