"""The person page in the dashboard: one person's bookings and journey. Thin: parse, read, render."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import render
from django.urls import reverse

from journeys import selectors
from journeys.demo_views import demo_site_on
from journeys.services import visitor_id_valid

EMAIL_MAX = 254  # Booking.email's length: a longer value can never name a person


@login_required
@permission_required("attribution.view_dashboard", raise_exception=True)
def person(request):
    """GET /dashboard/people/?email=… (or ?visitor_id=sbv_…). An unknown person is an empty page, not a 404;
    a value that can't name anyone is a 400 with the same page and a reason. (A NUL is refused earlier, by
    project.request_guard.)"""
    email = (request.GET.get("email") or "").strip()
    visitor_id = (request.GET.get("visitor_id") or "").strip()
    error = ""
    if len(email) > EMAIL_MAX:
        error = f"That email is longer than {EMAIL_MAX} characters, so no booking can have it."
    elif visitor_id and not visitor_id_valid(visitor_id):
        error = "A visitor id is sbv_ followed by 22 letters, digits, - or _."
    context = {"email": email[:EMAIL_MAX], "visitor_id": visitor_id[:64], "error": error, "person": None,
               "demo_site": demo_site_on()}
    if error:
        return render(request, "journeys/person.html", context, status=400)
    if email or visitor_id:
        person = context["person"] = selectors.person_get(email=email, visitor_id=visitor_id)
        context["email"] = person["email"] or email  # a visitor id that booked names its email
        for event in person["bookings"]:
            if event["booking"] is not None:
                event["booking_url"] = reverse("admin:bookings_booking_change", args=[event["booking"].pk])
    return render(request, "journeys/person.html", context)
