"""The assemblies in the member area, with Django's client against PostgreSQL: what a member
sees, the voter's proxy and ballots, the designation of another voter, the documents, and the
attacks (another organisation's or cluster's ids, a contact who is not the voter, double submits,
late proxies and ballots, malformed values)."""

from urllib.parse import urlsplit

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from assemblies.models import (
    AssemblyDocument,
    Ballot,
    Proxy,
    ResolutionTally,
    Voice,
    VoteChoice,
)
from assemblies.selectors import assembly_results
from assemblies.services import proxy_give, voice_url, voting_close, voting_open
from members.models import ContactRole
from members.services import contact_login_ensure
from tests.assemblies.helpers import assembly_convened, assembly_draft, member_in_good_standing
from tests.factories import ContactFactory, staff_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def sign_in(client, contact):
    user, _created = contact_login_ensure(contact=contact)
    client.force_login(user)
    return user


def named(name: str, slug: str = "digitalplace"):
    membership = member_in_good_standing(slug)
    membership.organisation.name = name
    membership.organisation.save(update_fields=["name"])
    return membership


def document_kept(assembly, title: str, content: bytes) -> AssemblyDocument:
    return AssemblyDocument.objects.create(
        assembly=assembly, title=title, file=ContentFile(content, name="document.pdf")
    )


def page_url(assembly) -> str:
    return reverse("assemblies:member_assembly", args=[assembly.pk])


def action(name: str, assembly) -> str:
    return reverse(f"assemblies:{name}", args=[assembly.pk])


def choices(assembly, choice: str = VoteChoice.FOR, prefix: str = "") -> dict[str, str]:
    return {
        f"{prefix}resolution-{pk}": choice
        for pk in assembly.resolutions.values_list("pk", flat=True)
    }


def counts(assembly) -> list[tuple[int, int, int]]:
    return [
        (r.votes_for, r.against, r.abstain) for r in assembly_results(assembly=assembly).resolutions
    ]


@pytest.fixture
def convened():
    """Three members of DigitalPlace convened (Alpha, Beta, Gamma), and one of FrenchSouth
    convened to its own assembly; returns (assembly, voices by name, the other assembly)."""
    for name in ("Alpha", "Beta", "Gamma"):
        named(name)
    named("Delta", "frenchsouth")
    assembly = assembly_convened(max_proxies=1, secret_ballot=True)
    other = assembly_convened("frenchsouth")
    voices = {
        v.organisation.name: v for v in assembly.voices.select_related("organisation", "voter")
    }
    return assembly, voices, other


def test_the_area_lists_the_assemblies_and_what_the_organisation_did(client, convened):
    assembly, voices, other = convened
    proxy_give(giver=voices["Beta"], holder=voices["Alpha"], by=None)
    sign_in(client, voices["Alpha"].voter)

    area = client.get(reverse("members:area")).content.decode()

    assert "Assemblées générales" in area
    assert page_url(assembly) in area
    assert "Convoquée" in area
    assert "Détient les pouvoirs de" in area and "Beta" in area
    assert page_url(other) not in area  # FrenchSouth's, where Alpha is not convened

    sign_in(client, voices["Beta"].voter)
    assert "A donné pouvoir à Alpha." in client.get(reverse("members:area")).content.decode()


def test_the_page_shows_the_assembly_its_agenda_documents_and_the_secret_ballot(client, convened):
    assembly, voices, _other = convened
    assembly.online_url = "https://visio.example.org/ag"
    assembly.save()
    resolution = assembly.resolutions.first()
    resolution.text = "Approbation des comptes de l’exercice."
    resolution.save()
    kept = document_kept(assembly, "Rapport financier", b"%PDF-1.4 rapport")
    AssemblyDocument.objects.create(
        assembly=assembly, title="Statuts", url="https://example.org/statuts.pdf"
    )
    sign_in(client, voices["Alpha"].voter)

    page = client.get(page_url(assembly)).content.decode()

    for shown in (
        "Toulouse",
        "https://visio.example.org/ag",
        "Résolution 1",
        "Approbation des comptes de l’exercice.",
        "Majorité simple",
        "bulletin secret",
        voices["Alpha"].voter.full_name,
        'href="https://example.org/statuts.pdf"',
        reverse("assemblies:member_assembly_document", args=[kept.pk]),
    ):
        assert shown in page, shown
    document = client.get(reverse("assemblies:member_assembly_document", args=[kept.pk]))
    assert b"".join(document.streaming_content) == b"%PDF-1.4 rapport"
    kept.file.delete(save=False)
    assert (
        client.get(reverse("assemblies:member_assembly_document", args=[kept.pk])).status_code
        == 404
    )


def test_the_personal_link_leads_to_the_assemblys_page_once_signed_in(client, convened):
    assembly, voices, _other = convened
    sign_in(client, voices["Alpha"].voter)

    answer = client.get(urlsplit(voice_url(voice=voices["Alpha"])).path)

    assert answer.status_code == 302
    assert answer["Location"] == page_url(assembly)


def test_the_personal_link_of_another_organisation_leads_to_the_area(client, convened):
    _assembly, voices, _other = convened
    sign_in(client, voices["Alpha"].voter)

    answer = client.get(urlsplit(voice_url(voice=voices["Beta"])).path)

    assert answer["Location"] == reverse("members:area")


def test_a_voter_designated_once_the_vote_is_open_votes_at_the_next_assemblies(client, convened):
    assembly, voices, _other = convened
    primary = voices["Alpha"].voter
    colleague = ContactFactory(organisation=primary.organisation, role=ContactRole.MEMBER)
    voting_open(assembly=assembly)
    sign_in(client, primary)

    client.post(
        action("member_voter_designate", assembly),
        {"voice": voices["Alpha"].pk, "contact": colleague.pk},
    )

    assert Voice.objects.get(pk=voices["Alpha"].pk).voter == primary  # this vote is open
    assert primary.organisation.voter_designation.contact == colleague
    following = assembly_convened()
    assert following.voices.get(organisation=primary.organisation).voter == colleague


def test_another_organisations_or_clusters_ids_answer_404(client, convened):
    assembly, voices, other = convened
    draft = assembly_draft()
    delta_voice = other.voices.get()
    secret = document_kept(other, "Budget", b"%PDF-1.4 budget")
    sign_in(client, voices["Alpha"].voter)

    assert client.get(page_url(other)).status_code == 404
    assert client.get(page_url(draft)).status_code == 404
    assert client.get(page_url(assembly).replace(str(assembly.pk), "999999")).status_code == 404
    document = reverse("assemblies:member_assembly_document", args=[secret.pk])
    assert client.get(document).status_code == 404
    # Beta's voice, Delta's voice (another cluster), posted on Alpha's assembly or Delta's.
    for url, voice in (
        (action("member_proxy_give", assembly), voices["Beta"]),
        (action("member_proxy_revoke", assembly), voices["Beta"]),
        (action("member_voter_designate", assembly), voices["Beta"]),
        (action("member_proxy_give", other), delta_voice),
    ):
        answer = client.post(url, {"voice": voice.pk, "holder": "chair"})
        assert answer.status_code == 404, url
    voting_open(assembly=assembly)
    answer = client.post(
        action("member_ballot_cast", assembly),
        {"voice": voices["Beta"].pk, "by": voices["Beta"].pk, **choices(assembly)},
    )
    assert answer.status_code == 404
    answer = client.post(  # Alpha voting for Beta, which gave it no proxy
        action("member_ballot_cast", assembly),
        {"voice": voices["Beta"].pk, "by": voices["Alpha"].pk, **choices(assembly)},
    )
    assert answer.status_code == 404
    assert not Proxy.objects.exists() and not Ballot.objects.exists()

    staff = staff_user("frenchsouth")
    client.force_login(staff)
    assert client.get(document).status_code == 200
    client.force_login(staff_user("digitalplace"))
    assert client.get(document).status_code == 404


def test_a_contact_who_is_not_the_voter_reads_the_page_and_is_refused(client, convened):
    assembly, voices, _other = convened
    colleague = ContactFactory(organisation=voices["Alpha"].organisation, role=ContactRole.MEMBER)
    sign_in(client, colleague)

    page = client.get(page_url(assembly)).content.decode()
    assert "Seul le votant" in page and voices["Alpha"].voter.full_name in page
    assert "Donner pouvoir" not in page
    answer = client.post(
        action("member_proxy_give", assembly), {"voice": voices["Alpha"].pk, "holder": "chair"}
    )
    assert answer.status_code == 403
    voting_open(assembly=assembly)
    assert "Voter" not in client.get(page_url(assembly)).content.decode()
    answer = client.post(
        action("member_ballot_cast", assembly),
        {"voice": voices["Alpha"].pk, "by": voices["Alpha"].pk, **choices(assembly)},
    )
    assert answer.status_code == 403
    assert not Proxy.objects.exists() and not Ballot.objects.exists()


def test_a_primary_contact_designates_another_voter_who_then_acts_alone(client, convened):
    assembly, voices, _other = convened
    primary = voices["Alpha"].voter
    colleague = ContactFactory(organisation=primary.organisation, role=ContactRole.MEMBER)
    sign_in(client, colleague)
    refused = client.post(
        action("member_voter_designate", assembly),
        {"voice": voices["Alpha"].pk, "contact": colleague.pk},
    )
    assert refused.status_code == 403
    sign_in(client, primary)

    answer = client.post(
        action("member_voter_designate", assembly),
        {"voice": voices["Alpha"].pk, "contact": colleague.pk},
        follow=True,
    )

    assert f"{colleague.full_name} vote désormais pour Alpha" in answer.content.decode()
    assert Voice.objects.get(pk=voices["Alpha"].pk).voter == colleague
    assert primary.organisation.voter_designation.contact == colleague
    assert (
        client.post(
            action("member_proxy_give", assembly), {"voice": voices["Alpha"].pk, "holder": "chair"}
        ).status_code
        == 403
    )
    sign_in(client, colleague)
    client.post(
        action("member_proxy_give", assembly), {"voice": voices["Alpha"].pk, "holder": "chair"}
    )
    assert Proxy.objects.get().given_by.email == colleague.email


def test_a_contact_of_another_organisation_cannot_be_designated(client, convened):
    assembly, voices, _other = convened
    sign_in(client, voices["Alpha"].voter)

    answer = client.post(
        action("member_voter_designate", assembly),
        {"voice": voices["Alpha"].pk, "contact": voices["Beta"].voter.pk},
    )

    assert answer.status_code == 200
    assert "Choisissez un contact de l’organisation." in answer.content.decode()
    assert Voice.objects.get(pk=voices["Alpha"].pk).voter == voices["Alpha"].voter


def test_the_voter_gives_and_revokes_a_proxy_traced_and_only_to_those_who_may_receive_it(
    client, convened
):
    assembly, voices, _other = convened
    proxy_give(giver=voices["Gamma"], holder=voices["Beta"], by=None)  # Beta is full (max 1)
    user = sign_in(client, voices["Alpha"].voter)

    page = client.get(page_url(assembly)).content.decode()
    offered = page.split('name="holder"')[1].split("</select>")[0]
    assert "Au président de séance" in offered
    assert "Beta" not in offered and "Gamma" not in offered  # full; gave its own
    refused = client.post(
        action("member_proxy_give", assembly),
        {"voice": voices["Alpha"].pk, "holder": voices["Beta"].pk},
        follow=True,
    )
    assert "le plus que les statuts permettent" in refused.content.decode()
    assert not Proxy.objects.filter(giver=voices["Alpha"]).exists()

    given = client.post(
        action("member_proxy_give", assembly),
        {"voice": voices["Alpha"].pk, "holder": "chair"},
        follow=True,
    )
    assert "Alpha a donné pouvoir au président de séance." in given.content.decode()
    again = client.post(  # a second tab
        action("member_proxy_give", assembly),
        {"voice": voices["Alpha"].pk, "holder": "chair"},
        follow=True,
    )
    assert "Alpha a déjà donné un pouvoir" in again.content.decode()
    revoked = client.post(
        action("member_proxy_revoke", assembly), {"voice": voices["Alpha"].pk}, follow=True
    )
    assert "Le pouvoir de Alpha est révoqué" in revoked.content.decode()
    twice = client.post(
        action("member_proxy_revoke", assembly), {"voice": voices["Alpha"].pk}, follow=True
    )
    assert "Alpha n’a pas de pouvoir à révoquer." in twice.content.decode()
    proxy = Proxy.objects.get(giver=voices["Alpha"])
    assert (proxy.holder, proxy.given_by, proxy.revoked_by) == (None, user, user)


def test_no_proxy_once_the_vote_is_open(client, convened):
    assembly, voices, _other = convened
    sign_in(client, voices["Alpha"].voter)
    voting_open(assembly=assembly)

    answer = client.post(
        action("member_proxy_give", assembly),
        {"voice": voices["Alpha"].pk, "holder": voices["Beta"].pk},
        follow=True,
    )

    assert "Les pouvoirs se donnent entre la convocation et l’ouverture du vote." in (
        answer.content.decode()
    )
    assert not Proxy.objects.exists()


def test_the_holder_votes_for_itself_and_in_the_name_of_the_giver_once_each(client, convened):
    assembly, voices, _other = convened
    proxy_give(giver=voices["Beta"], holder=voices["Alpha"], by=None)
    voting_open(assembly=assembly)
    sign_in(client, voices["Alpha"].voter)
    page = client.get(page_url(assembly)).content.decode()
    assert "Voter pour Alpha" in page and "Voter au nom de Beta" in page

    own = {"voice": voices["Alpha"].pk, "by": voices["Alpha"].pk, **choices(assembly)}
    held = {
        "voice": voices["Beta"].pk,
        "by": voices["Alpha"].pk,
        **choices(assembly, VoteChoice.AGAINST, prefix=f"voice-{voices['Beta'].pk}-"),
    }
    first = client.post(action("member_ballot_cast", assembly), own, follow=True)
    assert "Le vote de Alpha est enregistré." in first.content.decode()
    second = client.post(action("member_ballot_cast", assembly), held, follow=True)
    assert "Le vote au nom de Beta est enregistré." in second.content.decode()
    for repeated in (own, held):  # a double click, a second tab
        answer = client.post(action("member_ballot_cast", assembly), repeated, follow=True)
        assert "a déjà voté" in answer.content.decode()

    assert counts(assembly) == [(1, 1, 0), (1, 1, 0)]
    page = client.get(page_url(assembly)).content.decode()
    assert "A voté." in page and "Voter pour" not in page and "Voter au nom" not in page
    assert "Ses choix" not in page  # a secret ballot never shows what was chosen
    sign_in(client, voices["Beta"].voter)
    assert "Par Alpha, qui détenait son pouvoir." in client.get(page_url(assembly)).content.decode()


def test_an_open_ballot_shows_the_organisations_own_choices(client):
    named("Alpha")
    assembly = assembly_convened(secret_ballot=False)
    voice = assembly.voices.get()
    voting_open(assembly=assembly)
    sign_in(client, voice.voter)

    client.post(
        action("member_ballot_cast", assembly),
        {"voice": voice.pk, "by": voice.pk, **choices(assembly, VoteChoice.ABSTAIN)},
    )

    page = client.get(page_url(assembly)).content.decode()
    assert "Ses choix" in page and "<strong>Abstention</strong>" in page


def test_no_ballot_once_the_vote_is_closed_and_the_results_are_shown(client, convened):
    assembly, voices, _other = convened
    voting_open(assembly=assembly)
    sign_in(client, voices["Alpha"].voter)
    page = client.get(page_url(assembly)).content.decode()
    voting_close(assembly=assembly)

    answer = client.post(
        action("member_ballot_cast", assembly),
        {"voice": voices["Alpha"].pk, "by": voices["Alpha"].pk, **choices(assembly)},
        follow=True,
    )

    assert "Voter pour Alpha" in page
    assert "Le vote n’est pas ouvert." in answer.content.decode()
    assert not Ballot.objects.exists()
    assert "Résultats" in answer.content.decode() and "Le quorum n’est pas atteint" in (
        answer.content.decode()
    )


@pytest.mark.parametrize(
    ("name", "data", "status"),
    [
        ("member_proxy_give", {"voice": "abc", "holder": "chair"}, 400),
        ("member_proxy_give", {"voice": "99999999999999", "holder": "chair"}, 400),
        ("member_proxy_give", {"holder": "chair"}, 400),
        ("member_proxy_give", {"voice": "ALPHA", "holder": "Beta"}, 200),
        ("member_proxy_give", {"voice": "ALPHA", "holder": "99999999999999"}, 200),
        ("member_proxy_give", {"voice": "ALPHA", "holder": ""}, 200),
        ("member_proxy_revoke", {"voice": "-1"}, 400),
        ("member_voter_designate", {"voice": "ALPHA", "contact": "abc"}, 200),
        ("member_voter_designate", {"voice": "ALPHA", "contact": "1e9"}, 200),
        ("member_voter_designate", {"voice": "x\x00"}, 400),
    ],
)
def test_malformed_values_before_the_vote_are_a_form_error_or_a_400(
    client, convened, name, data, status
):
    assembly, voices, _other = convened
    sign_in(client, voices["Alpha"].voter)
    data = {k: str(voices["Alpha"].pk) if v == "ALPHA" else v for k, v in data.items()}

    answer = client.post(action(name, assembly), data)

    assert answer.status_code == status
    if status == 200:
        assert "Le formulaire contient des erreurs" in answer.content.decode()
    assert not Proxy.objects.exists()


@pytest.mark.parametrize(
    "change",
    [
        {"by": "abc"},
        {"voice": ""},
        {"first": "maybe"},
        {"first": ""},
        {"first": None},
        {"extra": "for"},
    ],
)
def test_malformed_ballots_count_nothing(client, convened, change):
    assembly, voices, _other = convened
    voting_open(assembly=assembly)
    sign_in(client, voices["Alpha"].voter)
    data = {"voice": voices["Alpha"].pk, "by": voices["Alpha"].pk, **choices(assembly)}
    first = f"resolution-{assembly.resolutions.order_by('position').first().pk}"
    for key, value in change.items():
        key = {"first": first, "extra": "resolution-999999"}.get(key, key)
        if value is None:
            del data[key]
        else:
            data[key] = value

    answer = client.post(action("member_ballot_cast", assembly), data)

    if "extra" in change:  # a resolution of no assembly is ignored; the ballot is whole
        assert answer.status_code == 302
        assert Ballot.objects.count() == 1
        return
    assert answer.status_code in (200, 400)
    assert answer.status_code == 400 or "Choisissez pour, contre ou abstention." in (
        answer.content.decode()
    )
    assert not Ballot.objects.exists()
    assert sum(ResolutionTally.objects.values_list("count", flat=True)) == 0


def test_the_areas_queries_do_not_grow_with_the_assemblies_and_proxies(
    client, django_assert_num_queries
):
    for name in ("Alpha", "Beta", "Gamma"):
        named(name)
    first = assembly_convened()
    voices = {v.organisation.name: v for v in first.voices.select_related("organisation")}
    sign_in(client, voices["Alpha"].voter)
    with CaptureQueriesContext(connection) as one:
        assert client.get(reverse("members:area")).status_code == 200

    for _ in range(3):
        more = assembly_convened()
        more_voices = {v.organisation.name: v for v in more.voices.select_related("organisation")}
        proxy_give(giver=more_voices["Beta"], holder=more_voices["Alpha"], by=None)
        voting_open(assembly=more)
    with django_assert_num_queries(len(one)):
        area = client.get(reverse("members:area")).content.decode()
    assert area.count("Détient les pouvoirs de") == 3


def test_the_page_reads_in_english(client, convened, settings):
    assembly, voices, _other = convened
    proxy_give(giver=voices["Beta"], holder=voices["Alpha"], by=None)
    voting_open(assembly=assembly)
    sign_in(client, voices["Alpha"].voter)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    page = client.get(page_url(assembly)).content.decode()

    for shown in ("Agenda", "Vote for Alpha", "Vote on behalf of Beta", "By secret ballot"):
        assert shown in page, shown


def test_the_pages_queries_do_not_grow_with_the_members_and_proxies(
    client, django_assert_num_queries
):
    for name in ("Alpha", "Beta"):
        named(name)
    assembly = assembly_convened(max_proxies=5, secret_ballot=False)
    alpha = assembly.voices.get(organisation__name="Alpha")
    sign_in(client, alpha.voter)
    voting_open(assembly=assembly)
    with CaptureQueriesContext(connection) as few:
        assert client.get(page_url(assembly)).status_code == 200

    for index in range(6):
        named(f"Membre {index}")
    assembly = assembly_convened(max_proxies=5, secret_ballot=False)
    alpha = assembly.voices.get(organisation__name="Alpha")
    for giver in assembly.voices.exclude(pk=alpha.pk)[:5]:
        proxy_give(giver=giver, holder=alpha, by=None)
    voting_open(assembly=assembly)
    with django_assert_num_queries(len(few)):
        page = client.get(page_url(assembly)).content.decode()
    assert page.count("Voter au nom de") == 10  # each held voice's heading and button


def test_an_anonymous_visitor_is_sent_to_sign_in(client, convened):
    assembly, voices, _other = convened
    document = document_kept(assembly, "Rapport", b"%PDF-1.4")
    pages = [page_url(assembly), reverse("assemblies:member_assembly_document", args=[document.pk])]
    forms = [
        action(name, assembly)
        for name in (
            "member_proxy_give",
            "member_proxy_revoke",
            "member_ballot_cast",
            "member_voter_designate",
        )
    ]

    answers = [client.get(url) for url in pages]
    answers += [client.post(url, {"voice": voices["Alpha"].pk}) for url in forms]

    for url, answer in zip(pages + forms, answers, strict=True):
        assert answer.status_code == 302, url
        assert answer["Location"].startswith(reverse("account_login")), url
