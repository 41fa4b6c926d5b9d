from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    """Erasure of a person (`manage.py forget_person`). Imports bookings, journeys and hubspot_sync; nothing
    imports it except the project's settings."""

    name = "privacy"
    default_auto_field = "django.db.models.BigAutoField"
