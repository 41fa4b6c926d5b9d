import factory
from django.utils import timezone

from journeys.models import Touch, TrackedLink
from journeys.services import visitor_id_new


class TouchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Touch

    visitor_id = factory.LazyFunction(visitor_id_new)
    at = factory.LazyFunction(timezone.now)
    kind = Touch.Kind.SESSION
    source, medium, campaign, channel = "(direct)", "(none)", "(not set)", "Direct"
    landing_path = "/"


class TrackedLinkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TrackedLink

    slug = factory.Sequence(lambda n: f"link{n}")
    destination = "https://www.example.com/pricing"
    utm_source, utm_medium, utm_campaign = "linkedin", "social", "spring_launch_202606"
