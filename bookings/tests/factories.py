import factory
from django.contrib.auth.models import Permission, User
from django.utils import timezone

from bookings.models import Booking, WebhookDelivery
from bookings.samples import encode, invitee_payload


class BookingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Booking

    invitee_uri = factory.Sequence(lambda n: f"https://api.calendly.com/scheduled_events/EV{n}/invitees/INV{n}")
    event_uri = factory.LazyAttribute(lambda o: o.invitee_uri.rsplit("/invitees/", 1)[0])
    email = factory.Sequence(lambda n: f"person{n}@example.com")
    name = factory.Faker("name")
    event_type_name = "Product demo"
    booked_at = factory.LazyFunction(timezone.now)
    source, medium, campaign, channel = "(direct)", "(none)", "(not set)", "Direct"


class WebhookDeliveryFactory(factory.django.DjangoModelFactory):
    """A stored delivery with a real payload body (signature already judged valid)."""

    class Meta:
        model = WebhookDelivery

    class Params:
        payload = factory.LazyFunction(invitee_payload)

    received_at = factory.LazyFunction(timezone.now)
    body = factory.LazyAttribute(lambda o: encode(o.payload))
    event_type = factory.LazyAttribute(lambda o: o.payload["event"])
    invitee_uri = factory.LazyAttribute(lambda o: o.payload["payload"]["uri"])
    signature_valid = True
    state = WebhookDelivery.State.RECEIVED


def staff_user(username: str, *perms: str) -> User:
    user = User.objects.create_user(username, password="pw-123456789", is_staff=True)
    for codename in perms:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user
