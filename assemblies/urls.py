"""URLs of the assemblies in the member area, and of the staff's pages under ``gestion/``.
Every member URL naming an assembly, a voice or a document answers 404 to a user who is not a
contact of an organisation convened to it (or, for a document, of its cluster's staff); the
staff's pages are the admin site's views (signed-in staff only, as the admin asks them), and
answer 404 for an assembly of a cluster the user does not see."""

from django.contrib import admin
from django.urls import path

from assemblies import views

app_name = "assemblies"

urlpatterns = [
    path("assemblees/lien/<str:token>/", views.assembly_link, name="assembly_link"),
    path("espace/assemblees/<int:assembly_id>/", views.member_assembly, name="member_assembly"),
    path(
        "espace/assemblees/<int:assembly_id>/pouvoir/",
        views.member_proxy_give,
        name="member_proxy_give",
    ),
    path(
        "espace/assemblees/<int:assembly_id>/pouvoir/revoquer/",
        views.member_proxy_revoke,
        name="member_proxy_revoke",
    ),
    path(
        "espace/assemblees/<int:assembly_id>/vote/",
        views.member_ballot_cast,
        name="member_ballot_cast",
    ),
    path(
        "espace/assemblees/<int:assembly_id>/votant/",
        views.member_voter_designate,
        name="member_voter_designate",
    ),
    path(
        "espace/assemblees/documents/<int:document_id>/",
        views.member_assembly_document,
        name="member_assembly_document",
    ),
    path(
        "espace/assemblees/<int:assembly_id>/proces-verbal.pdf",
        views.minutes_member_pdf,
        name="member_minutes_pdf",
    ),
    path(
        "gestion/assemblees/<int:assembly_id>/proces-verbal.pdf",
        admin.site.admin_view(views.minutes_staff_pdf),
        name="minutes_pdf",
    ),
    path(
        "gestion/assemblees/<int:assembly_id>/proces-verbal/signer/",
        admin.site.admin_view(views.minutes_staff_sign),
        name="minutes_sign",
    ),
    path(
        "espace/consultation-nom/<int:consultation_id>/",
        views.name_consultation,
        name="name_consultation",
    ),
    path(
        "espace/consultation-nom/<int:consultation_id>/organisation/<int:organisation_id>/",
        views.name_consultation_organisation,
        name="name_consultation_organisation",
    ),
]
