from django.apps import AppConfig


class JourneysConfig(AppConfig):
    name = "journeys"
    verbose_name = "Journeys"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # bookings must not import journeys (journeys imports bookings): the fold reads journeys through its port.
        from bookings.journey_port import journey_lookup_register
        from journeys.selectors import journey_summary_for_booking

        journey_lookup_register(journey_summary_for_booking)
