"""What the browser modeler needs from the engine, without Flask: the catalog of deployed processes and decisions
with their version history, lint against what is deployed, the variables a process knows (for the condition
builder and sample test orders), the differences between two versions, and blank diagrams to start from."""

from __future__ import annotations

from processes.modeling.blank import MAX_DERIVED_KEY, blank_decision, blank_process, check_key, key_from_name
from processes.modeling.catalog import (
    decision_catalog,
    definition_version,
    lint,
    process_catalog,
    version_history,
)
from processes.modeling.diff import diff_versions, xml_side_by_side
from processes.modeling.progress import order_progress
from processes.modeling.variables import known_variables

__all__ = [
    "MAX_DERIVED_KEY",
    "blank_decision",
    "blank_process",
    "check_key",
    "decision_catalog",
    "definition_version",
    "diff_versions",
    "key_from_name",
    "known_variables",
    "lint",
    "process_catalog",
    "order_progress",
    "version_history",
    "xml_side_by_side",
]
