"""What every admin of the merger shares: its records are made by its services, and kept."""

from django.contrib import admin
from django.urls import reverse


def admin_url(obj, view: str = "change") -> str:
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=[obj.pk])


class MergerRecordAdmin(admin.ModelAdmin):
    """The merger's records are made by its services and never deleted: they are its history."""

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MergerHistoryAdmin(MergerRecordAdmin):
    """Records that nobody changes either: proof of what was done."""

    def has_change_permission(self, request, obj=None):
        return False
