"""What the merger committee may do in the merger, added to its group after every ``migrate``
(:func:`members.roles.role_grant`). Superusers may do everything; membership staff only read
their own clusters' adoptions of the merger by their assemblies.
"""

from members.roles import MEMBERSHIP_STAFF, MERGER_COMMITTEE, role_grant

MERGER_MODELS = (
    "merger",
    "mergerevent",
    "planmapping",
    "transferproposal",
    "transferdecision",
    "duplicatepair",
    "organisationmerge",
    "mergernotice",
    "mergeradoption",
)

COMMITTEE_PERMISSIONS = [
    *(("merger", f"view_{model}") for model in MERGER_MODELS),
    # Schedule or postpone the merger, map the plans, execute the transfers.
    ("merger", "change_merger"),
    ("merger", "change_planmapping"),
    ("merger", "execute_merger"),
    # Refresh and decide the proposals, inform the members.
    ("merger", "change_transferproposal"),
    ("merger", "decide_transferproposal"),
    ("merger", "add_mergernotice"),
    # Record the resolution by which each source cluster's assembly adopted the merger.
    ("merger", "add_mergeradoption"),
    # Review the duplicates: merge a pair, undo a merge, say "not a duplicate".
    ("merger", "change_duplicatepair"),
    ("merger", "add_organisationmerge"),
    ("merger", "change_organisationmerge"),
]


#: Membership staff read their own clusters' adoptions of the merger, nothing else of it.
STAFF_PERMISSIONS = [("merger", "view_mergeradoption")]


def merger_roles_ensure(sender=None, **kwargs) -> None:
    """``post_migrate`` receiver: the committee's group holds the merger's permissions."""
    role_grant(MERGER_COMMITTEE, COMMITTEE_PERMISSIONS)
    role_grant(MEMBERSHIP_STAFF, STAFF_PERMISSIONS)
