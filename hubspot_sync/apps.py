from django.apps import AppConfig


class HubspotSyncConfig(AppConfig):
    name = "hubspot_sync"
    verbose_name = "HubSpot sync"

    def ready(self):
        from project.metrics import register_collectors  # in ready(): project.metrics imports models, not loaded yet at import

        register_collectors()
