import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

app = Celery("sourcebook")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# project/ is not a Django app, so its tasks (the health heartbeat) are imported explicitly.
app.conf.imports = ("project.tasks",)
