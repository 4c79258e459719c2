"""The admin of the domain core: every page renders for every role, each role sees and changes
only what it may, the status filter agrees with the selector, and lists do not grow in queries."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from members.admin.memberships import MembershipPlanFilter
from members.models import (
    Cluster,
    Contact,
    Membership,
    MembershipStatus,
    Organisation,
    Plan,
    Site,
    Term,
)
from tests.factories import (
    ContactFactory,
    OrganisationFactory,
    TermFactory,
    cluster,
)

pytestmark = pytest.mark.django_db

D = dt.date
TODAY = D(2026, 3, 1)
MODELS = ("cluster", "site", "plan", "organisation", "contact", "membership", "term")


def url(model: str, view: str, *args) -> str:
    return reverse(f"admin:members_{model}_{view}", args=args)


def listed(response) -> set[int]:
    return {obj.pk for obj in response.context["cl"].result_list}


@pytest.fixture
def users(superuser, dp_staff, committee):
    return {"superuser": superuser, "dp_staff": dp_staff, "committee": committee}


@pytest.fixture
def members():
    """An organisation member of both source clusters, and one member of each only."""
    both = OrganisationFactory(name="Bi-adhérente")
    ContactFactory(organisation=both, email="contact@bi.example")
    return {
        "dp": TermFactory(membership__organisation=both).membership,
        "fs": TermFactory(
            membership__organisation=both, membership__cluster=cluster("frenchsouth")
        ).membership,
        "dp_only": TermFactory().membership,
        "fs_only": TermFactory(membership__cluster=cluster("frenchsouth")).membership,
    }


def digitalplace_object(model: str, members: dict):
    """An object of each model that DigitalPlace's staff may open."""
    dp = members["dp"]
    return {
        "cluster": dp.cluster,
        "site": Site.objects.filter(cluster=dp.cluster).first(),
        "plan": Plan.objects.filter(cluster=dp.cluster).first(),
        "organisation": dp.organisation,
        "contact": dp.organisation.contacts.first(),
        "membership": dp,
        "term": dp.terms.first(),
    }[model]


# (role, model) → expected status of the add form; everything else renders.
ADD_REFUSED = {("dp_staff", "cluster")} | {("committee", model) for model in MODELS}


@pytest.mark.parametrize("role", ["superuser", "dp_staff", "committee"])
@pytest.mark.parametrize("model", MODELS)
def test_every_page_renders_for_every_role(client, users, members, role, model):
    client.force_login(users[role])
    obj = digitalplace_object(model, members)

    assert client.get(url(model, "changelist")).status_code == 200
    change = client.get(url(model, "change", obj.pk))
    assert change.status_code == 200
    assert change.context["has_change_permission"] is (role != "committee")
    add = client.get(url(model, "add"))
    assert add.status_code == (403 if (role, model) in ADD_REFUSED else 200)


def test_pages_are_in_french(client, superuser, members):
    client.force_login(superuser)
    content = client.get(url("membership", "changelist")).content.decode()
    assert "Adhésions" in content
    assert "N° d’adhérent (ancien n° compris), raison sociale" in content
    assert "À jour" in content or "Expirée" in content


# --- Scoping ----------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["membership", "term"])
def test_staff_lists_only_its_clusters_memberships_and_terms(client, dp_staff, members, model):
    client.force_login(dp_staff)
    response = client.get(url(model, "changelist"))
    memberships = {members["dp"], members["dp_only"]}
    expected = (
        {m.pk for m in memberships}
        if model == "membership"
        else set(Term.objects.filter(membership__in=memberships).values_list("pk", flat=True))
    )
    assert listed(response) == expected


@pytest.mark.parametrize("model", ["membership", "term"])
def test_committee_lists_every_cluster(client, committee, members, model):
    client.force_login(committee)
    response = client.get(url(model, "changelist"))
    assert len(listed(response)) == 4


def test_staff_sees_organisations_and_contacts_of_its_clusters_and_unattached_ones(
    client, dp_staff, members
):
    newcomer = OrganisationFactory(name="Pas encore adhérente")
    ContactFactory(organisation=members["fs_only"].organisation)
    client.force_login(dp_staff)

    organisations = listed(client.get(url("organisation", "changelist")))
    assert organisations == {
        members["dp"].organisation.pk,
        members["dp_only"].organisation.pk,
        newcomer.pk,
    }
    contacts = listed(client.get(url("contact", "changelist")))
    assert contacts == set(
        Contact.objects.filter(organisation=members["dp"].organisation).values_list("pk", flat=True)
    )


def test_staff_sees_only_its_clusters_settings(client, dp_staff, members):
    client.force_login(dp_staff)
    dp = cluster("digitalplace")
    assert listed(client.get(url("cluster", "changelist"))) == {dp.pk}
    assert listed(client.get(url("plan", "changelist"))) == set(
        dp.plans.values_list("pk", flat=True)
    )
    assert listed(client.get(url("site", "changelist"))) == set(
        dp.sites.values_list("pk", flat=True)
    )


@pytest.mark.parametrize(
    ("model", "pick"),
    [
        ("membership", lambda m: m["fs"]),
        ("term", lambda m: m["fs"].terms.first()),
        ("organisation", lambda m: m["fs_only"].organisation),
        ("cluster", lambda m: m["fs"].cluster),
        ("plan", lambda m: Plan.objects.filter(cluster=m["fs"].cluster).first()),
        ("site", lambda m: Site.objects.filter(cluster=m["fs"].cluster).first()),
    ],
)
def test_another_clusters_object_cannot_be_opened_by_its_url(
    client, dp_staff, members, model, pick
):
    obj = pick(members)
    client.force_login(dp_staff)
    for view in ("change", "delete", "history"):
        assert client.get(url(model, view, obj.pk)).status_code in (403, 404)


def test_posting_to_another_clusters_membership_changes_nothing(client, dp_staff, members):
    fs = members["fs"]
    client.force_login(dp_staff)
    response = client.post(url("membership", "change", fs.pk), membership_form(fs, notes="Piraté"))
    assert response.status_code in (403, 404)
    fs.refresh_from_db()
    assert fs.notes == ""


def test_staff_changes_its_own_clusters_membership(client, dp_staff, members):
    dp = members["dp"]
    client.force_login(dp_staff)
    response = client.post(url("membership", "change", dp.pk), membership_form(dp, notes="Vu"))
    assert response.status_code == 302
    dp.refresh_from_db()
    assert dp.notes == "Vu"


def test_staff_cannot_create_a_membership_in_another_cluster(client, dp_staff, members):
    organisation = members["dp_only"].organisation
    new = Membership(organisation=organisation, cluster=cluster("frenchsouth"), member_number="X1")
    client.force_login(dp_staff)
    response = client.post(url("membership", "add"), membership_form(new))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors.keys() == {"cluster"}
    assert not Membership.objects.filter(member_number="X1").exists()


def test_committee_cannot_change(client, committee, members):
    dp = members["dp"]
    client.force_login(committee)
    response = client.post(url("membership", "change", dp.pk), membership_form(dp, notes="Non"))
    assert response.status_code == 403
    dp.refresh_from_db()
    assert dp.notes == ""


@pytest.mark.parametrize("model", [Membership, Term, Organisation, Cluster])
def test_object_permissions_refuse_another_cluster_even_past_the_queryset(dp_staff, members, model):
    fs = members["fs_only"]
    obj = {
        Membership: fs,
        Term: fs.terms.first(),
        Organisation: fs.organisation,
        Cluster: fs.cluster,
    }[model]
    request = RequestFactory().get("/")
    request.user = dp_staff
    model_admin = admin.site.get_model_admin(model)
    assert not model_admin.has_change_permission(request, obj)
    assert not model_admin.has_delete_permission(request, obj)
    assert model_admin.has_change_permission(request, None)


def test_organisation_inline_shows_only_the_staffs_memberships(
    client, dp_staff, committee, members
):
    organisation = members["dp"].organisation

    def inline_memberships(user):
        client.force_login(user)
        response = client.get(url("organisation", "change", organisation.pk))
        (formset,) = (
            inline.formset
            for inline in response.context["inline_admin_formsets"]
            if inline.formset.model is Membership
        )
        return {form.instance.pk for form in formset.forms}

    assert inline_memberships(dp_staff) == {members["dp"].pk}
    assert inline_memberships(committee) == {members["dp"].pk, members["fs"].pk}


def test_staffs_choices_are_its_clusters_only(client, dp_staff, members):
    dp = cluster("digitalplace")
    client.force_login(dp_staff)
    form = client.get(url("membership", "add")).context["adminform"].form
    assert list(form.fields["cluster"].queryset) == [dp]
    assert set(form.fields["site"].queryset) == set(dp.sites.all())
    assert set(form.fields["organisation"].queryset) == {
        members["dp"].organisation,
        members["dp_only"].organisation,
    }

    term_form = client.get(url("term", "add")).context["adminform"].form
    assert set(term_form.fields["plan"].queryset) == set(dp.plans.all())
    assert set(term_form.fields["membership"].queryset) == {members["dp"], members["dp_only"]}

    filters = client.get(url("term", "changelist")).context["cl"].filter_specs
    (plan_filter,) = (f for f in filters if getattr(f, "field_path", None) == "plan")
    assert [label for _pk, label in plan_filter.lookup_choices] == [
        f"DigitalPlace · {plan.name}" for plan in dp.plans.all()
    ]
    # A filter with a single cluster to choose from has nothing to offer and is not shown.
    assert "membership__cluster" not in {getattr(f, "field_path", None) for f in filters}


# --- Status -----------------------------------------------------------------------------------


@pytest.fixture
def one_membership_per_status():
    """On TODAY (1 March 2026), one membership in each status."""
    paid_2026 = {"year": 2026, "is_paid": True}
    return {
        MembershipStatus.CURRENT: TermFactory(**paid_2026).membership,
        MembershipStatus.PENDING: TermFactory(year=2026, is_paid=False).membership,
        MembershipStatus.GRACE: TermFactory(
            start_date=D(2025, 2, 16), end_date=D(2026, 2, 15)
        ).membership,
        MembershipStatus.LAPSED: TermFactory(year=2025).membership,
        MembershipStatus.CANCELLED: TermFactory(
            membership__cancelled_on=D(2026, 2, 1), **paid_2026
        ).membership,
        MembershipStatus.TRANSFERRED: TermFactory(
            membership__transferred_on=D(2026, 2, 1), **paid_2026
        ).membership,
    }


@time_machine.travel(dt.datetime(2026, 3, 1, 10, tzinfo=ZoneInfo("Europe/Paris")), tick=False)
@pytest.mark.parametrize("status", MembershipStatus.values)
def test_status_filter_lists_the_memberships_in_that_status(
    client, superuser, one_membership_per_status, status
):
    client.force_login(superuser)
    response = client.get(url("membership", "changelist"), {"status": status})
    assert listed(response) == {one_membership_per_status[status].pk}
    assert str(MembershipStatus(status).label) in response.content.decode()

    terms = client.get(url("term", "changelist"), {"membership_status": status})
    assert listed(terms) == set(
        one_membership_per_status[status].terms.values_list("pk", flat=True)
    )


@time_machine.travel(dt.datetime(2026, 3, 1, 10, tzinfo=ZoneInfo("Europe/Paris")), tick=False)
def test_status_column_shows_the_french_label(client, superuser, one_membership_per_status):
    client.force_login(superuser)
    response = client.get(url("membership", "changelist"))
    content = response.content.decode()
    for label in ("À jour", "En attente de paiement", "En période de grâce", "Expirée"):
        assert label in content


# --- Term forms -------------------------------------------------------------------------------


def membership_form(membership: Membership, terms=(), **changes) -> dict:
    """The POST of a membership's change form, with ``terms`` as new rows of its term inline."""
    data = {
        "organisation": membership.organisation_id,
        "cluster": membership.cluster_id,
        "site": membership.site_id or "",
        "member_number": membership.member_number,
        "member_since": membership.member_since or "",
        "cancelled_on": "",
        "transferred_on": "",
        "notes": membership.notes,
        **changes,
    }
    existing = list(membership.terms.all()) if membership.pk else []
    data.update(
        {
            "terms-TOTAL_FORMS": len(existing) + len(terms),
            "terms-INITIAL_FORMS": len(existing),
            "terms-MIN_NUM_FORMS": 0,
            "terms-MAX_NUM_FORMS": 1000,
        }
    )
    rows = [
        {
            "id": t.pk,
            "membership": membership.pk,
            "plan": t.plan_id,
            "start_date": t.start_date,
            "end_date": t.end_date,
            "fee": t.fee,
            "is_paid": "on" if t.is_paid else "",
            "paid_on": t.paid_on or "",
        }
        for t in existing
    ]
    rows += [{"membership": membership.pk or "", "fee": "300.00", **term} for term in terms]
    for index, row in enumerate(rows):
        data.update({f"terms-{index}-{key}": value for key, value in row.items()})
    return data


def test_terms_overlapping_each_other_in_one_form_are_refused_with_a_message(
    client, superuser, members
):
    dp = members["dp"]
    plan = dp.terms.first().plan_id
    client.force_login(superuser)
    response = client.post(
        url("membership", "change", dp.pk),
        membership_form(
            dp,
            terms=[
                {"plan": plan, "start_date": "01/01/2027", "end_date": "31/12/2027"},
                {"plan": plan, "start_date": "01/06/2027", "end_date": "31/05/2028"},
            ],
        ),
    )
    assert response.status_code == 200
    assert "chevauche la période du 01/01/2027 au 31/12/2027" in response.content.decode()
    assert dp.terms.count() == 1


def test_term_overlapping_a_saved_one_is_refused_with_a_message(client, superuser, members):
    dp = members["dp"]
    term = dp.terms.first()
    client.force_login(superuser)
    response = client.post(
        url("term", "add"),
        {
            "membership": dp.pk,
            "plan": term.plan_id,
            "start_date": "01/06/2025",
            "end_date": "31/05/2026",
            "fee": "300.00",
        },
    )
    assert response.status_code == 200
    assert "chevauche la période du 01/01/2025 au 31/12/2025" in response.content.decode()


def test_new_membership_with_another_clusters_plan_is_refused_with_a_message(client, superuser):
    organisation = OrganisationFactory()
    fs_plan = Plan.objects.filter(cluster=cluster("frenchsouth")).first()
    new = Membership(organisation=organisation, cluster=cluster("digitalplace"), member_number="N1")
    client.force_login(superuser)
    response = client.post(
        url("membership", "add"),
        membership_form(
            new, terms=[{"plan": fs_plan.pk, "start_date": "01/01/2026", "end_date": "31/12/2026"}]
        ),
    )
    assert response.status_code == 200
    assert "Cette formule n’appartient pas au cluster" in response.content.decode()
    assert not Membership.objects.filter(member_number="N1").exists()


def test_new_membership_with_its_terms_is_saved(client, superuser):
    organisation = OrganisationFactory()
    dp = cluster("digitalplace")
    new = Membership(organisation=organisation, cluster=dp, member_number="N2")
    plan = dp.plans.first()
    client.force_login(superuser)
    response = client.post(
        url("membership", "add"),
        membership_form(
            new,
            terms=[
                {"plan": plan.pk, "start_date": "01/01/2025", "end_date": "31/12/2025"},
                {"plan": plan.pk, "start_date": "01/01/2026", "end_date": "31/12/2026"},
            ],
        ),
    )
    assert response.status_code == 302
    assert Membership.objects.get(member_number="N2").terms.count() == 2


# --- Query counts -----------------------------------------------------------------------------


def add_members(count: int) -> None:
    """``count`` memberships alternating between the source clusters, each with a term and a
    contact; every other organisation is a member of both clusters."""
    for index in range(count):
        organisation = OrganisationFactory()
        ContactFactory(organisation=organisation)
        TermFactory(membership__organisation=organisation)
        if index % 2:
            TermFactory(
                membership__organisation=organisation,
                membership__cluster=cluster("frenchsouth"),
                is_paid=False,
            )


@pytest.mark.parametrize("role", ["superuser", "dp_staff"])
@pytest.mark.parametrize("model", ["membership", "organisation", "term", "contact"])
def test_changelist_queries_do_not_grow_with_rows(client, users, role, model):
    client.force_login(users[role])
    changelist = url(model, "changelist")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(changelist)
        assert response.status_code == 200
        return len(captured)

    add_members(5)
    client.get(changelist)  # warm the caches that a running server keeps anyway
    few = queries()
    add_members(25)
    many = queries()
    rows = len(client.get(changelist).context["cl"].result_list)
    assert rows >= 30
    assert many == few


def test_plan_filter_lists_memberships_by_the_plan_of_their_latest_term(client, dp_staff):
    startup, pme = Plan.objects.filter(cluster__slug="digitalplace", name__in=["Startup", "PME"])
    grew = TermFactory(year=2024, plan=startup).membership
    TermFactory(membership=grew, year=2025, plan=pme)
    stayed = TermFactory(year=2025, plan=startup).membership
    client.force_login(dp_staff)

    response = client.get(url("membership", "changelist"), {"plan": startup.pk})
    assert listed(response) == {stayed.pk}
    assert listed(client.get(url("membership", "changelist"), {"plan": pme.pk})) == {grew.pk}
    (plan_filter,) = [
        f for f in response.context["cl"].filter_specs if isinstance(f, MembershipPlanFilter)
    ]
    offered = {label for _value, label in plan_filter.lookup_choices}
    assert "DigitalPlace · Startup" in offered
    assert not any(label.startswith("FrenchSouth") for label in offered)


def test_staff_cannot_link_a_contact_to_an_account_nor_read_its_address(client, dp_staff, members):
    # An account is linked to a contact by its own sign-in, once it proved the contact's address:
    # staff picking an account by its id would reach any account, another cluster's or a
    # superuser's, and the form re-shown would print its address.
    contact = ContactFactory(organisation=members["dp_only"].organisation, last_name="Durand")
    account = get_user_model().objects.create_user(
        username="inconnu@ailleurs.example", email="inconnu@ailleurs.example"
    )
    client.force_login(dp_staff)
    data = {
        "organisation": contact.organisation_id,
        "first_name": contact.first_name,
        "last_name": "",  # an error, so that the form is shown again
        "email": contact.email,
        "role": contact.role,
        "language": contact.language,
        "user": account.pk,
    }

    response = client.post(url("contact", "change", contact.pk), data)

    assert "inconnu@ailleurs.example" not in response.content.decode()
    data["last_name"] = "Durand"
    client.post(url("contact", "change", contact.pk), data)
    contact.refresh_from_db()
    assert contact.user_id is None
    assert 'name="user"' not in client.get(url("contact", "change", contact.pk)).content.decode()


@time_machine.travel(dt.datetime(2026, 3, 1, 10, tzinfo=ZoneInfo("Europe/Paris")), tick=False)
def test_the_membership_list_shows_plan_and_paid_through_in_constant_queries(
    client, dp_staff, django_assert_max_num_queries
):
    pme = Plan.objects.get(cluster__slug="digitalplace", name="PME")
    member = TermFactory(
        membership__member_number="DP-0042", membership__organisation__name="Garonne Data"
    ).membership
    TermFactory(membership=member, year=2026, plan=pme, is_paid=False)
    client.force_login(dp_staff)
    path = url("membership", "changelist")

    response = client.get(path)
    row = next(line for line in response.text.split("<tr") if "DP-0042" in line)
    for text in ("Garonne Data", "En attente de paiement", "PME", "31/12/2025", "DigitalPlace"):
        assert text in row, text
    assert "SIRET" not in response.text.split('id="result_list"')[1].split("</thead>")[0]

    with CaptureQueriesContext(connection) as few:
        client.get(path)
    for _ in range(12):
        TermFactory(membership__organisation__name="Autre membre")
    with django_assert_max_num_queries(len(few)):
        assert len(client.get(path).context["cl"].result_list) == 13
