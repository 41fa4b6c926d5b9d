import django_filters

from bookings.models import Booking


class BookingFilter(django_filters.FilterSet):
    booked_after = django_filters.IsoDateTimeFilter(field_name="booked_at", lookup_expr="gte")
    booked_before = django_filters.IsoDateTimeFilter(field_name="booked_at", lookup_expr="lt")
    email = django_filters.CharFilter(field_name="email", lookup_expr="iexact")
    source = django_filters.CharFilter(field_name="source", lookup_expr="iexact")
    medium = django_filters.CharFilter(field_name="medium", lookup_expr="iexact")
    campaign = django_filters.CharFilter(field_name="campaign", lookup_expr="iexact")
    channel = django_filters.CharFilter(field_name="channel", lookup_expr="iexact")

    class Meta:
        model = Booking
        fields = ["invitee_uri", "email", "status", "source", "medium", "campaign", "channel", "booked_after", "booked_before"]
