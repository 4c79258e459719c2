"""*Fusions de fiches*: the merges of two organisation records, as proof."""

from django.contrib import admin

from ..models import OrganisationMerge
from .base import MergerHistoryAdmin


@admin.register(OrganisationMerge)
class OrganisationMergeAdmin(MergerHistoryAdmin):
    list_display = ("absorbed", "survivor", "by", "at", "reason", "undone_at")
    list_select_related = ("absorbed", "survivor", "by")
    readonly_fields = [field.name for field in OrganisationMerge._meta.fields]
    search_fields = ("absorbed__name", "survivor__name")
