from django.apps import AppConfig


class HubspotSyncConfig(AppConfig):
    name = "hubspot_sync"
    verbose_name = "HubSpot sync"

    def ready(self):
        from project.metrics import register_collectors

        register_collectors()
