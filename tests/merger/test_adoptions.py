"""The merger waits on the members: each source cluster's extraordinary general assembly adopts
it, the committee records that resolution (refused, saying why, for any resolution that does not
show it), and only then can the date be fixed. The merger's page shows the adoptions; the
committee records one from it, membership staff only read their own cluster's."""

import datetime as dt
import re
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.urls import reverse

from assemblies.models import Assembly, AssemblyKind, VoteChoice
from merger.models import Merger, MergerAdoption, MergerEvent
from merger.services import merger_adoption_record, merger_update
from tests.factories import cluster, staff_user
from tests.html_forms import form_data

from .adoptions import PRINCIPLE, assembly_held

pytestmark = pytest.mark.django_db

NEW_YEAR = dt.date(2027, 1, 1)


def schedule(merger: Merger) -> None:
    merger_update(
        merger=merger,
        by=None,
        reason="Date arrêtée par les AG",
        status=Merger.Status.SCHEDULED,
        planned_date=NEW_YEAR,
    )


def refusal(merger: Merger, resolution) -> str:
    with pytest.raises(ValidationError) as error:
        merger_adoption_record(merger=merger, resolution=resolution, by=None)
    assert not MergerAdoption.objects.exists()
    return " ".join(error.value.messages)


def text(response) -> str:
    return response.content.decode()


# --- Scheduling waits on both assemblies --------------------------------------------------------


def test_the_date_is_fixed_only_once_both_assemblies_adopted_the_merger(merger, committee):
    with pytest.raises(ValidationError) as error:
        schedule(merger)
    assert "DigitalPlace, FrenchSouth.digital" in " ".join(error.value.messages)

    merger_adoption_record(merger=merger, resolution=assembly_held("digitalplace"), by=committee)
    with pytest.raises(ValidationError) as error:
        schedule(merger)
    message = " ".join(error.value.messages)
    assert "adoption non enregistrée pour : FrenchSouth.digital." in message
    merger.refresh_from_db()
    assert merger.status == Merger.Status.POSTPONED

    merger_adoption_record(merger=merger, resolution=assembly_held("frenchsouth"), by=committee)
    schedule(merger)

    merger.refresh_from_db()
    assert (merger.status, merger.planned_date) == (Merger.Status.SCHEDULED, NEW_YEAR)


def test_a_merger_scheduled_before_the_rule_stays_scheduled_and_its_date_still_moves(merger):
    Merger.objects.filter(pk=merger.pk).update(status=Merger.Status.SCHEDULED)

    merger_update(
        merger=merger,
        by=None,
        reason="Avancée d’un mois",
        status=Merger.Status.SCHEDULED,
        planned_date=dt.date(2026, 12, 1),
    )

    merger.refresh_from_db()
    assert (merger.status, merger.planned_date) == (Merger.Status.SCHEDULED, dt.date(2026, 12, 1))


# --- Recording an adoption ----------------------------------------------------------------------


def test_recording_an_adoption_logs_it_once_even_twice_asked(merger, committee):
    resolution = assembly_held("digitalplace", choices=(VoteChoice.FOR,) * 3)

    first = merger_adoption_record(merger=merger, resolution=resolution, by=committee)
    again = merger_adoption_record(merger=merger, resolution=resolution, by=committee)

    assert first == again
    assert (first.cluster, first.resolution, first.recorded_by) == (
        cluster("digitalplace"),
        resolution,
        committee,
    )
    event = MergerEvent.objects.get(merger=merger, kind=MergerEvent.Kind.ADOPTED)
    assert event.by == committee
    assert event.details["cluster"] == "DigitalPlace"
    assert event.details["resolution"] == PRINCIPLE
    assert event.details["assembly"] == "Assemblée générale extraordinaire (15/06/2000)"


def test_refused_for_another_cluster_than_a_source(merger):
    successor = merger.successor.slug

    assert "n’est pas un cluster source" in refusal(merger, assembly_held(successor))


def test_refused_for_an_ordinary_assembly(merger):
    resolution = assembly_held("digitalplace", kind=AssemblyKind.ORDINARY)

    assert "assemblée générale ordinaire" in refusal(merger, resolution)


def test_refused_while_the_vote_is_open(merger):
    resolution = assembly_held("digitalplace", close=False)

    assert "n’est pas clos" in refusal(merger, resolution)


def test_refused_for_a_resolution_not_adopted(merger):
    resolution = assembly_held("digitalplace", choices=(VoteChoice.FOR, VoteChoice.AGAINST))

    assert "n’a pas été adoptée (pour : 1, contre : 1, abstention : 0)" in refusal(
        merger, resolution
    )


def test_refused_until_both_the_chair_and_the_secretary_signed_the_minutes(merger):
    resolution = assembly_held("digitalplace", sign=False)
    assert "ni par le président ni par le secrétaire de séance" in refusal(merger, resolution)

    Assembly.objects.filter(pk=resolution.assembly_id).update(
        chair_signed_at=dt.datetime(2000, 6, 17, tzinfo=dt.UTC)
    )
    message = refusal(merger, resolution)
    assert "pas encore signé par le secrétaire de séance." in message
    assert "président" not in message


def test_refused_when_the_cluster_adopted_it_already_by_another_resolution(merger):
    merger_adoption_record(merger=merger, resolution=assembly_held("digitalplace"), by=None)

    with pytest.raises(ValidationError, match="déjà enregistrée, avec une autre résolution"):
        merger_adoption_record(merger=merger, resolution=assembly_held("digitalplace"), by=None)
    assert MergerAdoption.objects.count() == 1


# --- The merger's page --------------------------------------------------------------------------


def merger_url(merger) -> str:
    return reverse("admin:merger_merger_change", args=[merger.pk])


def record_url(merger, slug: str) -> str:
    return reverse("admin:merger_merger_adoption", args=[merger.pk, cluster(slug).pk])


def test_the_committee_records_both_adoptions_from_the_merger_page_then_fixes_the_date(
    client, merger, committee
):
    client.force_login(committee)
    page = client.get(merger_url(merger))
    assert text(page).count("Adoption non enregistrée") == 2
    assert record_url(merger, "digitalplace") in text(page)

    # Fixing the date now is refused, naming the clusters.
    data = form_data(page, id="merger_form")
    data.update(status="scheduled", reason="Date arrêtée")
    refused = client.post(merger_url(merger), data)
    assert refused.status_code == 200
    assert "adoption non enregistrée pour : DigitalPlace, FrenchSouth.digital." in text(refused)

    for slug in ("digitalplace", "frenchsouth"):
        not_adopted = assembly_held(slug, choices=(VoteChoice.AGAINST,))
        adopted = assembly_held(slug, choices=(VoteChoice.FOR,) * 3 + (VoteChoice.ABSTAIN,))
        form_page = client.get(record_url(merger, slug))
        choices = set(re.findall(r'name="resolution" value="(\d+)"', text(form_page)))
        assert choices == {str(adopted.pk)}  # the resolution not adopted is not offered
        assert str(not_adopted.pk) not in choices
        assert "(pour : 3, contre : 0, abstention : 1)" in text(form_page)

        response = client.post(record_url(merger, slug), {"resolution": adopted.pk})
        assert response.status_code == 302

    page = client.get(merger_url(merger))
    row = text(page).split('data-cluster="frenchsouth"')[1].split("</tr>")[0]
    assert "Assemblée générale extraordinaire</a>, 15/06/2000" in row
    assert PRINCIPLE in row
    assert [cell.split("<")[0] for cell in row.split("<td>")[3:7]] == ["3", "0", "1", "oui"]
    assert "Adoption non enregistrée" not in text(page)

    data = form_data(page, id="merger_form")
    data.update(status="scheduled", planned_date="01/01/2027", reason="Date arrêtée")
    assert client.post(merger_url(merger), data).status_code == 302
    merger.refresh_from_db()
    assert merger.status == Merger.Status.SCHEDULED


def test_a_refusal_of_the_service_is_the_forms_error(client, merger, committee):
    client.force_login(committee)
    unsigned = assembly_held("digitalplace", sign=False)

    response = client.post(record_url(merger, "digitalplace"), {"resolution": unsigned.pk})

    assert response.status_code == 200
    assert "signé ni par le président ni par le secrétaire de séance" in text(response)
    assert not MergerAdoption.objects.exists()


@pytest.mark.parametrize("value", ["abc", "", "99999999", "1;DROP"])
def test_a_malformed_or_unknown_resolution_is_a_form_error(client, merger, committee, value):
    client.force_login(committee)
    assembly_held("digitalplace")

    response = client.post(record_url(merger, "digitalplace"), {"resolution": value})

    assert response.status_code == 200
    assert "errorlist" in text(response)
    assert not MergerAdoption.objects.exists()


def test_another_clusters_resolution_is_not_a_choice(client, merger, committee):
    client.force_login(committee)
    south = assembly_held("frenchsouth")

    response = client.post(record_url(merger, "digitalplace"), {"resolution": south.pk})

    assert response.status_code == 200
    assert "choisissez-en une de la liste" in text(response)
    assert not MergerAdoption.objects.exists()


def test_malformed_or_foreign_addresses_answer_404(client, merger, committee):
    client.force_login(committee)
    base = reverse("admin:merger_merger_change", args=[merger.pk]).replace("/change/", "")

    # The admin's catch-all sends an address it does not know to its index, as for any object.
    assert client.get(f"{base}/adoptions/abc/").status_code == 302
    assert client.get(f"{base}/adoptions/99999999/").status_code == 404
    # The successor is not a source: it adopts nothing.
    assert client.get(record_url(merger, merger.successor.slug)).status_code == 404
    other = reverse("admin:merger_merger_adoption", args=[999999, cluster("digitalplace").pk])
    assert client.get(other).status_code == 404


# --- Who may record, who may read ---------------------------------------------------------------


def test_membership_staff_cannot_record_an_adoption(client, merger):
    resolution = assembly_held("digitalplace")
    client.force_login(staff_user("digitalplace"))

    assert client.get(record_url(merger, "digitalplace")).status_code == 403
    response = client.post(record_url(merger, "digitalplace"), {"resolution": resolution.pk})

    assert response.status_code == 403
    assert not MergerAdoption.objects.exists()


def test_membership_staff_read_their_own_clusters_adoption_only(client, merger):
    ours = merger_adoption_record(merger=merger, resolution=assembly_held("digitalplace"), by=None)
    theirs = merger_adoption_record(merger=merger, resolution=assembly_held("frenchsouth"), by=None)
    client.force_login(staff_user("digitalplace"))

    listed = client.get(reverse("admin:merger_mergeradoption_changelist"))

    assert listed.status_code == 200
    assert [adoption.pk for adoption in listed.context["cl"].result_list] == [ours.pk]
    assert "pour : 2, contre : 0, abstention : 0 · adoptée" in text(listed)
    own = reverse("admin:merger_mergeradoption_change", args=[ours.pk])
    other = reverse("admin:merger_mergeradoption_change", args=[theirs.pk])
    assert client.get(own).status_code == 200
    assert client.get(other).status_code == 404
    assert client.post(own, {}).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_two_committee_members_recording_at_once_record_it_once(postgresql, merger):
    resolution = assembly_held("digitalplace")
    first_locked, second_started = threading.Event(), threading.Event()
    errors = []

    def record(*, hold: bool) -> None:
        try:
            with transaction.atomic():
                merger_adoption_record(merger=merger, resolution=resolution, by=None)
                if hold:
                    # Keep the merger's row locked until the second tab's request is on its way.
                    first_locked.set()
                    second_started.wait(5)
                    threading.Event().wait(0.5)
        except Exception as error:  # a failure in either thread fails the test
            errors.append(error)
        finally:
            connection.close()

    first = threading.Thread(target=record, kwargs={"hold": True})
    first.start()
    assert first_locked.wait(5)
    second = threading.Thread(target=record, kwargs={"hold": False})
    second.start()
    second_started.set()
    first.join(10)
    second.join(10)

    assert errors == []
    assert MergerAdoption.objects.count() == 1
    assert MergerEvent.objects.filter(kind=MergerEvent.Kind.ADOPTED).count() == 1
