import os

from django.core.wsgi import get_wsgi_application

from project.checks import refuse_unsafe_start
from project.preflight import check_or_exit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
# gunicorn never runs Django's system checks: refuse the public development secrets here (DEBUG off).
refuse_unsafe_start("gunicorn")
check_or_exit()
application = get_wsgi_application()
