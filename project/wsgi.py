import os

from django.core.wsgi import get_wsgi_application

from project.preflight import check_or_exit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
check_or_exit()
application = get_wsgi_application()
