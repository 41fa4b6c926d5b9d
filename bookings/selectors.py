"""Reads of bookings and deliveries."""

from django.db.models import QuerySet

from bookings.counting import COUNTABLE
from bookings.models import Booking, WebhookDelivery


def booking_list() -> QuerySet[Booking]:
    return Booking.objects.select_related("rescheduled_from").order_by("-booked_at", "-id")


def booking_countable() -> QuerySet[Booking]:
    """Bookings as marketing counts them (bookings/counting.py)."""
    return Booking.objects.filter(COUNTABLE)


def delivery_list_for_booking(*, booking: Booking) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(invitee_uri=booking.invitee_uri).order_by("received_at", "id")
