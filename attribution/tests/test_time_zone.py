"""One time zone setting drives the rollup's days and the display; changing it rebuilds the rollup."""

from datetime import date, datetime, timezone as dt_timezone

import pytest
from django.apps import apps
from django.test import override_settings

from attribution.apps import rollup_time_zone_follow
from attribution.models import DailyStat, RollupState
from attribution.rollup import rollup_compact
from attribution.tests.test_dashboard import roles  # noqa: F401  (fixture)
from bookings.samples import invitee_payload

pytestmark = pytest.mark.django_db


def days():
    rollup_compact()
    return sorted(set(DailyStat.objects.filter(model="booking").values_list("day", flat=True)))


def test_changing_the_time_zone_rebuilds_the_rollup_at_migrate(post_signed, client, roles):  # noqa: F811
    # 03:00 UTC on 10 November is still 9 November in New York.
    post_signed(invitee_payload(invitee_id="TZ", booked_at=datetime(2026, 11, 10, 3, 0, tzinfo=dt_timezone.utc)))
    assert RollupState.objects.get().time_zone == "UTC" and days() == [date(2026, 11, 10)]
    with override_settings(TIME_ZONE="America/New_York"):
        client.force_login(roles("m", "Marketing"))
        page = client.get("/dashboard/?range=custom&start=2026-11-09&end=2026-11-09").content.decode()
        assert "The report rollup counts days in UTC" in page  # stale until migrate rebuilds it
        rollup_time_zone_follow(apps.get_app_config("attribution"), verbosity=0)  # what `migrate` runs after
        assert RollupState.objects.get().time_zone == "America/New_York" and days() == [date(2026, 11, 9)]
        response = client.get("/dashboard/?range=custom&start=2026-11-09&end=2026-11-09")
        assert response.context["data"]["kpis"]["bookings"] == 1
        assert "times in America/New_York" in response.content.decode()
        assert "The report rollup counts days in" not in response.content.decode()
