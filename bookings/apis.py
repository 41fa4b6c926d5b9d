from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from bookings.filters import BookingFilter
from bookings.models import WebhookDelivery
from bookings.selectors import booking_list
from bookings.services import delivery_receive
from project.permissions import HasPerm


@extend_schema(exclude=True)  # Calendly's callback, not part of the client API
class CalendlyWebhookApi(APIView):
    """Calendly's callback: record raw, verify, derive, answer within milliseconds."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    def post(self, request):
        limit = settings.WEBHOOK_MAX_BODY_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        headers = {k.lower(): v for k, v in request.headers.items()}
        remote_addr = request.META.get("REMOTE_ADDR")
        try:
            if declared > limit:
                raise RequestDataTooBig()
            body = request.body
            if len(body) > limit:
                raise RequestDataTooBig()
        except RequestDataTooBig:
            return self._too_large(headers=headers, remote_addr=remote_addr, size=declared)
        try:
            receipt = delivery_receive(body=body, headers=headers, remote_addr=remote_addr)
        except DatabaseError:
            # Not stored means not safe to acknowledge: 503 makes Calendly send it again.
            return Response(
                {"detail": "storage unavailable, retry later"},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
                headers={"Retry-After": "30"},
            )
        if receipt.state == WebhookDelivery.State.REJECTED:
            return Response({"detail": receipt.error}, status=status.HTTP_401_UNAUTHORIZED)
        return Response({"ok": True, "delivery": receipt.delivery_id, "state": receipt.state})

    def _too_large(self, *, headers, remote_addr, size):
        limit = settings.WEBHOOK_MAX_BODY_BYTES
        try:
            # The oversized body itself is not kept; the attempt is, so it shows up in admin.
            delivery_receive(body=b"", headers=headers, remote_addr=remote_addr, reject_reason=f"body too large ({size} bytes)")
        except DatabaseError:
            pass
        return Response({"detail": f"body larger than {limit} bytes"}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)


class BookingListApi(ListAPIView):
    """Bookings with their attribution, filterable like the admin."""

    @extend_schema_serializer(component_name="Booking")
    class OutputSerializer(serializers.Serializer):
        invitee_uri = serializers.CharField()
        event_uri = serializers.CharField()
        email = serializers.CharField()
        name = serializers.CharField()
        status = serializers.CharField()
        rescheduled = serializers.BooleanField()
        rescheduled_from = serializers.CharField(source="rescheduled_from.invitee_uri", default=None, allow_null=True)
        event_type_name = serializers.CharField()
        start_time = serializers.DateTimeField(allow_null=True)
        end_time = serializers.DateTimeField(allow_null=True)
        booked_at = serializers.DateTimeField(allow_null=True)
        canceled_at = serializers.DateTimeField(allow_null=True)
        no_show = serializers.BooleanField()
        tracking = serializers.JSONField()
        source = serializers.CharField()
        medium = serializers.CharField()
        campaign = serializers.CharField()
        content = serializers.CharField()
        term = serializers.CharField()
        channel = serializers.CharField()
        self_reported_source = serializers.CharField()
        hubspot_state = serializers.CharField()

    serializer_class = OutputSerializer
    filterset_class = BookingFilter
    permission_classes = [HasPerm("bookings.view_booking")]

    def get_queryset(self):
        return booking_list()
