import os

from celery import Celery
from celery.signals import beat_init, import_modules, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

app = Celery("sourcebook")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# project/ is not a Django app, so its tasks (the health heartbeat) are imported explicitly.
app.conf.imports = ("project.tasks",)


@import_modules.connect  # worker and beat, before either touches the broker or the database
@worker_init.connect
@beat_init.connect
def _refuse_unsafe_start(sender=None, **kwargs):
    """Celery runs Django's checks but ignores their result: refuse the public development secrets here."""
    from project.checks import refuse_unsafe_start  # needs Django settings, which this module must not load at import

    refuse_unsafe_start("celery")
