"""The member area's pointer to the consultation on the successor's name: a template tag, so
that the member area (the ``members`` app) does not import the assemblies."""

from django import template

from assemblies.consultations import consultations_for_members

register = template.Library()


@register.inclusion_tag("assemblies/name_consultation_section.html")
def name_consultations_section() -> dict:
    """The consultations to point members to: the latest of each merger."""
    return {"consultations": list(consultations_for_members())}
