"""The duplicate review: the pairs of records that may be one company, found by blocking (never
all pairs), merged by the committee into one record that keeps everything (the other stays as
an alias), undone until the transfer is executed, or judged "not a duplicate" for good."""

import datetime as dt

import pytest
from stdnum import luhn

from members.imports.services import import_file_run
from members.models import Contact, Invoice, Membership, Organisation, Term
from merger.matching import name_key
from merger.models import Decision, DuplicatePair, OrganisationMerge, TransferProposal
from merger.services import (
    duplicate_dismiss,
    duplicate_merge,
    duplicate_merge_undo,
    duplicates_refresh,
    merger_execute,
    proposals_refresh,
    transfer_decide,
)
from tests.factories import (
    ContactFactory,
    MembershipFactory,
    OrganisationFactory,
    TermFactory,
    cluster,
    make_siret,
)
from tests.samples import EXPECTED, FILES

from .conftest import SAMPLES_DAY, run_json, schedule

pytestmark = pytest.mark.django_db


def names(pair: dict) -> set[str]:
    return {pair["a"]["name"], pair["b"]["name"]}


def expected_pair_found(expected: dict, pairs: list[dict]) -> bool:
    for pair in pairs:
        if expected["kind"] in ("same_siren", "siren_only"):
            if pair["a"]["siren"] == pair["b"]["siren"] == expected["siren"]:
                return True
        elif names(pair) == set(expected["names"]) and pair["a"]["postcode"] == expected.get(
            "postcode", pair["a"]["postcode"]
        ):
            return True
    return False


def test_the_sample_files_duplicates_are_found_and_little_else(samples):
    status, result = run_json("duplicates")

    assert status == 0
    pairs = result["pairs"]
    expected = EXPECTED["duplicate_pairs"]
    by_id = [e for e in expected if e["kind"] in ("same_siren", "siren_only")]
    by_name = [e for e in expected if e["kind"] == "no_id_name"]
    assert all(expected_pair_found(e, pairs) for e in by_id)
    assert sum(expected_pair_found(e, pairs) for e in by_name) >= len(by_name) * 0.5
    unexpected = [p for p in pairs if not any(expected_pair_found(e, [p]) for e in expected)]
    assert len(unexpected) <= max(1, len(expected) // 3), unexpected
    for pair in pairs:
        assert set(pair) == {"a", "b", "score", "reasons"}
        assert set(pair["a"]) == {"id", "name", "siret", "siren", "postcode"}
        assert 0 < pair["score"] <= 1
        assert pair["reasons"]
        assert pair["a"]["id"] < pair["b"]["id"]
    assert [p["score"] for p in pairs] == sorted((p["score"] for p in pairs), reverse=True)
    # Stored for the committee's review.
    assert DuplicatePair.objects.filter(state="open").count() == len(pairs)


def test_names_are_compared_without_case_accents_punctuation_or_legal_form():
    assert name_key("OC-VISION MOBILITÉ") == name_key("Oc Vision Mobilité SAS")
    assert name_key("Mobilité Oc Vision") == name_key("oc vision mobilite")
    assert name_key("Oc Vision") != name_key("Oc Vision Mobilité")


def test_close_names_pair_only_with_the_same_postcode_or_email_domain():
    near = OrganisationFactory(name="Garonne Robotique", siret="", siren="", postcode="31000")
    OrganisationFactory(name="Garonne Robotiques", siret="", siren="", postcode="31000")
    OrganisationFactory(name="Garonne Robotik", siret="", siren="", postcode="81000")
    far = OrganisationFactory(name="Garone Robotique", siret="", siren="", postcode="66000")
    ContactFactory(organisation=near, email="a@garonne-robotique.fr")
    ContactFactory(organisation=far, email="b@garonne-robotique.fr")
    OrganisationFactory(name="Capitole Conseil", postcode="31000")

    pairs = duplicates_refresh().pairs

    found = {frozenset((p.a.name, p.b.name)): p.reasons for p in pairs}
    assert found == {
        frozenset({"Garonne Robotique", "Garonne Robotiques"}): ("close_name", "same_postcode"),
        frozenset({"Garonne Robotique", "Garone Robotique"}): ("close_name", "same_domain"),
    }


def test_webmail_domains_say_nothing():
    first = OrganisationFactory(name="Atelier Numérique Sud", siret="", siren="", postcode="")
    second = OrganisationFactory(name="Atelier Numérique Sud Est", siret="", siren="", postcode="")
    ContactFactory(organisation=first, email="jean@gmail.com")
    ContactFactory(organisation=second, email="marie@gmail.com")

    assert duplicates_refresh().pairs == []


def test_finding_pairs_reads_a_constant_number_of_queries(django_assert_num_queries):
    def records(count: int, start: int) -> None:
        for n in range(start, start + count):
            organisation = OrganisationFactory(name=f"Société {n:04d}", postcode=f"{n:05d}")
            ContactFactory(organisation=organisation, email=f"x@societe-{n}.example")

    records(10, 0)
    with django_assert_num_queries(6) as few:
        duplicates_refresh()
    records(200, 10)
    with django_assert_num_queries(len(few)):
        assert duplicates_refresh().pairs == []


def test_a_pair_judged_not_a_duplicate_is_never_proposed_again(samples, committee):
    pair = DuplicatePair.objects.get(
        pk=duplicates_refresh().pairs and DuplicatePair.objects.first().pk
    )

    duplicate_dismiss(pair=pair, by=committee, reason="Deux établissements distincts")
    result = duplicates_refresh()

    ids = {(p.a.pk, p.b.pk) for p in result.pairs}
    assert (pair.organisation_a_id, pair.organisation_b_id) not in ids
    pair.refresh_from_db()
    assert pair.state == DuplicatePair.State.NOT_DUPLICATE
    assert pair.decided_by == committee
    assert pair.decision_reason == "Deux établissements distincts"
    _status, listed = run_json("duplicates")
    assert len(listed["pairs"]) == len(result.pairs)


def two_records_of_one_company():
    """The same company in both clusters under two SIRETs of one SIREN, each with its
    membership (terms, an invoice) and contacts, one contact on both."""
    siret = make_siret(4242)
    siren = siret[:9]
    toulouse = OrganisationFactory(name="Agly IA", siret=siret)
    other_nic = "0002" if siret[9:13] != "0002" else "0003"
    montpellier = OrganisationFactory(
        name="AGLY IA", siret=siren + other_nic + luhn.calc_check_digit(siren + other_nic)
    )
    dp = MembershipFactory(organisation=toulouse, cluster=cluster("digitalplace"))
    fs = MembershipFactory(organisation=montpellier, cluster=cluster("frenchsouth"))
    TermFactory(membership=dp, year=2026)
    fs_term = TermFactory(membership=fs, year=2026)
    Invoice.objects.create(
        cluster=fs.cluster,
        term=fs_term,
        number="FS-2026-00001",
        year=2026,
        sequence=1,
        issued_on=dt.date(2026, 1, 5),
        due_on=dt.date(2026, 2, 4),
        amount=fs_term.fee,
        description="Adhésion 2026",
        issuer_details={},
        customer_details={"siret": montpellier.siret},
    )
    ContactFactory(organisation=toulouse, email="direction@agly.example")
    ContactFactory(organisation=montpellier, email="direction@agly.example", first_name="Dup")
    ContactFactory(organisation=montpellier, email="compta@agly.example")
    return toulouse, montpellier


def test_merging_moves_memberships_terms_invoices_and_contacts_and_keeps_an_alias(
    merger, committee
):
    toulouse, montpellier = two_records_of_one_company()
    proposals_refresh(merger=merger, as_of=dt.date(2026, 6, 1))
    assert TransferProposal.objects.count() == 2
    pair = DuplicatePair.objects.get(pk=duplicates_refresh() and DuplicatePair.objects.get().pk)
    assert "same_siren" in pair.reasons

    merge = duplicate_merge(pair=pair, survivor=toulouse, by=committee, reason="Même société")

    montpellier.refresh_from_db()
    assert montpellier.merged_into == toulouse
    assert set(toulouse.memberships.values_list("cluster__slug", flat=True)) == {
        "digitalplace",
        "frenchsouth",
    }
    assert Term.objects.filter(membership__organisation=toulouse).count() == 2
    assert Invoice.objects.get(number="FS-2026-00001").term.membership.organisation == toulouse
    assert set(toulouse.contacts.values_list("email", flat=True)) == {
        "direction@agly.example",
        "compta@agly.example",
    }
    assert not Contact.objects.filter(organisation=montpellier).exists()
    assert merge.removed_contacts[0]["first_name"] == "Dup"
    # One proposal now, a member of both, with both old numbers.
    proposal = TransferProposal.objects.get()
    assert proposal.organisation == toulouse
    assert proposal.members_of_both
    assert proposal.source_memberships.count() == 2
    pair.refresh_from_db()
    assert pair.state == DuplicatePair.State.MERGED
    # The alias is no longer a candidate of anything.
    assert duplicates_refresh().pairs == []


def test_a_merge_is_undone_until_the_transfer_is_executed(merger, committee):
    toulouse, montpellier = two_records_of_one_company()
    duplicates_refresh()
    pair = DuplicatePair.objects.get()
    merge = duplicate_merge(pair=pair, survivor=toulouse, by=committee, reason="Même société")

    duplicate_merge_undo(merge=merge, by=committee, reason="Deux sociétés en fait")

    montpellier.refresh_from_db()
    assert montpellier.merged_into is None
    assert list(montpellier.memberships.values_list("cluster__slug", flat=True)) == ["frenchsouth"]
    assert set(montpellier.contacts.values_list("email", flat=True)) == {
        "direction@agly.example",
        "compta@agly.example",
    }
    assert montpellier.contacts.get(email="direction@agly.example").first_name == "Dup"
    assert toulouse.contacts.count() == 1
    merge.refresh_from_db()
    assert merge.undone_by == committee and merge.undo_reason == "Deux sociétés en fait"
    pair.refresh_from_db()
    assert pair.state == DuplicatePair.State.OPEN

    # Merged again, approved and executed: no undoing any more.
    merge = duplicate_merge(pair=pair, survivor=toulouse, by=committee, reason="Finalement oui")
    schedule(merger, dt.date(2026, 6, 1))
    proposals_refresh(merger=merger)
    transfer_decide(
        proposal_ids=TransferProposal.objects.values_list("pk", flat=True),
        decision=Decision.APPROVED,
        by=committee,
        reason="OK",
    )
    assert merger_execute(merger=merger).as_json()["executed"] == 1
    with pytest.raises(Exception, match="exécuté"):
        duplicate_merge_undo(merge=merge, by=committee, reason="Trop tard")
    assert OrganisationMerge.objects.get(pk=merge.pk).undone_at is None


def test_two_records_members_of_one_cluster_are_not_merged(committee):
    first = OrganisationFactory(name="Sud Studio", siret="", siren="", postcode="32000")
    second = OrganisationFactory(name="SUD-STUDIO", siret="", siren="", postcode="32000")
    MembershipFactory(organisation=first)
    MembershipFactory(organisation=second)
    duplicates_refresh()
    pair = DuplicatePair.objects.get()

    with pytest.raises(Exception, match="une adhésion par cluster"):
        duplicate_merge(pair=pair, survivor=first, by=committee, reason="Même société")

    assert Membership.objects.filter(organisation=first).count() == 1
    assert Organisation.objects.get(pk=second.pk).merged_into is None


def test_a_merge_needs_a_reason(committee):
    first = OrganisationFactory(name="Sud Studio", siret="", siren="", postcode="32000")
    OrganisationFactory(name="SUD-STUDIO", siret="", siren="", postcode="32000")
    duplicates_refresh()

    with pytest.raises(Exception, match="motif"):
        duplicate_merge(pair=DuplicatePair.objects.get(), survivor=first, by=committee, reason=" ")


def test_sample_pairs_merged_give_one_proposal_per_company(samples, merger, committee):
    proposals_refresh(merger=merger, as_of=SAMPLES_DAY)
    before = TransferProposal.objects.count()
    duplicates_refresh()
    pairs = list(DuplicatePair.objects.select_related("organisation_a", "organisation_b"))

    for pair in pairs:
        keep = pair.organisation_a if pair.organisation_a.siret else pair.organisation_b
        duplicate_merge(pair=pair, survivor=keep, by=committee, reason="Même entreprise")

    assert TransferProposal.objects.count() == before - len(pairs)
    both = TransferProposal.objects.filter(members_of_both=True).count()
    assert both == EXPECTED["members_of_both_same_siret"] + len(pairs)


def test_the_clusters_files_import_again_unchanged_after_their_duplicates_are_merged(
    samples, committee
):
    duplicates_refresh()
    for pair in DuplicatePair.objects.select_related("organisation_a", "organisation_b"):
        # The record of the other cluster survives: each file then describes an alias.
        keep = pair.organisation_b if pair.organisation_b.siret else pair.organisation_a
        duplicate_merge(pair=pair, survivor=keep, by=committee, reason="Même entreprise")
    before = (
        list(Organisation.objects.order_by("pk").values()),
        list(Membership.objects.order_by("pk").values()),
        Contact.objects.count(),
        Term.objects.count(),
    )

    for profile, path in FILES.items():
        _record, report = import_file_run(
            path=path, cluster=cluster(profile), profile=profile, skip_invalid=True
        )
        expected = EXPECTED[profile]
        assert report.new == report.updated == 0, report.as_json()
        assert report.refused_rows == len(expected["errors"])

    after = (
        list(Organisation.objects.order_by("pk").values()),
        list(Membership.objects.order_by("pk").values()),
        Contact.objects.count(),
        Term.objects.count(),
    )
    assert after == before
