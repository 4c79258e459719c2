"""URLs of the merger's member-facing pages."""

from django.urls import path

from . import views

app_name = "merger"

urlpatterns = [
    path("opposition/<str:token>/", views.objection, name="objection"),
]
