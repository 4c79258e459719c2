"""The merger waits on the members: each source cluster's extraordinary general assembly adopts
it, and the committee records that resolution here before the date can be fixed."""

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from assemblies.models import AssemblyKind, AssemblyState, Resolution
from members.formatting import short_date

from ..models import Merger, MergerAdoption, MergerEvent
from ..selectors import resolution_result
from .mergers import merger_log


def _adoption_check(*, merger: Merger, resolution: Resolution) -> None:
    """Refuse (:class:`ValidationError`, saying why) a resolution that does not show that a
    source cluster's members adopted the merger."""
    assembly = resolution.assembly
    if not merger.sources.filter(pk=assembly.cluster_id).exists():
        raise ValidationError(
            _(
                "Cette résolution est celle d’une assemblée de %(cluster)s, qui n’est pas un "
                "cluster source de la fusion."
            )
            % {"cluster": assembly.cluster}
        )
    if assembly.kind != AssemblyKind.EXTRAORDINARY:
        raise ValidationError(
            _(
                "« %(assembly)s » est une assemblée générale ordinaire : la fusion se décide en "
                "assemblée générale extraordinaire."
            )
            % {"assembly": assembly.title}
        )
    if assembly.state != AssemblyState.CLOSED:
        raise ValidationError(
            _("Le vote de « %(assembly)s » n’est pas clos : son résultat n’est pas acquis.")
            % {"assembly": assembly.title}
        )
    result = resolution_result(resolution=resolution)
    if not result.adopted:
        raise ValidationError(
            _(
                "La résolution « %(resolution)s » n’a pas été adoptée (pour : %(for)s, contre : "
                "%(against)s, abstention : %(abstain)s)."
            )
            % {
                "resolution": resolution.title,
                "for": result.votes_for,
                "against": result.against,
                "abstain": result.abstain,
            }
        )
    unsigned = {
        (True, True): _(
            "Le procès-verbal de « %(assembly)s » n’est encore signé ni par le président ni par "
            "le secrétaire de séance."
        ),
        (True, False): _(
            "Le procès-verbal de « %(assembly)s » n’est pas encore signé par le président de "
            "séance."
        ),
        (False, True): _(
            "Le procès-verbal de « %(assembly)s » n’est pas encore signé par le secrétaire de "
            "séance."
        ),
    }.get((assembly.chair_signed_at is None, assembly.secretary_signed_at is None))
    if unsigned:
        raise ValidationError(unsigned % {"assembly": assembly.title})


@transaction.atomic
def merger_adoption_record(
    *, merger: Merger, resolution: Resolution, by: AbstractBaseUser | None
) -> MergerAdoption:
    """Record that ``resolution`` of a source cluster's extraordinary general assembly adopted
    ``merger``, logged in the merger's history; return the adoption. Recording the same
    resolution again (a double click) returns the adoption already recorded.

    Refused (:class:`ValidationError`, saying why) for a resolution of a cluster that is not a
    source, of an ordinary assembly, whose vote is not closed, that was not adopted, whose
    minutes the chair and the secretary have not both signed, or when that cluster's adoption
    is recorded already with another resolution."""
    merger = Merger.objects.select_for_update().get(pk=merger.pk)
    resolution = Resolution.objects.select_related("assembly__cluster").get(pk=resolution.pk)
    _adoption_check(merger=merger, resolution=resolution)
    cluster = resolution.assembly.cluster
    recorded = MergerAdoption.objects.filter(merger=merger, cluster=cluster).first()
    if recorded is not None:
        if recorded.resolution_id == resolution.pk:
            return recorded
        raise ValidationError(
            _(
                "L’adoption de la fusion par %(cluster)s est déjà enregistrée, avec une autre "
                "résolution."
            )
            % {"cluster": cluster}
        )
    adoption = MergerAdoption.objects.create(
        merger=merger, cluster=cluster, resolution=resolution, recorded_by=by
    )
    merger_log(
        merger=merger,
        kind=MergerEvent.Kind.ADOPTED,
        by=by,
        cluster=str(cluster),
        assembly=f"{resolution.assembly.title} ({short_date(resolution.assembly.starts_at)})",
        resolution=resolution.title,
    )
    return adoption
