"""Re-attribution as a background job: batch-by-batch commits, resume after a crash, one job at a time,
and the web request (admin action, hygiene page) or `--background` only queues it."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from attribution.models import ChannelRule, ReattributeJob
from attribution.ruleset import ruleset_changed
from attribution.services import (ReattributeBusy, bookings_reattribute, reattribute_job_claim, reattribute_job_run,
                                   reattribute_job_start, reattribute_job_sweep, reattribute_preview)
from attribution.tests.conftest import run_queued_reattribute
from bookings.models import Booking
from bookings.services.fold import booking_reattribute
from hubspot_sync.models import BookingSync

pytestmark = pytest.mark.django_db


class Crash(BaseException):
    """A worker killed between two batches (not an Exception: nothing in the job catches it)."""


def _g2_bookings(book, n: int) -> list[str]:
    uris = [book(utm={"utm_source": "g2crowd", "utm_medium": "listing"}) for _ in range(n)]
    assert set(Booking.objects.values_list("channel", flat=True)) == {"Unassigned"}
    ChannelRule.objects.create(position=5, channel="Review Sites", source_values=["g2crowd"])
    ruleset_changed()
    return uris


def _marketing(username="marketer-ann") -> User:
    call_command("setup_roles", verbosity=0)
    user = User.objects.create_user(username, password="pw-123456", is_staff=True)
    user.groups.add(Group.objects.get(name="Marketing"))
    return user


def _attribution_state() -> list[tuple]:
    return list(Booking.objects.order_by("id").values_list("id", "source", "channel", "rules_version", "hubspot_state"))


# --- batch by batch, resumable -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_each_batch_commits_so_another_connection_sees_progress_before_the_end(book):
    _g2_bookings(book, 12)
    seen = []

    def look_from_another_connection(done, total):
        def read():
            job = ReattributeJob.objects.get()
            seen.append((job.state, job.done, job.total, Booking.objects.filter(channel="Review Sites").count()))
            connection.close()

        reader = threading.Thread(target=read)
        reader.start()
        reader.join()

    result = bookings_reattribute(batch_size=5, progress=look_from_another_connection)
    assert result.changed == 12
    assert seen[0] == ("running", 5, 12, 5)  # the first batch is committed while the job still runs
    assert seen[1] == ("running", 10, 12, 10)
    job = ReattributeJob.objects.get()
    assert (job.state, job.done, job.total, job.changed, job.moves) == ("done", 12, 12, 12, [["Unassigned", "Review Sites", 12]])
    assert job.finished_at and job.started_at and BookingSync.objects.filter(state="pending").count() == 12


def test_a_job_killed_mid_way_resumes_to_the_same_final_state(book):
    for utm in ({"utm_source": "fb", "utm_medium": "cpc"}, {"utm_source": "HN", "utm_medium": "social"}, {},
                {"utm_medium": "email"}, {"utm_source": "g2crowd", "utm_medium": "x"}) * 3:
        book(utm=utm, answer="Perplexity")
    ChannelRule.objects.filter(channel="Paid Social").update(enabled=False)
    ChannelRule.objects.create(position=5, channel="Review Sites", source_values=["g2crowd"])
    version = ruleset_changed()
    uninterrupted = reattribute_preview()  # what one run without a crash does
    assert uninterrupted.changed > 4

    job, created = reattribute_job_start()
    batches = []

    def kill_after_two_batches(done, total):
        batches.append(done)
        if len(batches) == 2:
            raise Crash

    with pytest.raises(Crash):
        reattribute_job_run(job_id=job.pk, batch_size=4, progress=kill_after_two_batches)
    job.refresh_from_db()
    assert (job.state, job.done) == ("running", 8)  # left running, as a dead worker leaves it
    assert Booking.objects.filter(rules_version=version).count() == 8
    assert reattribute_job_run(job_id=job.pk) is None  # not stale yet: nobody else takes it

    ReattributeJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert reattribute_job_sweep() == [job.pk]  # beat enqueues it again
    assert reattribute_job_start() == (ReattributeJob.objects.get(pk=job.pk), False)  # and a new start finds it
    resumed = reattribute_job_run(job_id=job.pk, batch_size=4)
    assert (resumed.state, resumed.done, resumed.total) == ("done", 15, 15)
    assert resumed.changed == uninterrupted.changed
    assert {(o, n): c for o, n, c in resumed.moves} == uninterrupted.moves
    assert not Booking.objects.exclude(rules_version=version).exists()
    crashed_then_resumed = _attribution_state()

    # The per-booking path (what a fresh webhook computes) agrees with the resumed bulk job.
    for booking in Booking.objects.all():
        assert booking_reattribute(booking=booking) is False
    assert _attribution_state() == crashed_then_resumed


def test_rules_edited_while_a_job_runs_are_applied_by_the_same_job(book):
    _g2_bookings(book, 6)

    def edit_rules_after_the_first_batch(done, total):
        if done == 2:
            ChannelRule.objects.filter(channel="Review Sites").update(channel="Reviews")
            ruleset_changed()

    result = bookings_reattribute(batch_size=2, progress=edit_rules_after_the_first_batch)
    assert set(Booking.objects.values_list("channel", flat=True)) == {"Reviews"}
    assert set(Booking.objects.values_list("rules_version", flat=True)) == {result.rules_version}
    job = ReattributeJob.objects.get()
    assert job.state == "done" and job.done == 8  # 2 brought to the first version, then all 6 to the second


# --- two jobs never run at once ------------------------------------------------------------------


def test_a_second_start_gets_the_active_job_and_the_database_refuses_two(book):
    first, created = reattribute_job_start(since=None)
    assert created
    second, created_again = reattribute_job_start(where_source="google")
    assert (second, created_again) == (first, False)
    with pytest.raises(IntegrityError), transaction.atomic():
        ReattributeJob.objects.create(state=ReattributeJob.State.RUNNING)
    assert reattribute_job_claim(job_id=first.pk) is not None
    assert reattribute_job_claim(job_id=first.pk) is None  # one runner per job
    ReattributeJob.objects.filter(pk=first.pk).update(state="done")
    assert reattribute_job_start()[1] is True  # once it is finished a new one may start


def test_while_a_job_runs_another_run_is_refused_with_a_clear_message(book):
    _g2_bookings(book, 4)
    errors = []

    def try_a_second_one(done, total):
        if done == 2:
            with pytest.raises(ReattributeBusy) as busy:
                bookings_reattribute()
            errors.append(str(busy.value))
            with pytest.raises(CommandError, match="already running"):
                call_command("reattribute")

    bookings_reattribute(batch_size=2, progress=try_a_second_one)
    assert errors and errors[0].startswith(f"re-attribution #{ReattributeJob.objects.get().pk} is already running (2/4")
    assert ReattributeJob.objects.count() == 1


# --- the web request and --background only queue --------------------------------------------------


def test_the_admin_action_only_queues_the_job(client, book, django_capture_on_commit_callbacks):
    _g2_bookings(book, 3)
    before = _attribution_state()
    user = _marketing()
    client.force_login(user)
    rule = ChannelRule.objects.first()
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post("/admin/attribution/channelrule/", {"action": "reattribute_bookings",
                                                                   "_selected_action": [rule.pk]}, follow=True)
    job = ReattributeJob.objects.get()
    assert f"Re-attribution #{job.pk} queued" in response.content.decode()
    assert (job.state, job.started_by) == ("queued", user)
    assert len(callbacks) == 1  # the enqueue, after the commit
    assert _attribution_state() == before  # no booking changed in the request

    again = client.post("/admin/attribution/channelrule/", {"action": "reattribute_bookings",
                                                            "_selected_action": [rule.pk]}, follow=True)
    assert f"Re-attribution #{job.pk} is already queued" in again.content.decode()
    run_queued_reattribute()
    assert set(Booking.objects.values_list("channel", flat=True)) == {"Review Sites"}


def test_the_hygiene_page_only_queues_the_job(client, book):
    book(utm={"utm_source": "partnerportal", "utm_medium": "widget"})
    before = _attribution_state()
    client.force_login(_marketing())
    response = client.post("/dashboard/hygiene/", {"action": "rule", "source": "partnerportal", "channel": "Partners",
                                                   "new_channel": "1"}, follow=True)
    assert "re-attributed in the background" in response.content.decode()
    job = ReattributeJob.objects.get()
    assert (job.state, job.where_source) == ("queued", "partnerportal")
    assert _attribution_state() == before
    page = client.get("/dashboard/hygiene/").content.decode()
    assert f"Re-attribution #{job.pk} queued" in page


def test_the_command_in_the_background_only_queues(book, capsys):
    _g2_bookings(book, 2)
    before = _attribution_state()
    call_command("reattribute", "--background")
    job = ReattributeJob.objects.get()
    assert f"Re-attribution #{job.pk} queued" in capsys.readouterr().out
    assert job.state == "queued" and job.started_by is None
    assert _attribution_state() == before
    call_command("reattribute")  # --wait (the default) takes the queued job and runs it here
    assert "2 changed" in capsys.readouterr().out
    job.refresh_from_db()
    assert job.state == "done"


# --- progress in the admin and on the dashboard ---------------------------------------------------


def test_progress_shows_in_the_admin_and_on_the_dashboard(client, book):
    _g2_bookings(book, 4)
    user = _marketing()
    client.force_login(user)
    job, _ = reattribute_job_start(user=user)
    ReattributeJob.objects.filter(pk=job.pk).update(state="running", done=1, total=4, started_at=timezone.now(),
                                                   heartbeat_at=timezone.now())
    page = " ".join(client.get("/dashboard/").content.decode().split())
    assert f"Re-attribution #{job.pk} running</strong>: 1 of 4 bookings (25%)" in page
    listing = client.get("/admin/attribution/reattributejob/").content.decode()
    assert "1 / 4 (25%)" in listing

    ReattributeJob.objects.filter(pk=job.pk).update(state="queued", done=0, total=0)
    run_queued_reattribute()
    page = " ".join(client.get("/dashboard/").content.decode().split())
    assert f"Last re-attribution #{job.pk}" in page and "4 bookings re-attributed, 4 changed" in page
    assert "Unassigned → Review Sites 4" in page
    listing = client.get("/admin/attribution/reattributejob/").content.decode()
    assert "4 / 4 (100%)" in listing and "Unassigned → Review Sites: 4" in listing and user.username in listing
    assert client.get(f"/admin/attribution/reattributejob/{job.pk}/change/").status_code == 200


def test_a_failed_job_shows_its_error(client, book):
    client.force_login(_marketing())
    job, _ = reattribute_job_start()
    ReattributeJob.objects.filter(pk=job.pk).update(state="failed", error="OperationalError: server closed the connection",
                                                   finished_at=timezone.now())
    page = client.get("/dashboard/hygiene/").content.decode()
    assert "failed" in page and "server closed the connection" in page
