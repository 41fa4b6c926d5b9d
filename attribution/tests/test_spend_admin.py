"""The spend upload in the admin (django-import-export), as Marketing uses it: preview with per-row errors, confirm,
undo; files that can't be spend CSVs get a form error, never a 500; exports never start a formula."""

import csv
import io
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from attribution.models import Spend, SpendImport
from attribution.services import defaults_install

pytestmark = pytest.mark.django_db
IMPORT = "/admin/attribution/spend/import/"
CONFIRM = "/admin/attribution/spend/process_import/"
GOOD = (b"date,month,source,medium,campaign,cost,currency\n"
        b"2026-10-01,,Google,CPC,Brand,120.50,eur\n"
        b",2026-10,newsletter,email,digest,300,EUR\n")


@pytest.fixture
def marketer(client):
    defaults_install()
    call_command("setup_roles", verbosity=0)
    user = User.objects.create_user("mia", password="pw-123456789", is_staff=True)
    user.groups.add(Group.objects.get(name="Marketing"))
    client.force_login(user)
    return client


def upload(client, content: bytes, name="spend.csv"):
    return client.post(IMPORT, {"import_file": SimpleUploadedFile(name, content, content_type="text/csv"),
                                "format": "0", "resource": "0"})


def confirm(client, preview):
    form = preview.context["confirm_form"]
    assert form is not None, preview.context.get("result")
    return client.post(CONFIRM, {name: form.initial.get(name, "") for name in form.fields} | {"confirm": "1"})


def test_marketing_uploads_previews_confirms_and_undoes(marketer):
    page = marketer.get(IMPORT)
    assert page.status_code == 200 and b"spend_template.csv" in page.content and b"Spend uploads" in page.content
    preview = upload(marketer, GOOD)
    assert preview.status_code == 200 and Spend.objects.count() == 0  # a preview writes nothing
    assert "2 new rows, 0 replacing imported rows." in preview.content.decode()
    done = confirm(marketer, preview)
    assert done.status_code == 302
    assert sorted(Spend.objects.values_list("source", "medium", "campaign", "cost", "currency")) == [
        ("google", "cpc", "brand", Decimal("120.50"), "EUR"), ("newsletter", "email", "digest", Decimal("300.00"), "EUR")]
    batch = SpendImport.objects.get()
    assert (batch.file_name, batch.uploaded_by.username, batch.rows) == ("spend.csv", "mia", 2)

    confirm(marketer, upload(marketer, GOOD))  # the same file again replaces its rows
    assert Spend.objects.count() == 2 and SpendImport.objects.count() == 2
    latest = SpendImport.objects.order_by("-pk").first()
    assert set(Spend.objects.values_list("batch_id", flat=True)) == {latest.pk}

    undo = marketer.post("/admin/attribution/spendimport/", {"action": "undo_uploads", "_selected_action": [latest.pk]})
    assert undo.status_code == 302 and Spend.objects.count() == 0
    delete = marketer.post(f"/admin/attribution/spendimport/{batch.pk}/delete/", {"post": "yes"})
    assert delete.status_code == 302 and not SpendImport.objects.exists()


def test_bad_rows_are_listed_with_their_row_and_nothing_can_be_confirmed(marketer):
    preview = upload(marketer, b"date,source,medium,campaign,cost,currency\n"
                               b"2026-10-01,google,cpc,brand,10,EUR\n"
                               b"2026-02-30,google,cpc,brand,10,EUR\n"
                               b"2026-10-02,google,cpc,brand,-3,EUR\n"
                               b"2026-10-03,google,cpc,brand,abc,EUR\n"
                               b"2026-10-04,google,cpc,brand,10,XYZ\n"
                               b"2026-10-05,,cpc,brand,10,EUR\n")
    assert preview.status_code == 200 and not preview.context.get("confirm_form")
    result = preview.context["result"]
    assert [row.number for row in result.invalid_rows] == [2, 3, 4, 5, 6]
    page = preview.content.decode()
    for says in ("is not a date", "is negative", "is not a number", "ISO 4217", "every cost needs the utm_source"):
        assert says in page
    assert Spend.objects.count() == 0


@pytest.mark.parametrize("content, says", [
    (b"date,source,cost,currency\n2026-10-01,goo\x00gle,1,EUR\n", "NUL bytes"),
    (b"date,source,cost,currency\n" + b"2026-10-01,google,1,EUR," + b"x" * (3 * 1024 * 1024) + b"\n", "at most 2 MB"),
    ("date;source;cost;currency\n2026-10-01;google;1;EUR\n".encode(), "Missing columns"),
    ("date,source,cost,currency\n2026-10-01,Zürich,1,EUR\n".encode("latin-1"), "not UTF-8"),
    (b"date,source,cost,currency\n2026-10-01,google,1,EUR,extra\n", "not a readable CSV"),
    (b"date,Date,source,cost,currency\n2026-10-01,2026-10-02,google,1,EUR\n", "date appears more than once"),
], ids=["nul", "oversized", "semicolons", "latin-1", "ragged", "twice"])
def test_a_file_that_is_not_a_spend_csv_gets_a_form_error(marketer, content, says):
    response = upload(marketer, content)
    assert response.status_code == 200
    assert says in " ".join(response.context["form"].errors["import_file"])
    assert Spend.objects.count() == 0 and SpendImport.objects.count() == 0


def test_a_confirmation_whose_file_is_gone_says_so(marketer):
    response = marketer.post(CONFIRM, {"import_file_name": "gone", "original_file_name": "x.csv", "format": "0",
                                       "resource": "0", "confirm": "1"})
    assert response.status_code == 302 and response["Location"].endswith(IMPORT)
    assert SpendImport.objects.count() == 0


@pytest.mark.parametrize("forged", [{"format": "abc"}, {"format": "7"}, {"resource": "9"}, {"import_file_name": ""}])
def test_a_forged_confirmation_is_refused_without_a_server_error(marketer, forged):
    preview = upload(marketer, GOOD)
    form = preview.context["confirm_form"]
    data = {name: form.initial.get(name, "") for name in form.fields} | {"confirm": "1"} | forged
    response = marketer.post(CONFIRM, data)
    assert response.status_code == 200 and response.context["errors"]
    assert Spend.objects.count() == 0


def test_the_export_never_starts_a_formula(marketer):
    confirm(marketer, upload(marketer, b"date,source,medium,campaign,cost,currency\n"
                                       b"2026-10-01,=HYPERLINK(1),-x,@SUM(A1),10,EUR\n"))
    response = marketer.post("/admin/attribution/spend/export/", {"format": "0", "resource": "0",
                                                                   **{f"spendresource_{c}": "on" for c in (
                                                                       "date", "month", "source", "medium",
                                                                       "campaign", "cost", "currency")}})
    assert response.status_code == 200, response.content[:500]
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows == [{"date": "2026-10-01", "month": "", "source": "'=hyperlink(1)", "medium": "'-x",
                     "campaign": "'@sum(a1)", "cost": "10.00", "currency": "EUR"}]


def test_an_export_imports_again_as_the_same_rows(marketer):
    confirm(marketer, upload(marketer, GOOD))
    exported = marketer.post("/admin/attribution/spend/export/", {"format": "0", "resource": "0", **{
        f"spendresource_{c}": "on" for c in ("date", "month", "source", "medium", "campaign", "cost", "currency")}})
    before = sorted(Spend.objects.values_list("day", "last_day", "source", "medium", "campaign", "cost", "currency"))
    confirm(marketer, upload(marketer, exported.content, name="export.csv"))
    assert sorted(Spend.objects.values_list("day", "last_day", "source", "medium", "campaign", "cost", "currency")) == before
    assert SpendImport.objects.order_by("-pk").first().rows == 2


def test_sales_can_not_upload_spend(client):
    call_command("setup_roles", verbosity=0)
    user = User.objects.create_user("sam", password="pw-123456789", is_staff=True)
    user.groups.add(Group.objects.get(name="Sales"))
    client.force_login(user)
    assert client.get(IMPORT).status_code == 403
    assert upload(client, GOOD).status_code == 403
    assert Spend.objects.count() == 0


def test_an_upload_links_to_its_rows(marketer):
    confirm(marketer, upload(marketer, GOOD))
    batch = SpendImport.objects.get()
    listing = marketer.get("/admin/attribution/spendimport/")
    link = f"/admin/attribution/spend/?batch__id__exact={batch.pk}"
    assert link.encode() in listing.content.replace(b"&amp;", b"&")
    rows = marketer.get(link)
    assert rows.status_code == 200 and rows.context["cl"].result_count == 2


def test_a_database_error_during_the_preview_is_said_without_a_traceback_and_nothing_is_kept(marketer, monkeypatch):
    from django.db import IntegrityError

    def refuse(*args, **kwargs):
        raise IntegrityError('duplicate key value violates unique constraint "spend_unique_row"')

    monkeypatch.setattr(Spend.objects, "bulk_create", refuse)  # as when another upload wrote the same rows first
    preview = upload(marketer, GOOD)
    page = preview.content.decode()
    assert preview.status_code == 200 and not preview.context.get("confirm_form")
    assert "spend_unique_row" in page and "Traceback" not in page and "Nothing was saved" in page
    assert Spend.objects.count() == 0 and SpendImport.objects.count() == 0
