"""Grades (特别重大 I, 重大 II, 较大 III, 一般 IV) and handling deadlines, from the configured tables."""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from soc_core.config import GradingRule, IncidentSettings


class Grade(StrEnum):
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
MAJOR_GRADES = frozenset({"I", "II"})  # 重大 and worse: closing them is the duty centre's (Action.CLOSE_MAJOR_INCIDENT)


class Source(StrEnum):
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


LEVEL_RANK = {"informational": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}


@dataclass(frozen=True)
class GradingInputs:
    """What the grading policy looks at: the alert level, the affected asset and the spread.

    The asset facts come from the asset inventory when one is known for the target; without one,
    ``mlps_level`` is None and ``is_cii`` False, and only the level and spread rows can match.
    """

    level: str
    mlps_level: int | None = None
    is_cii: bool = False
    units: int = 1


def _row_matches(row: GradingRule, inputs: GradingInputs) -> bool:
    if LEVEL_RANK.get(inputs.level, 0) < LEVEL_RANK[row.min_level]:
        return False
    if row.min_mlps_level is not None and (inputs.mlps_level is None or inputs.mlps_level < row.min_mlps_level):
        return False
    if row.is_cii is not None and inputs.is_cii != row.is_cii:
        return False
    return row.min_units is None or inputs.units >= row.min_units


def grade_incident(inputs: GradingInputs, policy: IncidentSettings) -> GradeDecision:
    """Grade from the configured policy: the level table, then every policy row that matches.

    The most severe result wins; the basis names the level and every row that matched, so the
    duty staff can see (and dispute) why an incident is 重大.
    """
    decision = grade_alert(inputs.level, policy)
    grade, reasons = decision.grade, [decision.basis]
    for row in policy.grading_policy:
        if _row_matches(row, inputs):
            row_grade = Grade(row.grade)
            reasons.append(f"策略 {row.name}: {_describe(inputs)} → {row_grade.label}({row_grade.value})")
            grade = more_severe(grade, row_grade)
    return GradeDecision(grade, "；".join(reasons))


def _describe(inputs: GradingInputs) -> str:
    parts = [f"级别 {inputs.level}"]
    if inputs.mlps_level is not None:
        parts.append(f"等保{inputs.mlps_level}级")
    if inputs.is_cii:
        parts.append("关键信息基础设施")
    parts.append(f"涉及 {inputs.units} 个单位")
    return "，".join(parts)


def category_for(tags: tuple[str, ...], policy: IncidentSettings) -> str:
    """National category (DOMAIN.md §1.1) from the rule's tags through the configured prefix table."""
    for prefix, category in policy.category_by_tag.items():
        if any(tag == prefix or tag.startswith(prefix + ".") for tag in tags):
            return category
    return "network_attack"


CATEGORY_LABELS = {
    "malware": "有害程序事件", "network_attack": "网络攻击事件", "information_destruction": "信息破坏事件",
    "content_security": "信息内容安全事件", "equipment_failure": "设备设施故障", "disaster": "灾害性事件",
    "other": "其他事件",
}


def more_severe(a: Grade, b: Grade) -> Grade:
    return a if a.rank <= b.rank else b
