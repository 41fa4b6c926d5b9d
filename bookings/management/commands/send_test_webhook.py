import json
import sys
import uuid

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from bookings import calendly
from bookings.samples import encode, invitee_payload, signed_headers


class Command(BaseCommand):
    help = "Sign and POST a realistic Calendly webhook to a Sourcebook URL (no database needed)."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000/webhooks/calendly/")
        parser.add_argument("--event", default=calendly.INVITEE_CREATED,
                            choices=[calendly.INVITEE_CREATED, calendly.INVITEE_CANCELED, calendly.NO_SHOW_CREATED,
                                     calendly.NO_SHOW_DELETED])
        parser.add_argument("--utm-source")
        parser.add_argument("--utm-medium")
        parser.add_argument("--utm-campaign")
        parser.add_argument("--email", default="test.invitee@example.com")
        parser.add_argument("--invitee-id", help="Reuse an id to cancel or mark a no-show for an earlier test booking.")
        parser.add_argument("--key", help="Signing key (default: first of CALENDLY_WEBHOOK_SIGNING_KEYS).")

    def handle(self, *args, **o):
        tracking = {f"utm_{k}": o[f"utm_{k}"] for k in ("source", "medium", "campaign") if o[f"utm_{k}"]}
        invitee_id = o["invitee_id"] or uuid.uuid4().hex[:12]
        body = encode(invitee_payload(event=o["event"], invitee_id=invitee_id, email=o["email"], tracking=tracking))
        key = o["key"] or settings.CALENDLY_WEBHOOK_SIGNING_KEYS[0]
        try:
            response = httpx.post(o["url"], content=body, headers=signed_headers(body, key=key), timeout=10)
        except httpx.HTTPError as exc:
            raise CommandError(f"could not reach {o['url']}: {exc}") from exc
        try:
            shown = json.dumps(response.json())
        except ValueError:
            shown = response.text[:500]
        self.stdout.write(f"{response.status_code} {shown}")
        self.stdout.write(f"invitee id: {invitee_id}")
        if not response.is_success:
            sys.exit(1)
