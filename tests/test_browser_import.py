"""The import in a real browser: each cluster's staff upload their sample file from the
memberships list, read the analysis (refused rows by number, nothing written yet), confirm, and
the database holds exactly what expected.json says."""

import pytest

from members.models import Cluster, Contact, ImportRecord, Membership, Organisation
from members.roles import MEMBERSHIP_STAFF
from members.services import staff_user_ensure
from tests.samples import EXPECTED, FILES

# Transactional (live_server): conftest restores the clusters and plans of the data migration.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


def test_staff_upload_preview_and_confirm_both_sample_files(live_server, page, settings, tmp_path):
    settings.IMPORT_FILES_ROOT = tmp_path / "kept"
    for profile, path in FILES.items():
        expected = EXPECTED[profile]
        staff_user_ensure(
            email=f"staff@{profile}.example",
            password="browser-test-pw",
            roles=[MEMBERSHIP_STAFF],
            clusters=[Cluster.objects.get(slug=profile)],
        )
        page.goto(live_server.url + "/admin/login/?next=/admin/members/membership/")
        page.fill("#id_username", f"staff@{profile}.example")
        page.fill("#id_password", "browser-test-pw")
        page.get_by_role("button", name="Connexion").click()

        page.get_by_role("link", name="Importer un fichier").click()
        assert page.get_by_label("Format du fichier").input_value() == profile
        page.locator("input[type=file]").set_input_files(path)
        page.get_by_role("button", name="Analyser le fichier").click()

        assert page.get_by_role("status").inner_text().startswith("Analysé, à confirmer")
        refused = page.locator("table.import-refused tbody tr")
        assert refused.count() == len(expected["errors"])
        assert [int(text) for text in refused.locator("td:first-child").all_inner_texts()] == [
            error["row"] for error in expected["errors"]
        ]
        assert page.locator("td.count-rows").inner_text() == str(expected["data_rows"])
        assert not Membership.objects.filter(cluster__slug=profile).exists()

        page.get_by_label("Importer les lignes valides et ignorer les lignes refusées").check()
        page.get_by_role("button", name="Confirmer l’import").click()

        assert page.get_by_role("status").inner_text().startswith("Importé")
        assert page.get_by_text("Import terminé").is_visible()
        assert (
            Membership.objects.filter(cluster__slug=profile).count() == (expected["organisations"])
        )
        page.get_by_role("link", name="Voir les adhésions du cluster").click()
        assert page.locator(".paginator").inner_text().strip() == (
            f"{expected['organisations']} adhésions"
        )
        page.context.clear_cookies()

    assert Organisation.objects.count() == EXPECTED["organisations_after_both"]
    assert Membership.objects.count() == EXPECTED["memberships_after_both"]
    assert Contact.objects.count() == EXPECTED["contacts_after_both"]
    assert ImportRecord.objects.filter(status=ImportRecord.Status.IMPORTED).count() == 2
