"""A primary contact keeps the organisation's details and its contacts up to date; other
contacts may not (403), and another organisation's identifiers are not found (404)."""

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.urls import reverse

from members.models import Contact, ContactRole, Organisation
from members.selectors import organisations_of
from members.services import contact_add, contact_login_ensure, contact_remove, organisation_update
from members.services.organisations import contact_removal_refusal, contact_update
from tests.factories import ContactFactory, OrganisationFactory

pytestmark = pytest.mark.django_db

AREA = reverse("members:area")


@pytest.fixture
def organisation():
    return OrganisationFactory(
        name="Octo Sud", address_line1="3 rue du Pont", postcode="31000", city="Toulouse"
    )


@pytest.fixture
def primary(organisation):
    return ContactFactory(
        organisation=organisation,
        first_name="Camille",
        last_name="Roux",
        email="camille@octo.example",
        role=ContactRole.PRIMARY,
    )


@pytest.fixture
def colleague(organisation):
    return ContactFactory(
        organisation=organisation,
        first_name="Léa",
        last_name="Blanc",
        email="lea@octo.example",
        role=ContactRole.BILLING,
    )


def user_of(contact):
    return contact_login_ensure(contact=contact)[0]


def signed_in(client, contact):
    client.force_login(user_of(contact))
    return client


def edit_url(organisation) -> str:
    return reverse("members:organisation_edit", args=[organisation.pk])


def add_url(organisation) -> str:
    return reverse("members:contact_add", args=[organisation.pk])


def contact_edit_url(contact) -> str:
    return reverse("members:contact_edit", args=[contact.organisation_id, contact.pk])


def remove_url(contact) -> str:
    return reverse("members:contact_remove", args=[contact.organisation_id, contact.pk])


DETAILS = {
    "address_line1": "  12 allée Jean Jaurès ",
    "address_line2": "Bâtiment B",
    "postcode": "31500",
    "city": "Toulouse",
    "headcount": "42",
    "sector": "Logiciel",
}

NEW_COLLEAGUE = {
    "first_name": "Noé",
    "last_name": "Vidal",
    "email": "Noe.Vidal@Octo.Example",
    "job_title": "Comptable",
    "role": ContactRole.BILLING,
    "language": "en",
}


# --- The organisation's details -------------------------------------------------------------------


def test_a_primary_contact_updates_the_details(client, organisation, primary):
    signed_in(client, primary)
    page = client.get(edit_url(organisation)).content.decode()
    assert 'value="3 rue du Pont"' in page
    assert '<label for="id_postcode">Code postal' in page
    response = client.post(edit_url(organisation), DETAILS)
    assert response.status_code == 302
    assert response.url == AREA
    organisation.refresh_from_db()
    assert organisation.address_line1 == "12 allée Jean Jaurès"
    assert (organisation.postcode, organisation.headcount, organisation.sector) == (
        "31500",
        42,
        "Logiciel",
    )
    assert "Les coordonnées de Octo Sud sont à jour." in client.get(AREA).content.decode()


def test_the_details_form_takes_its_fields_from_the_model(client, organisation, primary):
    signed_in(client, primary)
    page = client.get(edit_url(organisation)).content.decode()

    # The model's lengths: a postcode has 5 characters, not 10.
    assert re.search(r'<input[^>]+name="postcode"[^>]+maxlength="5"', page)
    assert re.search(r'<input[^>]+name="city"[^>]+maxlength="100"', page)
    assert not re.search(r'<input[^>]+name="postcode"[^>]+maxlength="10"', page)


def test_after_editing_the_member_goes_back_to_a_page_of_the_site_only(
    client, organisation, primary
):
    signed_in(client, primary)
    back = "/espace/adhesions/1/renouveler/"
    response = client.post(edit_url(organisation) + f"?next={back}", DETAILS)
    assert response.url == back
    response = client.post(edit_url(organisation), DETAILS | {"next": "https://evil.example/"})
    assert response.url == AREA


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("postcode", "3100", "Le code postal doit comporter 5 chiffres, par exemple 31000."),
        ("postcode", "31 000", "Le code postal doit comporter 5 chiffres, par exemple 31000."),
        ("postcode", "ABCDE", "Le code postal doit comporter 5 chiffres, par exemple 31000."),
        ("headcount", "-3", "Assurez-vous que cette valeur est supérieure ou égale à 0."),
        ("headcount", "beaucoup", "Saisissez un nombre entier."),
        ("city", "x" * 101, "Assurez-vous que cette valeur comporte au plus 100 caractères"),
    ],
)
def test_invalid_details_are_refused_with_a_message_on_the_field(
    client, organisation, primary, field, value, message
):
    signed_in(client, primary)
    before = Organisation.objects.filter(pk=organisation.pk).values().get()
    response = client.post(edit_url(organisation), DETAILS | {field: value})
    page = response.content.decode()
    assert response.status_code == 200
    assert message in page
    assert f'<ul class="errorlist" id="id_{field}_error">' in page
    assert re.search(
        f'<input[^>]+aria-describedby="[^"]*id_{field}_error"[^>]+id="id_{field}"', page
    )
    assert 'aria-invalid="true"' in page
    assert "Le formulaire contient des erreurs" in page
    assert Organisation.objects.filter(pk=organisation.pk).values().get() == before


def test_organisation_update_checks_like_the_model(organisation, primary):
    user = user_of(primary)
    with pytest.raises(ValidationError) as refused:
        organisation_update(organisation=organisation, by=user, postcode="310")
    assert refused.value.message_dict == {
        "postcode": ["Le code postal doit comporter 5 chiffres, par exemple 31000."]
    }
    with pytest.raises(ValidationError) as refused:
        organisation_update(organisation=organisation, by=user, address_line1="x" * 201)
    assert list(refused.value.message_dict) == ["address_line1"]
    with pytest.raises(ValueError, match="siret"):
        organisation_update(organisation=organisation, by=user, siret="73282932000074")
    updated = organisation_update(organisation=organisation, by=user, headcount="", city=" Albi ")
    assert (updated.headcount, updated.city) == (None, "Albi")


def test_only_primary_contacts_change_the_organisation(organisation, primary, colleague):
    for service, kwargs in (
        (organisation_update, {"organisation": organisation, "city": "Albi"}),
        (contact_add, {"organisation": organisation, "email": "x@octo.example"}),
        (contact_remove, {"contact": primary}),
    ):
        with pytest.raises(PermissionDenied):
            service(by=user_of(colleague), **kwargs)
    assert Organisation.objects.get(pk=organisation.pk).city == "Toulouse"
    assert organisation.contacts.count() == 2


# --- Other contacts: 403; other organisations: 404 ------------------------------------------------


def test_other_contacts_get_403_and_see_no_buttons(client, organisation, primary, colleague):
    signed_in(client, colleague)
    for url in (edit_url(organisation), add_url(organisation), remove_url(primary)):
        assert client.get(url).status_code == 403
        assert client.post(url, DETAILS | NEW_COLLEAGUE).status_code == 403
    area = client.get(AREA).content.decode()
    for url in (edit_url(organisation), add_url(organisation), remove_url(primary)):
        assert url not in area
    assert Organisation.objects.get(pk=organisation.pk).city == "Toulouse"
    assert sorted(organisation.contacts.values_list("email", flat=True)) == [
        "camille@octo.example",
        "lea@octo.example",
    ]


def test_primary_contacts_see_the_buttons(client, organisation, primary, colleague):
    signed_in(client, primary)
    area = client.get(AREA).content.decode()
    assert edit_url(organisation) in area
    assert add_url(organisation) in area
    assert remove_url(colleague) in area
    assert remove_url(primary) not in area  # nobody removes themselves


def test_another_organisations_ids_are_404(client, organisation, primary):
    other = ContactFactory(role=ContactRole.PRIMARY)
    signed_in(client, primary)
    for url in (
        edit_url(other.organisation),
        add_url(other.organisation),
        remove_url(other),
        # Another organisation's contact under one's own organisation.
        reverse("members:contact_remove", args=[organisation.pk, other.pk]),
    ):
        assert client.get(url).status_code == 404
        assert client.post(url, DETAILS | NEW_COLLEAGUE).status_code == 404
    assert Contact.objects.filter(pk=other.pk).exists()


def test_anonymous_visitors_are_sent_to_sign_in(client, organisation, primary, colleague):
    for url in (edit_url(organisation), add_url(organisation), remove_url(colleague)):
        for method in ("get", "post"):
            response = getattr(client, method)(url, DETAILS | NEW_COLLEAGUE)
            assert response.status_code == 302
            assert response.url.startswith(reverse("account_login") + "?next=")
    assert organisation.contacts.count() == 2


# --- Adding colleagues ----------------------------------------------------------------------------


def test_a_primary_contact_adds_a_colleague_who_can_then_sign_in(client, organisation, primary):
    signed_in(client, primary)
    page = client.get(add_url(organisation)).content.decode()
    assert '<label for="id_email" class="required">Adresse e-mail' in page
    response = client.post(add_url(organisation), NEW_COLLEAGUE)
    assert response.status_code == 302
    assert response.url == f"{AREA}#organisation-{organisation.pk}"
    added = organisation.contacts.get(email="noe.vidal@octo.example")
    assert (added.first_name, added.job_title, added.role, added.language) == (
        "Noé",
        "Comptable",
        ContactRole.BILLING,
        "en",
    )
    area = client.get(AREA).content.decode()
    assert "noe.vidal@octo.example" in area
    assert "peut se connecter avec l’adresse noe.vidal@octo.example" in area
    # Their e-mail is a contact's: once they sign in, they see the organisation.
    assert list(organisations_of(user_of(added))) == [organisation]


def test_an_e_mail_already_a_contact_is_a_field_error_and_stores_nothing(
    client, organisation, primary, colleague
):
    signed_in(client, primary)
    response = client.post(add_url(organisation), NEW_COLLEAGUE | {"email": "LEA@octo.example"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "lea@octo.example est déjà un contact de Octo Sud." in page
    assert '<ul class="errorlist" id="id_email_error">' in page
    assert organisation.contacts.count() == 2


def test_the_same_person_may_be_a_contact_of_another_organisation(organisation, primary):
    other = ContactFactory(email="noe.vidal@octo.example")
    added = contact_add(
        organisation=organisation, by=user_of(primary), email="noe.vidal@octo.example"
    )
    assert added.organisation == organisation
    assert other.organisation != organisation


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "email",
            "pas-une-adresse",
            "Saisissez une adresse e-mail valide, comme nom@entreprise.fr.",
        ),
        ("email", "", "Ce champ est obligatoire."),
        ("first_name", "", "Ce champ est obligatoire."),
        ("role", "admin", "Sélectionnez un choix valide."),
        ("language", "de", "Sélectionnez un choix valide."),
    ],
)
def test_invalid_colleagues_are_refused(client, organisation, primary, field, value, message):
    signed_in(client, primary)
    response = client.post(add_url(organisation), NEW_COLLEAGUE | {field: value})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert organisation.contacts.count() == 1


# --- Removing colleagues --------------------------------------------------------------------------


def test_removing_a_colleague_asks_for_confirmation_first(client, organisation, primary, colleague):
    signed_in(client, primary)
    page = client.get(remove_url(colleague)).content.decode()
    assert "Retirer Léa Blanc des contacts&nbsp;?" in page
    assert "Retirer ce contact" in page
    assert Contact.objects.filter(pk=colleague.pk).exists()
    response = client.post(remove_url(colleague))
    assert response.status_code == 302
    assert response.url == f"{AREA}#organisation-{organisation.pk}"
    assert not Contact.objects.filter(pk=colleague.pk).exists()
    # A second click (or a stale tab) changes nothing and fails nothing.
    assert client.post(remove_url(colleague)).status_code == 404


def test_a_removed_colleague_no_longer_sees_the_organisation(organisation, primary, colleague):
    user = user_of(colleague)
    contact_remove(contact=colleague, by=user_of(primary))
    assert list(organisations_of(user)) == []


def test_nobody_removes_themselves(client, organisation, primary):
    ContactFactory(organisation=organisation, role=ContactRole.PRIMARY)
    signed_in(client, primary)
    page = client.get(remove_url(primary)).content.decode()
    assert "Vous ne pouvez pas vous retirer vous-même" in page
    assert "Retirer ce contact" not in page
    response = client.post(remove_url(primary))
    assert response.status_code == 302
    assert Contact.objects.filter(pk=primary.pk).exists()
    assert "Vous ne pouvez pas vous retirer vous-même" in client.get(AREA).content.decode()


def test_the_last_primary_contact_stays(organisation, primary, colleague):
    refusal = contact_removal_refusal(contact=primary, by=user_of(colleague))
    assert refusal == (
        "Camille Roux <camille@octo.example> est le dernier contact principal de Octo Sud : "
        "il doit en rester au moins un."
    )
    second = ContactFactory(organisation=organisation, role=ContactRole.PRIMARY)
    assert contact_removal_refusal(contact=primary, by=user_of(second)) is None


@pytest.mark.django_db(transaction=True)
def test_two_primary_contacts_removing_each_other_at_once_leave_one(postgresql):
    """Each in its own thread and connection, started together, several times over: the
    organisation's lock lets one removal through, and the other is refused (the remover is gone,
    or the one to remove is then the last primary contact)."""
    for n in range(5):
        organisation = OrganisationFactory(name=f"Course {n}")
        first, second = (
            ContactFactory(organisation=organisation, role=ContactRole.PRIMARY) for _ in range(2)
        )
        users = {first.pk: user_of(first), second.pk: user_of(second)}
        start = threading.Barrier(2)

        def remove(contact, by, start=start):
            start.wait()
            try:
                contact_remove(contact=contact, by=by)
                return "removed"
            except (ValidationError, PermissionDenied) as exc:
                return type(exc).__name__
            finally:
                connection.close()

        with ThreadPoolExecutor(max_workers=2) as pool:
            outcomes = list(pool.map(remove, (first, second), (users[second.pk], users[first.pk])))
        assert sorted(outcomes)[-1] == "removed"
        assert outcomes.count("removed") == 1
        assert organisation.contacts.filter(role=ContactRole.PRIMARY).count() == 1


# --- Changing a contact's name, title and role ---------------------------------------------------

RENAMED = {"first_name": " Léa ", "last_name": "Blanc-Martin", "job_title": "Directrice financière"}


def details_of(contact) -> tuple:
    contact.refresh_from_db()
    return (contact.first_name, contact.last_name, contact.job_title, contact.role, contact.email)


def test_a_primary_contact_changes_a_colleagues_name_title_and_role(
    client, organisation, primary, colleague
):
    signed_in(client, primary)
    area = client.get(AREA).content.decode()
    assert contact_edit_url(colleague) in area
    page = client.get(contact_edit_url(colleague)).content.decode()
    assert 'value="Léa"' in page
    assert 'name="role"' in page
    assert "lea@octo.example" in page and 'name="email"' not in page  # shown, not editable

    response = client.post(
        contact_edit_url(colleague),
        RENAMED | {"role": ContactRole.PRIMARY, "email": "x@evil.example"},
    )

    assert response.status_code == 302
    assert response.url == f"{AREA}#organisation-{organisation.pk}"
    assert details_of(colleague) == (
        "Léa",
        "Blanc-Martin",
        "Directrice financière",
        ContactRole.PRIMARY,
        "lea@octo.example",  # the e-mail is how the person signs in: never changed here
    )
    area = client.get(AREA).content.decode()
    assert "Les informations de Léa Blanc-Martin sont à jour." in area
    assert '<span class="contact-title">Directrice financière</span>' in area


def test_every_contact_changes_its_own_name_and_title_but_not_its_role(
    client, organisation, primary, colleague
):
    signed_in(client, colleague)
    area = client.get(AREA).content.decode()
    assert contact_edit_url(colleague) in area
    page = client.get(contact_edit_url(colleague)).content.decode()
    assert 'name="role"' not in page
    assert "Contact facturation" in page

    # A forged role is not read: only a primary contact changes roles.
    response = client.post(contact_edit_url(colleague), RENAMED | {"role": ContactRole.PRIMARY})

    assert response.status_code == 302
    assert details_of(colleague)[:4] == (
        "Léa",
        "Blanc-Martin",
        "Directrice financière",
        ContactRole.BILLING,
    )
    with pytest.raises(PermissionDenied):
        contact_update(
            contact=colleague, by=user_of(colleague), role=ContactRole.PRIMARY, **RENAMED
        )
    assert details_of(colleague)[3] == ContactRole.BILLING


def test_a_contact_who_is_not_primary_cannot_change_a_colleague(
    client, organisation, primary, colleague
):
    other = ContactFactory(organisation=organisation, first_name="Noé", role=ContactRole.MEMBER)
    signed_in(client, colleague)
    before = [details_of(primary), details_of(other)]
    for contact in (primary, other):
        assert client.get(contact_edit_url(contact)).status_code == 403
        posted = client.post(contact_edit_url(contact), RENAMED | {"role": ContactRole.MEMBER})
        assert posted.status_code == 403
    assert [details_of(primary), details_of(other)] == before
    area = client.get(AREA).content.decode()
    assert contact_edit_url(primary) not in area and contact_edit_url(other) not in area
    with pytest.raises(PermissionDenied):
        contact_update(contact=primary, by=user_of(colleague), **RENAMED)


def test_the_last_primary_contact_cannot_give_up_the_role(client, organisation, primary, colleague):
    signed_in(client, primary)
    response = client.post(contact_edit_url(primary), RENAMED | {"role": ContactRole.MEMBER})
    page = response.content.decode()
    assert response.status_code == 200
    assert (
        "Camille Roux est le dernier contact principal de Octo Sud : il doit en rester au moins "
        "un. Donnez d’abord ce rôle à un autre contact." in page
    )
    assert '<ul class="errorlist" id="id_role_error">' in page
    assert details_of(primary)[:4] == ("Camille", "Roux", "", ContactRole.PRIMARY)

    # Once a colleague is primary too, the role can be given up.
    client.post(contact_edit_url(colleague), RENAMED | {"role": ContactRole.PRIMARY})
    response = client.post(contact_edit_url(primary), RENAMED | {"role": ContactRole.MEMBER})
    assert response.status_code == 302
    assert details_of(primary)[3] == ContactRole.MEMBER
    # No longer primary: the colleague's page is closed to them.
    assert client.get(contact_edit_url(colleague)).status_code == 403


def test_another_organisations_contact_is_404(client, organisation, primary):
    other = ContactFactory(role=ContactRole.PRIMARY, first_name="Autre")
    signed_in(client, primary)
    for url in (
        contact_edit_url(other),
        reverse("members:contact_edit", args=[organisation.pk, other.pk]),
        reverse("members:contact_edit", args=[other.organisation_id, primary.pk]),
    ):
        assert client.get(url).status_code == 404
        assert client.post(url, RENAMED | {"role": ContactRole.MEMBER}).status_code == 404
    assert details_of(other)[:4] == ("Autre", other.last_name, "", ContactRole.PRIMARY)


def test_a_double_submit_changes_the_contact_once_and_fails_nothing(
    client, organisation, primary, colleague
):
    signed_in(client, primary)
    data = RENAMED | {"role": ContactRole.MEMBER}
    first = client.post(contact_edit_url(colleague), data)
    after_first = details_of(colleague)
    second = client.post(contact_edit_url(colleague), data)
    assert first.status_code == second.status_code == 302
    assert details_of(colleague) == after_first
    assert organisation.contacts.count() == 2


def test_a_removed_contacts_page_is_404(client, organisation, primary, colleague):
    signed_in(client, primary)
    contact_remove(contact=colleague, by=user_of(primary))
    assert client.post(contact_edit_url(colleague), RENAMED).status_code == 404


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("first_name", "", "Ce champ est obligatoire."),
        ("last_name", "x" * 101, "Assurez-vous que cette valeur comporte au plus 100 caractères"),
        ("job_title", "x" * 151, "Assurez-vous que cette valeur comporte au plus 150 caractères"),
        ("role", "admin", "Sélectionnez un choix valide."),
    ],
)
def test_invalid_contact_details_are_refused_on_the_field(
    client, organisation, primary, colleague, field, value, message
):
    signed_in(client, primary)
    before = details_of(colleague)
    data = RENAMED | {"role": ContactRole.BILLING, field: value}
    response = client.post(contact_edit_url(colleague), data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert f'id="id_{field}_error"' in response.content.decode()
    assert details_of(colleague) == before


@pytest.mark.django_db(transaction=True)
def test_two_primary_contacts_giving_up_the_role_at_once_leave_one(postgresql):
    """Each in its own thread and connection, started together, several times over: under the
    organisation's lock one gives the role up, and the other is refused (the last primary
    contact, or no longer primary)."""
    for n in range(5):
        organisation = OrganisationFactory(name=f"Rôles {n}")
        first, second = (
            ContactFactory(organisation=organisation, role=ContactRole.PRIMARY) for _ in range(2)
        )
        users = {first.pk: user_of(first), second.pk: user_of(second)}
        start = threading.Barrier(2)

        def give_up(contact, start=start, users=users):
            start.wait()
            try:
                contact_update(
                    contact=contact,
                    by=users[contact.pk],
                    first_name="A",
                    last_name="B",
                    role=ContactRole.MEMBER,
                )
                return "changed"
            except (ValidationError, PermissionDenied) as exc:
                return type(exc).__name__
            finally:
                connection.close()

        with ThreadPoolExecutor(max_workers=2) as pool:
            outcomes = list(pool.map(give_up, (first, second)))
        assert outcomes.count("changed") == 1, outcomes
        assert organisation.contacts.filter(role=ContactRole.PRIMARY).count() == 1


def test_the_contact_page_in_english(client, organisation, primary, colleague, settings):
    signed_in(client, primary)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = client.get(contact_edit_url(colleague)).content.decode()
    assert "Edit Léa Blanc" in page
    assert "The e-mail address is not changed here: it is the one used to sign in." in page
    response = client.post(contact_edit_url(primary), RENAMED | {"role": ContactRole.MEMBER})
    assert (
        "Camille Roux is the last primary contact of Octo Sud: there must be at least one. Give "
        "the role to another contact first." in response.content.decode()
    )
