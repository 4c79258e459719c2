"""The duplicate review as the committee reads it: the two records side by side, what differs
highlighted and what is the same quiet; "Rechercher les doublons" brings the list back as it was
filtered; who may not search is refused."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from merger.models import DuplicatePair
from merger.services import duplicates_refresh
from tests.factories import (
    OrganisationFactory,
    TermFactory,
    UserFactory,
    cluster,
    staff_user,
)
from tests.html_forms import form_data

pytestmark = pytest.mark.django_db

LIST = "/admin/merger/duplicatepair/"


@pytest.fixture
def pair():
    """Two records of one studio, the same but for the name's spelling and the sector."""
    first = OrganisationFactory(
        name="Sud Studio", siret="", siren="", postcode="34000", sector="Jeux vidéo"
    )
    second = OrganisationFactory(
        name="SUD-STUDIO", siret="", siren="", postcode="34000", sector="Animation"
    )
    TermFactory(membership__organisation=first, membership__member_number="DP-0777", year=2027)
    TermFactory(
        membership__organisation=second,
        membership__cluster=cluster("frenchsouth"),
        membership__member_number="FS-0888",
        year=2027,
    )
    duplicates_refresh()
    return DuplicatePair.objects.get()


def fields_of(response) -> list[dict[str, tuple[str, bool]]]:
    """Each column's fields: value and whether it is highlighted as differing, by field."""
    return [
        {key: (value, differs) for key, _label, value, differs in column["fields"]}
        for column in response.context["records"]
    ]


def test_the_pair_page_highlights_what_differs_and_quiets_what_is_the_same(client, committee, pair):
    client.force_login(committee)

    response = client.get(reverse("admin:merger_duplicatepair_change", args=[pair.pk]))

    assert response.status_code == 200
    columns = fields_of(response)
    for column in columns:
        assert column["name"][1] and column["sector"][1]
        assert not column["town"][1] and not column["siret"][1]
    assert {columns[0]["name"][0], columns[1]["name"][0]} == {"Sud Studio", "SUD-STUDIO"}
    page = response.content.decode()
    assert "2 champs diffèrent entre les deux fiches" in page
    assert page.count('<dd class="merger-differs" data-field="name">') == 2
    assert page.count('<dd class="merger-same" data-field="town">') == 2
    assert page.count("(diffère)") == 4


def test_searching_the_duplicates_keeps_the_list_s_filter(client, committee, pair):
    client.force_login(committee)
    listing = client.get(LIST, {"state__exact": "open", "q": "studio"})
    find = reverse("admin:merger_duplicatepair_find")
    data = form_data(listing, action=find)
    assert data["_changelist_filters"] == "state__exact=open&q=studio"

    response = client.post(find, data)

    assert response.status_code == 302
    assert response["Location"] == f"{LIST}?state__exact=open&q=studio"
    shown = client.get(response["Location"])
    assert [p.pk for p in shown.context["cl"].result_list] == [pair.pk]
    assert "1 doublon(s) possible(s) à examiner, dont 0 nouveau(x)." in shown.content.decode()


@pytest.mark.parametrize(
    "filters", ["https://ailleurs.example/", "//ailleurs.example", "%%%", "state__exact=bogus"]
)
def test_a_strange_filter_brings_back_to_the_list_and_nowhere_else(
    client, committee, pair, filters
):
    client.force_login(committee)

    response = client.post(
        reverse("admin:merger_duplicatepair_find"), {"_changelist_filters": filters}
    )

    assert response.status_code == 302
    assert response["Location"].startswith(LIST + "?")
    assert client.get(response["Location"], follow=True).status_code == 200


def test_searching_the_duplicates_is_refused_to_who_may_not_review(client, pair):
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="merger", codename__startswith="view_")
    )
    find = reverse("admin:merger_duplicatepair_find")
    for user in (staff_user(), viewer):
        client.force_login(user)

        assert client.post(find, {"_changelist_filters": "q=x"}).status_code == 403
        assert (
            client.post(
                reverse("admin:merger_duplicatepair_change", args=[pair.pk]),
                {"do": "dismiss", "reason": "Pas un doublon"},
            ).status_code
            == 403
        )
    pair.refresh_from_db()
    assert pair.state == DuplicatePair.State.OPEN
