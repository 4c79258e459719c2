"""URLs of the assemblies in the member area. Every URL naming an assembly, a voice or a
document answers 404 to a user who is not a contact of an organisation convened to it (or, for
a document, of its cluster's staff)."""

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
]
