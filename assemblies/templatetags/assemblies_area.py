"""The member area's section on the general assemblies, as a tag of the area's template: the
``members`` app knows nothing of the assemblies, which depend on it."""

from django import template
from django.utils.translation import gettext_lazy as _

from assemblies.models import AssemblyState
from assemblies.selectors import voice_situations, voices_of

register = template.Library()


@register.inclusion_tag("assemblies/area_section.html", takes_context=True)
def member_assemblies(context) -> dict:
    """``{% member_assemblies %}``: for each organisation of the signed-in contact, the
    assemblies it is convened to, those to come (convened, vote open) then those past."""
    situations = voice_situations(voices=voices_of(context["request"].user))
    upcoming = [s for s in situations if s.voice.assembly.state != AssemblyState.CLOSED]
    # Soonest first for those to come; the latest first for those past.
    upcoming.reverse()
    past = [s for s in situations if s.voice.assembly.state == AssemblyState.CLOSED]
    groups = [(_("À venir"), upcoming), (_("Passées"), past)]
    return {
        "groups": [(title, rows) for title, rows in groups if rows],
        "user": context["request"].user,
    }
