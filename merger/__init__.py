"""The merger of the source clusters into their successor: proposals, decisions, duplicates,
notices and execution. Depends on ``members``, never the reverse."""
