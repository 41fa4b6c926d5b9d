"""URLconf, view and WSGI application of the baseline receiver (see settings.py)."""

import hashlib
import hmac
import json
import os
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.baseline.settings")

from django.conf import settings  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.urls import path  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402


class Webhook(APIView):
    def post(self, request):
        body = request.body
        parts = dict(item.split("=", 1) for item in request.headers.get("Calendly-Webhook-Signature", "").split(",")
                     if "=" in item)
        t, v1 = parts.get("t", ""), parts.get("v1", "")
        expected = hmac.new(settings.SIGNING_KEY.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
        if not t.isdigit() or not hmac.compare_digest(expected, v1) or abs(time.time() - int(t)) > 180:
            return Response({"detail": "bad signature"}, status=401)
        data = json.loads(body)
        event, uri = data["event"], data["payload"]["uri"]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("INSERT INTO baseline_delivery (event, invitee_uri, body) VALUES (%s, %s, %s)", [event, uri, body])
            cursor.execute("INSERT INTO baseline_booking (invitee_uri, event) VALUES (%s, %s) ON CONFLICT (invitee_uri)"
                           " DO UPDATE SET event = EXCLUDED.event, updated_at = now()", [uri, event])
        return Response({"ok": True})


urlpatterns = [path("webhooks/calendly/", Webhook.as_view())]
application = get_wsgi_application()
