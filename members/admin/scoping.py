"""What every admin of the domain core builds on: who sees what, decided in one place.

:class:`ClusterScopedAdminMixin`, from :mod:`members.selectors`: membership staff see and change
their own clusters' data, the merger committee reads every cluster's, superusers do everything.
:class:`ClusterScopedRelatedFilter` offers only the clusters, plans and sites the user sees; the
helpers below label a plan or a site with its cluster and read a membership's status from
:func:`members.selectors.memberships_with_status`, as an SQL annotation.
"""

from django.contrib import admin
from django.contrib.admin import widgets
from django.core.exceptions import ValidationError
from django.db import connection, models
from django.db.models import Exists, Model, OuterRef, Q, QuerySet
from django.forms import ModelChoiceField
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import Cluster, Membership, Plan, Site
from members.selectors import (
    clusters_managed_by,
    clusters_visible_to,
    memberships_with_status,
    user_sees_all_clusters,
)

# Choices of these models are shown with their cluster: both clusters have a "Startup" plan, and
# the successor has sites named like the source clusters' ones.
LABELLED_WITH_CLUSTER = (Plan, Site)


def in_clusters(model: type[Model], lookup: str, clusters: QuerySet[Cluster]) -> Q:
    """The condition "``model``'s rows belong to one of ``clusters``", ``lookup`` being the path
    from ``model`` to its cluster (``"cluster"``, ``"membership__cluster"``, ``"pk"`` for the
    clusters themselves, …).

    A path through a reverse foreign key (an organisation's ``memberships``) becomes an ``Exists``
    subquery rather than a join, so that no row comes twice; a row with no related row at all (an
    organisation not yet a member anywhere) belongs to every cluster, so that a freshly created one
    does not vanish from its creator's sight.
    """
    path = lookup.split("__")
    for index, name in enumerate(path):
        field = model._meta.pk if name == "pk" else model._meta.get_field(name)
        if field.one_to_many:
            outer = "__".join(path[:index]) or "pk"
            related = field.related_model._default_manager.filter(
                **{field.field.name: OuterRef(outer)}
            )
            rest = "__".join(path[index + 1 :])
            return Q(Exists(related.filter(**{f"{rest}__in": clusters}))) | ~Exists(related)
        model = field.related_model
    return Q(**{f"{lookup}__in": clusters})


def choice_label(obj: Model) -> str:
    """How a choice reads in a select or a filter: "DigitalPlace · Startup" for a plan or site."""
    return f"{obj.cluster} · {obj}" if isinstance(obj, LABELLED_WITH_CLUSTER) else str(obj)


def with_cluster_labels(queryset: QuerySet) -> QuerySet:
    """``queryset`` loading what :func:`choice_label` reads."""
    if queryset.model in LABELLED_WITH_CLUSTER:
        return queryset.select_related("cluster")
    return queryset


def with_status(queryset: QuerySet[Membership]) -> QuerySet[Membership]:
    """``queryset`` annotated with today's ``status``."""
    return memberships_with_status(on=timezone.localdate(), queryset=queryset)


def limit_plans_to_cluster(form_class, cluster_id: int) -> None:
    """Offer only the plans of the membership's cluster in a term form (when it is editable)."""
    field = form_class.base_fields.get("plan")
    if field is not None:
        field.queryset = field.queryset.filter(cluster_id=cluster_id)


def is_key(field: models.Field, value) -> bool:
    """Whether ``value``, as posted, can be a value of the key ``field``: of its type, and for a
    number, one that its column can hold."""
    try:
        key = field.to_python(value)
    except ValidationError:
        return False
    if key is None:
        return False
    if isinstance(key, int):
        low, high = connection.ops.integer_field_range(field.get_internal_type())
        return (low is None or key >= low) and (high is None or key <= high)
    return True


class ReadableValuesAutocompleteMixin:
    """Django's autocomplete widget shows a posted form again with the records its values name,
    looked up as they were posted (``AutocompleteMixin.optgroups``): letters posted for an
    identifier turned the form's errors into a 500. This one looks up only the values that can
    be keys; the field's own validation says what is wrong with the others."""

    def optgroups(self, name, value, attr=None):
        opts = self.field.remote_field.model._meta
        key = opts.get_field(getattr(self.field.remote_field, "field_name", opts.pk.attname))
        return super().optgroups(name, [v for v in value if is_key(key, v)], attr)


class AutocompleteSelect(ReadableValuesAutocompleteMixin, widgets.AutocompleteSelect):
    pass


class AutocompleteSelectMultiple(
    ReadableValuesAutocompleteMixin, widgets.AutocompleteSelectMultiple
):
    pass


class ClusterScopedAdminMixin:
    """Limits a model admin or an inline to the clusters its user may see and change.

    ``cluster_lookup`` is the path from the model to its cluster. The querysets (list, change
    form, autocomplete) hold the rows of the clusters the user sees; an object of another cluster
    is a 404 even if its URL is typed; change and delete permissions are refused on rows outside
    the clusters the user manages; foreign key choices of the forms are limited to them too.
    Autocomplete fields show a posted form again whatever was posted in them
    (:class:`ReadableValuesAutocompleteMixin`).
    """

    cluster_lookup = "cluster"
    # "example.org" typed in a web-site field means https:// (Django 6's default, without the
    # deprecated transitional setting).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def cluster_scope(self, queryset: QuerySet, clusters: QuerySet[Cluster]) -> QuerySet:
        return queryset.filter(in_clusters(queryset.model, self.cluster_lookup, clusters))

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if user_sees_all_clusters(request.user):
            return queryset
        return self.cluster_scope(queryset, clusters_visible_to(request.user))

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            # The admin would redirect to its index with "does not exist, perhaps deleted": a
            # 404 says the same, and says it the same way for another cluster's object.
            raise Http404(_("Aucun objet ne correspond à cette adresse."))
        return obj

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) and self._in_scope(
            request, obj, to_change=False
        )

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._in_scope(
            request, obj, to_change=True
        )

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._in_scope(
            request, obj, to_change=True
        )

    def _in_scope(self, request, obj, *, to_change: bool) -> bool:
        user = request.user
        # Inlines are asked about their parent object, which the parent's admin checks.
        if obj is None or not isinstance(obj, self.model) or user.is_superuser:
            return True
        if to_change:
            clusters = clusters_managed_by(user)
        elif user_sees_all_clusters(user):
            return True
        else:
            clusters = clusters_visible_to(user)
        # A change form asks several times per object: one query per request is enough.
        answers = request.__dict__.setdefault("_cluster_scope_answers", {})
        key = (self.model, obj.pk, to_change)
        if key not in answers:
            objects = self.model._default_manager.filter(pk=obj.pk)
            answers[key] = self.cluster_scope(objects, clusters).exists()
        return answers[key]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = AutocompleteSelect(
                db_field, self.admin_site, using=kwargs.get("using")
            )
        related_model = db_field.related_model
        if "queryset" not in kwargs and self.admin_site.is_registered(related_model):
            related_admin = self.admin_site.get_model_admin(related_model)
            if isinstance(related_admin, ClusterScopedAdminMixin):
                queryset = related_model._default_manager.all()
                if not request.user.is_superuser:
                    queryset = related_admin.cluster_scope(
                        queryset, clusters_managed_by(request.user)
                    )
                kwargs["queryset"] = queryset
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if isinstance(field, ModelChoiceField):
            field.queryset = with_cluster_labels(field.queryset)
            field.label_from_instance = choice_label
        return field

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = AutocompleteSelectMultiple(
                db_field, self.admin_site, using=kwargs.get("using")
            )
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class ClusterScopedRelatedFilter(admin.RelatedFieldListFilter):
    """A filter on a cluster, plan or site offering only those of the clusters the user sees."""

    def field_choices(self, field, request, model_admin):
        related_model = field.related_model
        queryset = related_model._default_manager.all()
        if not user_sees_all_clusters(request.user):
            related_admin = model_admin.admin_site.get_model_admin(related_model)
            queryset = related_admin.cluster_scope(queryset, clusters_visible_to(request.user))
        return [(obj.pk, choice_label(obj)) for obj in with_cluster_labels(queryset)]
