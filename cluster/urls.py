"""URLs of the whole site: the admin, sign-in (allauth, less its e-mail management), language
switching, the member area, the merger's objection page and the home page; the 400 page that
says what is wrong with a malformed request (:func:`cluster.errors.bad_request`)."""

from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.generic import TemplateView

from members.views.account import email_addresses

admin.site.site_header = _("Grand Cluster — administration des adhésions")
admin.site.site_title = _("Administration des adhésions")
admin.site.index_title = _("Tableau de bord")

handler400 = "cluster.errors.bad_request"

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    # Before allauth's: members do not manage their addresses (members.views.account).
    path("accounts/email/", email_addresses, name="account_email"),
    path("accounts/", include("allauth.urls")),
    path("fusion/", include("merger.urls")),
    path("", include("assemblies.urls")),
    path("", include("members.urls")),
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
]
