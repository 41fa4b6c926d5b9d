import django_filters
from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_datetime

from bookings.models import Booking

EARLIEST_YEAR, LATEST_YEAR = 1900, 2100


class BoundedIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """0001-01-01 or 9999-12-31 overflow the time zone arithmetic: a date outside 1900–2100 is a 400."""

    def strptime(self, value, format):
        if format == self.ISO_8601:
            parsed = parse_datetime(str(value))
            if parsed is not None and not EARLIEST_YEAR <= parsed.year <= LATEST_YEAR:
                raise ValidationError(f"Use a date between {EARLIEST_YEAR} and {LATEST_YEAR}.", code="invalid")
        return super().strptime(value, format)


class BoundedIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = BoundedIsoDateTimeField


class BookingFilter(django_filters.FilterSet):
    booked_after = BoundedIsoDateTimeFilter(field_name="booked_at", lookup_expr="gte")
    booked_before = BoundedIsoDateTimeFilter(field_name="booked_at", lookup_expr="lt")
    email = django_filters.CharFilter(field_name="email", lookup_expr="iexact")
    source = django_filters.CharFilter(field_name="source", lookup_expr="iexact")
    medium = django_filters.CharFilter(field_name="medium", lookup_expr="iexact")
    campaign = django_filters.CharFilter(field_name="campaign", lookup_expr="iexact")
    channel = django_filters.CharFilter(field_name="channel", lookup_expr="iexact")

    class Meta:
        model = Booking
        fields = ["invitee_uri", "email", "status", "source", "medium", "campaign", "channel", "booked_after", "booked_before"]
