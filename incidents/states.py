"""The words of an incident's life: its status, its operator type, and the status sets, each spelled once."""
from __future__ import annotations

from enum import StrEnum


class IncidentStatus(StrEnum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    INVESTIGATING = "investigating"
    CONTAINED = "contained"
    RESOLVED = "resolved"
    CLOSED = "closed"
    MERGED = "merged"

    @property
    def label(self) -> str:
        return STATUS_LABELS[self]


STATUS_LABELS: dict[str, str] = {
    "new": "待处置", "acknowledged": "已确认", "investigating": "调查中", "contained": "已控制",
    "resolved": "已处置", "closed": "已关闭", "merged": "已合并",
}
# The workflow's order (merged is no step of it: it ends an incident folded into another).
WORKFLOW = (IncidentStatus.NEW, IncidentStatus.ACKNOWLEDGED, IncidentStatus.INVESTIGATING, IncidentStatus.CONTAINED,
            IncidentStatus.RESOLVED, IncidentStatus.CLOSED)
# Still being worked: alerts fold into it, its clocks run.
OPEN = frozenset({IncidentStatus.NEW, IncidentStatus.ACKNOWLEDGED, IncidentStatus.INVESTIGATING, IncidentStatus.CONTAINED})
# Handled: no escalation, not overdue.
FINISHED = frozenset({IncidentStatus.RESOLVED, IncidentStatus.CLOSED, IncidentStatus.MERGED})
# May be reopened (→ investigating).
REOPENABLE = frozenset({IncidentStatus.RESOLVED, IncidentStatus.CLOSED})


class OperatorType(StrEnum):
    """Who runs the affected network: it decides the first-report deadline (DOMAIN.md §1.2)."""

    CII = "cii"
    CENTRAL = "central"
    OTHER = "other"

    @property
    def label(self) -> str:
        return OPERATOR_LABELS[self]


OPERATOR_LABELS: dict[str, str] = {"cii": "关键信息基础设施运营者", "central": "中央和国家机关及直属单位", "other": "其他网络运营者"}
# What the duty staff can write on the incident for the reports upward (free text, Art. 7/8 items).
REPORT_FIELDS = ("system", "location", "impact", "measures", "trend", "cause", "leads", "next_steps", "support", "scene", "other",
                 "ransom", "harm", "accountability", "rectification", "lessons")
