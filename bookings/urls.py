from django.urls import path

from bookings.apis import BookingListApi, CalendlyWebhookApi

urlpatterns = [
    path("webhooks/calendly/", CalendlyWebhookApi.as_view(), name="calendly-webhook"),
    path("api/bookings/", BookingListApi.as_view(), name="api-bookings"),
]
