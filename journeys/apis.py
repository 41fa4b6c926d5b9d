"""Journey APIs: save a tracked link (the link builder's), read a person's journey. Thin."""

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from attribution.links import LinkError
from journeys import selectors, services
from project.permissions import HasPerm

MARKETING = [HasPerm("attribution.view_dashboard")]


def short_url(slug: str) -> str:
    return f"{settings.SOURCEBOOK_PUBLIC_URL.rstrip('/')}/l/{slug}"


class TrackedLinkCreateApi(APIView):
    """Save a tracked link: the builder's checks (no brand, no placeholder values), then a short /l/<slug>."""

    permission_classes = MARKETING

    @extend_schema_serializer(component_name="TrackedLinkInput")
    class InputSerializer(serializers.Serializer):
        base_url = serializers.CharField(max_length=2000)
        source = serializers.CharField(allow_blank=True, max_length=255)
        medium = serializers.CharField(allow_blank=True, max_length=255)
        campaign = serializers.CharField(allow_blank=True, max_length=255)
        content = serializers.CharField(required=False, allow_blank=True, default="", max_length=255)
        term = serializers.CharField(required=False, allow_blank=True, default="", max_length=255)

    @extend_schema_serializer(component_name="TrackedLink")
    class OutputSerializer(serializers.Serializer):
        slug = serializers.CharField()
        short_url = serializers.CharField()
        url = serializers.CharField()
        destination = serializers.CharField()
        click_count = serializers.IntegerField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        try:
            link, url = services.tracked_link_create(destination=values.pop("base_url"), **values, owner=request.user)
        except LinkError as exc:
            return Response({"errors": [{"field": f.parameter.removeprefix("utm_"), "code": f.code, "message": f.message}
                                        for f in exc.findings]}, status=400)
        return Response(self.OutputSerializer({"slug": link.slug, "short_url": short_url(link.slug), "url": url,
                                               "destination": link.destination, "click_count": 0}).data, status=201)


class JourneyGetApi(APIView):
    """A person's journey: touches and clicks of every visitor id that booked with the email, and their bookings."""

    permission_classes = MARKETING

    class InputSerializer(serializers.Serializer):
        email = serializers.CharField(required=False, allow_blank=True, max_length=254)
        visitor_id = serializers.CharField(required=False, allow_blank=True, max_length=64)

        def validate(self, attrs):
            if not (attrs.get("email") or "").strip() and not (attrs.get("visitor_id") or "").strip():
                raise serializers.ValidationError("Give email or visitor_id.")
            return attrs

    @extend_schema(parameters=[OpenApiParameter("email", str), OpenApiParameter("visitor_id", str)],
                   responses={200: dict})
    def get(self, request):
        data = self.InputSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        journey = selectors.journey_get(email=data.validated_data.get("email", ""),
                                        visitor_id=(data.validated_data.get("visitor_id") or "").strip())
        for event in journey["events"]:
            for key in ("at", "canceled_at"):
                if event.get(key) is not None:
                    event[key] = event[key].isoformat()
        return Response(journey)
