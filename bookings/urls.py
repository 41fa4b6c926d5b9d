from django.urls import path

from bookings.apis import BookingListApi, CalendlyWebhookApi

urlpatterns = [
    path("webhooks/calendly/", CalendlyWebhookApi.as_view(), name="calendly-webhook"),
    # The same endpoint without the slash: Calendly counts APPEND_SLASH's redirect as a failed delivery.
    path("webhooks/calendly", CalendlyWebhookApi.as_view(), name="calendly-webhook-no-slash"),
    path("api/bookings/", BookingListApi.as_view(), name="api-bookings"),
]
