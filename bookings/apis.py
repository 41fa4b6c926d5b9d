from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from bookings.filters import BookingFilter
from bookings.models import WebhookDelivery
from bookings.selectors import booking_list
from bookings.services.intake import THROTTLED, delivery_receive, delivery_refuse_too_large
from project.clientip import client_ip
from project.permissions import HasPerm


def _request_body(request, *, limit: int) -> bytes:
    """The request body, never reading more than `limit` + 1 bytes; RequestDataTooBig past `limit`.

    A chunked request (no Content-Length) is read from the WSGI input to its end: Django's
    `request.body` reads Content-Length bytes, so it would see an empty body. Only a server that
    de-chunks and terminates the input (gunicorn sets `wsgi.input_terminated`) is read that way;
    reading an unterminated socket until EOF would hang."""
    meta = request.META
    try:
        declared = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise RequestDataTooBig(declared)
    if not meta.get("CONTENT_LENGTH") and meta.get("wsgi.input_terminated"):
        stream, chunks, size = meta["wsgi.input"], [], 0
        while size <= limit:
            chunk = stream.read(min(64 * 1024, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise RequestDataTooBig(size)
        return b"".join(chunks)
    body = request.body
    if len(body) > limit:
        raise RequestDataTooBig(len(body))
    return body


class _JSONOnly(BaseContentNegotiation):
    """The webhook answers JSON whatever the Accept header says, and reads its body raw (no parser)."""

    def select_parser(self, request, parsers):
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


@extend_schema(exclude=True)  # Calendly's callback, not part of the client API
class CalendlyWebhookApi(APIView):
    """Calendly's callback: record raw, verify, derive, answer within milliseconds.

    The signature is its authentication, so DRF's per-request machinery is switched off: no authenticators,
    permissions or throttles to look up, no content negotiation, one renderer (the rejection limiter lives
    in intake: only unverified deliveries ask it)."""

    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes: list = []
    parser_classes: list = []
    renderer_classes = [JSONRenderer]
    content_negotiation_class = _JSONOnly

    def perform_authentication(self, request):
        pass  # nobody logs in here: `request.user` is never read

    def post(self, request):
        headers = {k.lower(): v for k, v in request.headers.items()}
        remote_addr = client_ip(request)
        try:
            body = _request_body(request, limit=settings.WEBHOOK_MAX_BODY_BYTES)
        except RequestDataTooBig as exc:
            size = exc.args[0] if exc.args and isinstance(exc.args[0], int) else settings.WEBHOOK_MAX_BODY_BYTES + 1
            return self._too_large(headers=headers, remote_addr=remote_addr, size=size)
        try:
            receipt = delivery_receive(body=body, headers=headers, remote_addr=remote_addr)
        except DatabaseError:
            return self._unavailable()
        if receipt.state == THROTTLED:
            return self._throttled(receipt)
        if receipt.state == WebhookDelivery.State.REJECTED:
            return Response({"detail": receipt.error}, status=status.HTTP_401_UNAUTHORIZED)
        return Response({"ok": True, "delivery": receipt.delivery_id, "state": receipt.state})

    def _too_large(self, *, headers, remote_addr, size):
        try:
            receipt = delivery_refuse_too_large(headers=headers, remote_addr=remote_addr, size=size)
        except DatabaseError:
            receipt = None
        if receipt is not None and receipt.state == THROTTLED:
            return self._throttled(receipt)
        limit = settings.WEBHOOK_MAX_BODY_BYTES
        return Response({"detail": f"body larger than {limit} bytes"}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)

    def _throttled(self, receipt):
        # Only rejected deliveries are counted: a correctly signed one is never throttled.
        return Response({"detail": f"too many rejected deliveries from this address ({receipt.error})"},
                        status=status.HTTP_429_TOO_MANY_REQUESTS, headers={"Retry-After": str(receipt.retry_after)})

    def _unavailable(self):
        # Not stored means not safe to acknowledge: 503 makes Calendly send it again.
        return Response({"detail": "storage unavailable, retry later"}, status=status.HTTP_503_SERVICE_UNAVAILABLE,
                        headers={"Retry-After": "30"})


@extend_schema_serializer(component_name="BookingTouch")
class TouchOutputSerializer(serializers.Serializer):
    """A booking's first or last non-direct touch (its `<prefix>_*` columns)."""

    source = serializers.CharField()
    medium = serializers.CharField()
    campaign = serializers.CharField()
    channel = serializers.CharField()
    at = serializers.DateTimeField()


class _TouchField(serializers.Field):
    """`first_touch` / `last_touch`: the booking's `<prefix>_*` columns as one object, or null."""

    def __init__(self, prefix: str, **kwargs):
        self.prefix = prefix
        super().__init__(source="*", read_only=True, allow_null=True, **kwargs)

    def to_representation(self, booking):
        at = getattr(booking, f"{self.prefix}_at")
        if at is None:
            return None
        return TouchOutputSerializer({name: getattr(booking, f"{self.prefix}_{name}")
                                      for name in ("source", "medium", "campaign", "channel")} | {"at": at}).data


extend_schema_field(TouchOutputSerializer(allow_null=True))(_TouchField)


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
        visitor_id = serializers.CharField()
        attributed_by = serializers.CharField()
        first_touch = _TouchField("first_touch")
        last_touch = _TouchField("last_touch")
        hubspot_state = serializers.CharField()

    serializer_class = OutputSerializer
    filterset_class = BookingFilter
    permission_classes = [HasPerm("bookings.view_booking")]

    def get_queryset(self):
        return booking_list()
