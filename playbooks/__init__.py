"""Incident lifecycle and everything driven by time: grading, deadlines, grouping."""
from playbooks.grading import GRADE_LABELS, Grade, GradeDecision, Source, grade_alert, handle_by
from playbooks.incidents import IncidentError, TimeLeft, fold_alerts, open_incident, time_left

__all__ = [
    "GRADE_LABELS", "Grade", "GradeDecision", "IncidentError", "Source", "TimeLeft",
    "fold_alerts", "grade_alert", "handle_by", "open_incident", "time_left",
]
