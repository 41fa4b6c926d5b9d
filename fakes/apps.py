from django.apps import AppConfig


class FakesConfig(AppConfig):
    name = "fakes"
    verbose_name = "Fake HubSpot and Calendly (tests, demo, benchmarks)"
