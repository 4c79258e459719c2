"""URLs of the assemblies in the member area, and of the staff's pages under ``gestion/``.
Every member URL naming an assembly or a voice answers 404 to a user who is not a contact of an
organisation convened to it; the staff's pages are the admin site's views (signed-in staff only,
as the admin asks them), and answer 404 for an assembly of a cluster the user does not see."""

from django.contrib import admin
from django.urls import path

from assemblies import views

app_name = "assemblies"

urlpatterns = [
    path("assemblees/lien/<str:token>/", views.assembly_link, name="assembly_link"),
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
]
