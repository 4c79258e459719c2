"""Imports in the admin: a cluster's staff upload a file, see its analysis (nothing written),
confirm it, and find it in the history; other clusters' staff and the merger committee cannot
import into a cluster that is not theirs; large files go through a real Celery worker."""

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cluster.celery import app as celery_app
from members.models import Cluster, Contact, ImportRecord, Membership, Organisation
from members.roles import MEMBERSHIP_STAFF, MERGER_COMMITTEE
from members.services import staff_user_ensure
from members.texts import text_render
from tests.samples import EXPECTED, FILES

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:members_importrecord_add")
Status = ImportRecord.Status


@pytest.fixture(autouse=True)
def _import_files(settings, tmp_path):
    settings.IMPORT_FILES_ROOT = tmp_path / "kept"


def staff(slug: str):
    user, _ = staff_user_ensure(
        email=f"staff@{slug}.example",
        password="pw",
        roles=[MEMBERSHIP_STAFF],
        clusters=[Cluster.objects.get(slug=slug)],
    )
    return user


def upload(client, profile: str, *, cluster: str | None = None, skip_invalid=False, path=None):
    path = path or FILES[profile]
    data = {
        "cluster": Cluster.objects.get(slug=cluster or profile).pk,
        "profile": profile,
        "file": SimpleUploadedFile(path.name, path.read_bytes()),
    }
    if skip_invalid:
        data["skip_invalid"] = "on"
    return client.post(ADD_URL, data)


def record_url(record, name="change") -> str:
    return reverse(f"admin:members_importrecord_{name}", args=[record.pk])


def test_upload_shows_the_analysis_and_writes_nothing_until_confirmed(client):
    client.force_login(staff("digitalplace"))
    listing = client.get(reverse("admin:members_membership_changelist"))
    assert ADD_URL in listing.text and "Importer un fichier" in listing.text

    response = upload(client, "digitalplace")

    record = ImportRecord.objects.get()
    assert response.status_code == 302 and response.url == record_url(record)
    assert (record.status, record.source, record.created_by.email) == (
        Status.ANALYSED,
        ImportRecord.Source.ADMIN,
        "staff@digitalplace.example",
    )
    assert Organisation.objects.count() == 0
    page = client.get(record_url(record)).text
    assert "Analysé, à confirmer" in page
    expected = EXPECTED["digitalplace"]
    for error in expected["errors"]:
        assert f"<td>{error['row']}</td>" in page
    assert "« gratuit ? » n’est pas un montant." in page
    assert f'<td class="count-rows">{expected["data_rows"]}</td>' in page

    # Refused rows stop the import unless the valid rows are asked for.
    client.post(record_url(record, "confirm"))
    record.refresh_from_db()
    assert record.status == Status.ANALYSED and Organisation.objects.count() == 0

    response = client.post(record_url(record, "confirm"), {"skip_invalid": "1"}, follow=True)

    record.refresh_from_db()
    assert record.status == Status.IMPORTED
    assert "Import terminé" in response.text
    assert Organisation.objects.count() == expected["organisations"]
    assert Contact.objects.count() == expected["contacts"]

    # A second click (or a second tab) changes nothing.
    response = client.post(record_url(record, "confirm"), {"skip_invalid": "1"}, follow=True)
    assert "n’est plus à confirmer" in response.text
    assert Organisation.objects.count() == expected["organisations"]


def test_both_sample_files_through_the_admin_give_the_expected_figures(client):
    for profile in FILES:
        client.force_login(staff(profile))
        upload(client, profile, skip_invalid=True)
        record = ImportRecord.objects.latest("created_at")
        client.post(record_url(record, "confirm"))
        record.refresh_from_db()
        assert record.status == Status.IMPORTED
        assert record.refused_rows == len(EXPECTED[profile]["errors"])

    assert Organisation.objects.count() == EXPECTED["organisations_after_both"]
    assert Membership.objects.count() == EXPECTED["memberships_after_both"]
    assert Contact.objects.count() == EXPECTED["contacts_after_both"]


def test_an_unusable_file_is_refused_on_the_upload_form_and_recorded(client):
    client.force_login(staff("digitalplace"))

    response = upload(client, "digitalplace", path=FILES["frenchsouth"])

    assert response.status_code == 200
    assert "ressemble au profil « frenchsouth »" in response.text
    record = ImportRecord.objects.get()
    assert record.status == Status.UNUSABLE and "frenchsouth" in text_render(record.message)


def test_cancel_writes_nothing(client):
    client.force_login(staff("frenchsouth"))
    upload(client, "frenchsouth", skip_invalid=True)
    record = ImportRecord.objects.get()

    client.post(record_url(record, "cancel"))

    record.refresh_from_db()
    assert record.status == Status.CANCELLED
    client.post(record_url(record, "confirm"))
    assert Organisation.objects.count() == 0


def test_staff_import_only_into_their_own_cluster(client):
    client.force_login(staff("frenchsouth"))
    upload(client, "frenchsouth")
    theirs = ImportRecord.objects.get()

    client.force_login(staff("digitalplace"))
    form = client.get(ADD_URL).context["form"]
    assert [c.slug for c in form.fields["cluster"].queryset] == ["digitalplace"]
    response = upload(client, "frenchsouth", cluster="frenchsouth")
    assert response.status_code == 200 and "cluster" in response.context["form"].errors
    for name in ("change", "file"):
        assert client.get(record_url(theirs, name)).status_code == 404
    assert client.post(record_url(theirs, "confirm"), {"skip_invalid": "1"}).status_code == 404
    assert theirs.file_name not in client.get(reverse("admin:members_importrecord_changelist")).text
    theirs.refresh_from_db()
    assert theirs.status == Status.ANALYSED


def test_the_committee_reads_the_history_but_does_not_import(client):
    client.force_login(staff("digitalplace"))
    upload(client, "digitalplace")
    record = ImportRecord.objects.get()
    committee, _ = staff_user_ensure(
        email="comite@example.org", password="pw", roles=[MERGER_COMMITTEE]
    )
    client.force_login(committee)

    assert record.file_name in client.get(reverse("admin:members_importrecord_changelist")).text
    page = client.get(record_url(record))
    assert page.status_code == 200 and "Confirmer" not in page.text
    assert client.get(ADD_URL).status_code == 403
    assert client.post(record_url(record, "confirm"), {"skip_invalid": "1"}).status_code == 403
    assert (
        "Importer un fichier" not in client.get(reverse("admin:members_membership_changelist")).text
    )


def test_the_kept_file_is_downloadable_by_its_clusters_staff(client):
    client.force_login(staff("digitalplace"))
    upload(client, "digitalplace")
    record = ImportRecord.objects.get()

    response = client.get(record_url(record, "file"))

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == FILES["digitalplace"].read_bytes()
    assert 'filename="digitalplace.xlsx"' in response["Content-Disposition"]


def test_a_file_over_the_size_limit_is_refused_before_reading(client, settings):
    settings.IMPORT_MAX_FILE_SIZE = 1000
    client.force_login(staff("digitalplace"))

    response = upload(client, "digitalplace")

    assert response.status_code == 200
    assert response.context["form"].errors["file"] == [
        "Le fichier « digitalplace.xlsx » fait 11,7\xa0Kio : la taille maximale est 1000\xa0octets."
    ]
    assert not ImportRecord.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_large_files_are_analysed_and_imported_by_a_celery_worker(
    client, settings, redis_broker, django_capture_on_commit_callbacks
):
    settings.IMPORT_BACKGROUND_ROWS = 10
    client.force_login(staff("frenchsouth"))

    with start_worker(celery_app, pool="solo", perform_ping_check=False):
        upload(client, "frenchsouth", skip_invalid=True)
        record = ImportRecord.objects.get()
        assert record.task_id
        _wait_for(record, Status.ANALYSED)
        assert Organisation.objects.count() == 0
        assert f"<td>{EXPECTED['frenchsouth']['errors'][0]['row']}</td>" in (
            client.get(record_url(record)).text
        )

        client.post(record_url(record, "confirm"))
        _wait_for(record, Status.IMPORTED)

    assert Organisation.objects.count() == EXPECTED["frenchsouth"]["organisations"]
    assert record.new == EXPECTED["frenchsouth"]["data_rows"] - len(
        EXPECTED["frenchsouth"]["errors"]
    )


def _wait_for(record, status, timeout=30):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record.refresh_from_db()
        if record.status == status:
            return
        time.sleep(0.1)
    raise AssertionError(f"import {record.pk} is {record.status}, not {status}")


def test_the_history_lists_in_a_constant_number_of_queries(client):
    user = staff("digitalplace")
    client.force_login(user)
    url = reverse("admin:members_importrecord_changelist")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    upload(client, "digitalplace")
    one = queries()
    for _ in range(4):
        upload(client, "digitalplace")
    assert queries() == one


def test_a_clusters_format_is_refused_for_the_other_cluster(client):
    superuser, _ = staff_user_ensure(email="root@example.org", password="pw", is_superuser=True)
    client.force_login(superuser)

    response = upload(client, "frenchsouth", cluster="digitalplace")

    assert response.status_code == 200
    assert "pas de DigitalPlace" in response.context["form"].errors["profile"][0]
    assert not ImportRecord.objects.exists()


@pytest.mark.parametrize(
    "below", [b"\r\n" * 1000, b";;;;\r\n" * 1000], ids=["blank-lines", "separators-only"]
)
def test_a_header_without_data_rows_is_refused_on_the_upload_form(client, tmp_path, below):
    path = tmp_path / "entete.csv"
    path.write_bytes(FILES["frenchsouth"].read_bytes().split(b"\r\n", 1)[0] + b"\r\n" + below)
    client.force_login(staff("frenchsouth"))

    response = upload(client, "frenchsouth", path=path)

    assert response.status_code == 200
    assert response.context["form"].errors["file"] == [
        "Le fichier « entete.csv » n’a aucune ligne de données sous les en-têtes (ligne 1) : "
        "rien à importer."
    ]
    record = ImportRecord.objects.get()
    assert record.status == Status.UNUSABLE and record.rows == 0
    assert "aucune ligne de données" in text_render(record.message)
    assert Organisation.objects.count() == Membership.objects.count() == 0
