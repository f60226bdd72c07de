"""Incident lifecycle and everything driven by time: grading, grouping, workflow, deadlines."""
from inventory.asset_facts import AssetFacts, AssetLookup
from incidents.folding import (
    IncidentError, TimeLeft, add_suppression, deactivate_suppression, fold_alerts, open_incident, time_left,
)
from incidents.grading import (
    CATEGORY_LABELS, GRADE_LABELS, Grade, GradeDecision, GradingInputs, Source, category_for, grade_alert, grade_incident,
)
from incidents.states import STATUS_LABELS, IncidentStatus, OperatorType
from incidents.deadlines import discovered_at, handle_by, plan_handle_by
from incidents.workflow import (
    EvidenceTooLarge, STATUSES, add_comment, attach_evidence, change_status, evidence_path, link_event, merge_incidents, set_grade, split_incident,
)

__all__ = [
    "CATEGORY_LABELS", "GRADE_LABELS", "STATUSES", "STATUS_LABELS", "AssetFacts", "AssetLookup", "EvidenceTooLarge",
    "Grade", "GradeDecision", "GradingInputs", "IncidentError", "Source", "TimeLeft", "add_comment", "add_suppression",
    "attach_evidence", "category_for", "deactivate_suppression", "change_status", "evidence_path", "fold_alerts", "grade_alert", "grade_incident",
    "discovered_at", "handle_by", "IncidentStatus", "OperatorType", "plan_handle_by", "link_event", "merge_incidents", "open_incident", "set_grade", "split_incident", "time_left",
]
