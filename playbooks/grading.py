"""Grades (特别重大 I, 重大 II, 较大 III, 一般 IV) and handling deadlines, from the configured tables."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from soc_core.config import IncidentSettings


class Grade(str, Enum):
    I = "I"
    II = "II"
    III = "III"
    IV = "IV"

    @property
    def label(self) -> str:
        return GRADE_LABELS[self.value]

    @property
    def rank(self) -> int:
        """Lower is more severe: I → 1 … IV → 4."""
        return ("I", "II", "III", "IV").index(self.value) + 1


GRADE_LABELS = {"I": "特别重大", "II": "重大", "III": "较大", "IV": "一般"}


class Source(str, Enum):
    DETECTED = "detected"          # raised by a rule
    NOTICE = "notice"              # notified by a higher authority (安全通报)
    SELF_REPORTED = "self_reported"  # reported by the unit itself

    @property
    def label(self) -> str:
        return {"detected": "监测发现", "notice": "上级通报", "self_reported": "自行报告"}[self.value]


@dataclass(frozen=True)
class GradeDecision:
    grade: Grade
    basis: str  # why: shown to duty staff and kept with the incident


def grade_alert(level: str, policy: IncidentSettings) -> GradeDecision:
    """Grade from a Sigma rule level through the configured table."""
    configured = policy.grade_by_level.get(level)
    if configured is None:
        return GradeDecision(Grade.IV, f"规则级别 {level} 不在分级表中，按一般(IV)处理 / level {level} not in table, graded IV")
    grade = Grade(configured)
    return GradeDecision(grade, f"规则级别 {level} → {grade.label}({grade.value}) / rule level {level} → grade {grade.value}")


def more_severe(a: Grade, b: Grade) -> Grade:
    return a if a.rank <= b.rank else b


def handle_by(discovered_at: datetime, grade: Grade, source: Source, policy: IncidentSettings) -> datetime:
    """The handling deadline: the grade's limit, or the notice limit when that is sooner.

    Timers start at discovery (发现或获知), DOMAIN.md §1.5.
    """
    hours = policy.handle_hours_by_grade[grade.value]
    if source is Source.NOTICE:
        hours = min(hours, policy.handle_hours_notice)
    return discovered_at + timedelta(hours=hours)
