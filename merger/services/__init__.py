"""Writes of the merger, one module per concern: the merger and its plan mapping, the transfer
proposals and their decisions, the duplicate review, the members' information, the execution."""

from .adoptions import merger_adoption_record
from .duplicates import duplicate_dismiss, duplicate_merge, duplicate_merge_undo, duplicates_refresh
from .execution import (
    merger_execute,
    merger_execution_preview,
    merger_execution_run,
    merger_execution_start,
)
from .mergers import merger_update, plan_mapping_ensure, plan_mapping_update
from .notices import notice_object, notice_test_send, notices_queue, notices_send
from .proposals import proposals_refresh, transfer_decide

__all__ = [
    "duplicate_dismiss",
    "duplicate_merge",
    "duplicate_merge_undo",
    "duplicates_refresh",
    "merger_adoption_record",
    "merger_execute",
    "merger_execution_preview",
    "merger_execution_run",
    "merger_execution_start",
    "merger_update",
    "notice_object",
    "notice_test_send",
    "notices_queue",
    "notices_send",
    "plan_mapping_ensure",
    "plan_mapping_update",
    "proposals_refresh",
    "transfer_decide",
]
