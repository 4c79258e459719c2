"""Application configs of the project package."""

from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    """Django's admin, whose default site (``admin.site``, where the apps register their models)
    is :class:`cluster.admin_site.AdminSite`."""

    default_site = "cluster.admin_site.AdminSite"
