"""Admin of the merger, for the merger committee and superusers.

- *Fusions*: the merger's status and planned date (changed with a reason, logged), the plan
  mapping, its history; actions and buttons to establish the proposals, inform the members,
  execute the transfers (a confirmation page showing the successor as it would be) and the
  report, exportable.
- *Propositions de transfert*: filters (decision, origin, flags, members of both), search (name,
  SIRET, SIREN, old member numbers), bulk approve / reject / defer with a reason; a proposal's
  page sets its source records side by side and takes the decision. Every decision goes through
  :func:`merger.services.transfer_decide`, which tells a member that somebody else decided first.
- *Doublons possibles*: the two records side by side; merge them (choosing the one that stays),
  undo a merge, or say "not a duplicate".
- *Informations des membres*: the notices sent, as proof; *Fusions de fiches*: the merges.
- *Adoptions par les assemblées*: the resolution of each source cluster's extraordinary general
  assembly that adopted the merger, recorded from the merger's page (the date is fixed only once
  each source cluster's is); membership staff read their own clusters'.
- An objection sent after the execution (the transfer stands) is flagged apart: a filter and a
  column in the proposals list, a note on the proposal's page, a filter in the notices list, a
  count on the merger's page.

Every list runs a constant number of queries whatever its length (the adoptions' list, one row
per source cluster, counts each row's result).

One module per concept (``adoptions``, ``mergers``, ``proposals``, ``duplicates``, ``merges``,
``notices``), the forms, filters and base classes they share beside them; importing the package
registers them.
"""

from . import adoptions, duplicates, mergers, merges, notices, proposals

__all__ = ["adoptions", "duplicates", "mergers", "merges", "notices", "proposals"]
