"""Reads of bookings and deliveries."""

import re

from django.db.models import CharField, Count, Func, Q, QuerySet
from django.db.models.functions import Lower

from bookings.counting import COUNTABLE
from bookings.models import Booking, WebhookDelivery


def booking_list() -> QuerySet[Booking]:
    return Booking.objects.select_related("rescheduled_from").order_by("-booked_at", "-id")


def booking_countable() -> QuerySet[Booking]:
    """Bookings as marketing counts them (bookings/counting.py)."""
    return Booking.objects.filter(COUNTABLE)


def delivery_list_for_booking(*, booking: Booking) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(invitee_uri=booking.invitee_uri).order_by("received_at", "id")


class EmailDomain(Func):
    """lower(split_part(email, '@', 2)): the expression of index `booking_email_domain` (migration 0017). The
    constants are written into the SQL, not bound, so the planner matches the index under server-side binding."""

    template = "LOWER(SPLIT_PART(%(expressions)s, '@', 2))"
    output_field = CharField()


_DOMAIN = re.compile(r"^[^\s@]+\.[^\s@]+$")  # acme.com, mail.acme.co.uk


def booking_search(queryset: QuerySet[Booking], term: str) -> QuerySet[Booking]:
    """The bookings admin's search, each branch on an index (never a `LIKE '%x%'` scan of every booking):

    - `@acme.com` → everyone at that domain (index booking_email_domain);
    - `ada@acme.com`, `ada@` → emails starting with it, case-insensitive (booking_email_lower, a prefix);
    - `acme.com` → that domain, or emails/names starting with it;
    - `https://…` → the Calendly invitee URI, exactly (its unique index);
    - anything else → emails or names starting with it (booking_email_lower, booking_name_lower).
    """
    raw = term.strip()
    term = " ".join(raw.split()).lower()
    if not term:
        return queryset
    if term.startswith(("https://", "http://")):
        return queryset.filter(invitee_uri=raw)  # URIs are case-sensitive
    if term.startswith("@"):
        domain = term[1:].strip()
        return queryset.alias(_domain=EmailDomain("email")).filter(_domain=domain) if domain else queryset
    email_prefix = Q(_email__startswith=term)
    if "@" in term:
        return queryset.alias(_email=Lower("email")).filter(email_prefix)
    condition = email_prefix | Q(_name__startswith=term)
    queryset = queryset.alias(_email=Lower("email"), _name=Lower("name"))
    if _DOMAIN.match(term):
        queryset = queryset.alias(_domain=EmailDomain("email"))
        condition |= Q(_domain=term)
    return queryset.filter(condition)


def deliveries_accepted() -> QuerySet[WebhookDelivery]:
    """Webhook deliveries Calendly sent us (correctly signed), whatever their outcome: their silence is what the
    delivery-silence alert watches (a forged or unsigned request proves nothing about Calendly)."""
    return WebhookDelivery.objects.filter(origin=WebhookDelivery.Origin.WEBHOOK, signature_valid=True)


def deliveries_rejected_since(since) -> list[dict]:
    """Rejected webhook deliveries received since `since`, by reason and client address, most first (the rejection
    rate limit stores none past WEBHOOK_REJECT_RATE_LIMIT a minute per client: a lower bound in a flood)."""
    return list(WebhookDelivery.objects.filter(origin=WebhookDelivery.Origin.WEBHOOK, state=WebhookDelivery.State.REJECTED,
                                               received_at__gte=since)
                .values("signature_error", "remote_addr").annotate(n=Count("pk")).order_by("-n", "signature_error"))
