"""The accounting export in a real browser: a cluster's staff open it from the invoices, type a
malformed date and are told, then download the year's FEC, named after the cluster's SIREN."""

import datetime as dt
import io
from decimal import Decimal

import pytest

from members.accounting import accounting_export
from members.models import Cluster
from members.roles import MEMBERSHIP_STAFF
from members.services import staff_user_ensure
from members.services.billing import invoice_issue, invoice_payment_record
from tests.members.billing_helpers import legal_details, unpaid_term

# Transactional (live_server): conftest restores the clusters and plans of the data migration.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_download_the_year_s_fec(live_server, page, tmp_path):
    cluster = legal_details("digitalplace")
    invoice = invoice_issue(
        term=unpaid_term(year=2025, fee="420.00", organisation__name="Garrigue Logiciels"),
        on=dt.date(2025, 3, 1),
    )
    invoice_payment_record(
        invoice=invoice, amount=Decimal("420.00"), received_on=dt.date(2025, 3, 20)
    )
    staff_user_ensure(
        email="compta@digitalplace.example",
        password="browser-test-pw",
        roles=[MEMBERSHIP_STAFF],
        clusters=[cluster],
    )
    page.goto(live_server.url + "/admin/login/?next=/admin/members/invoice/")
    page.fill("#id_username", "compta@digitalplace.example")
    page.fill("#id_password", "browser-test-pw")
    page.get_by_role("button", name="Connexion").click()

    page.get_by_role("link", name="Export comptable").click()
    assert page.get_by_label("Cluster").input_value() == str(cluster.pk)
    page.get_by_label("Du").fill("01/01/2025")
    page.get_by_label("Au (inclus)").fill("31/02/2025")
    page.get_by_role("button", name="Télécharger").click()
    assert "Saisissez une date valide." in page.locator(".errorlist").inner_text()

    page.get_by_label("Au (inclus)").fill("31/12/2025")
    with page.expect_download() as download:
        page.get_by_role("button", name="Télécharger").click()
    assert download.value.suggested_filename == "812345676FEC20251231.txt"
    path = tmp_path / "fec.txt"
    download.value.save_as(path)
    expected = io.BytesIO()
    accounting_export(
        cluster=Cluster.objects.get(slug="digitalplace"),
        start=dt.date(2025, 1, 1),
        end=dt.date(2025, 12, 31),
        file_format="fec",
        file=expected,
    )
    assert path.read_bytes() == expected.getvalue()
    text = path.read_text(encoding="utf-8")
    assert "Facture DP-2025-00001 Garrigue Logiciels" in text
    assert len(text.splitlines()) == 5  # the header, two lines per entry
