"""URLs of the assemblies in the member area. Every URL naming an assembly or a voice answers
404 to a user who is not a contact of an organisation convened to it."""

from django.urls import path

from assemblies import views

app_name = "assemblies"

urlpatterns = [
    path("assemblees/lien/<str:token>/", views.assembly_link, name="assembly_link"),
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
