"""Case-store tables of the drills: exercises, their members, red results and blue reports. Times naive UTC."""
from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from soc_core.models import Base, Unit, User


class MemberKind(str, Enum):
    REFEREE = "referee"  # 裁判
    RED = "red"  # 红队队员 (with a team name)


class ResultStatus(str, Enum):
    PENDING = "待审"
    ACCEPTED = "认定"
    REJECTED = "驳回"


class Exercise(Base):
    """One 攻防演练: its window, scope, targets (靶标), rules of engagement and the red team's whitelisted addresses."""

    __tablename__ = "drill_exercises"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    organizer_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    # Defending units: traffic of these units (and their subtrees) from a whitelisted address is the exercise's.
    scope_unit_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Blue (defending) units that report; each lies in the scope.
    blue_unit_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # 重点 units: red points against them ×1.4 (policy).
    key_unit_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Targets (靶标) picked from the inventory: [{"unit_id", "name", "address"}].
    targets: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # The red team's egress addresses and networks (CIDR); only traffic from/to these is tagged.
    attacker_networks: Mapped[list[Any]] = mapped_column(JSON, default=list)
    rules_of_engagement: Mapped[str] = mapped_column(Text, default="")
    scoring_policy: Mapped[str] = mapped_column(String(100), default="public-default")
    # Drill incidents page the real escalation chain only when the organizer says so.
    page_real_escalation: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]

    organizer_unit: Mapped[Unit] = relationship()


class ExerciseMember(Base):
    __tablename__ = "drill_members"
    __table_args__ = (Index("ix_drill_members_exercise_user", "exercise_id", "user_id", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    exercise_id: Mapped[int] = mapped_column(ForeignKey("drill_exercises.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # MemberKind
    team: Mapped[str] = mapped_column(String(100), default="")  # red team name; "" for referees

    user: Mapped[User] = relationship()


class RedResult(Base):
    """A red team's result (成果) against one defending unit, judged by the referees."""

    __tablename__ = "drill_red_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    exercise_id: Mapped[int] = mapped_column(ForeignKey("drill_exercises.id"), index=True)
    team: Mapped[str] = mapped_column(String(100))
    submitted_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    defender_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    type: Mapped[str] = mapped_column(String(16))  # drills.scoring_policy.RED_TYPES
    asset: Mapped[str] = mapped_column(String(200))  # host, address or system name
    asset_address: Mapped[str] = mapped_column(String(64), default="")
    vulnerability: Mapped[str] = mapped_column(String(200))  # CVE or the referees' name of the flaw
    description: Mapped[str] = mapped_column(Text, default="")
    attack_time: Mapped[datetime]  # when the red team attacked (for 及时性)
    source_addresses: Mapped[list[Any]] = mapped_column(JSON, default=list)  # addresses the team used
    in_scope: Mapped[bool] = mapped_column(default=True)  # the asset is a target or within the scope units
    evidence: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{"filename", "sha256", "size"}]
    status: Mapped[str] = mapped_column(String(8), default=ResultStatus.PENDING.value)
    points: Mapped[float | None]  # the referee's points; None: the policy's default for the type
    reason: Mapped[str] = mapped_column(Text, default="")  # why accepted with these points or rejected
    submitted_at: Mapped[datetime]
    judged_by: Mapped[str | None] = mapped_column(String(64))
    judged_at: Mapped[datetime | None]


class BlueReport(Base):
    """A blue unit's report (防守报告) on one accepted red result, scored by the referees on six dimensions."""

    __tablename__ = "drill_blue_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    exercise_id: Mapped[int] = mapped_column(ForeignKey("drill_exercises.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    red_result_id: Mapped[int] = mapped_column(ForeignKey("drill_red_results.id"))
    submitted_by: Mapped[str] = mapped_column(String(64))
    submitted_at: Mapped[datetime]
    # What the unit says per dimension (监测发现 …): free text, evidence described or attached.
    narrative: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # What edusoc knew when the report was opened: time to first alert, attacker addresses detected over used.
    prefill: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    evidence: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(8), default=ResultStatus.PENDING.value)
    dimension_scores: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # referee: points per dimension
    bonus: Mapped[float] = mapped_column(default=0.0)  # referee: 附加分
    reason: Mapped[str] = mapped_column(Text, default="")
    judged_by: Mapped[str | None] = mapped_column(String(64))
    judged_at: Mapped[datetime | None]
