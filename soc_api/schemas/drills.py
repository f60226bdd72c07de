"""Request and response schemas of /api/v1/drills (攻防演练)."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field


Points = Annotated[float, Field(ge=0, le=1_000_000, allow_inf_nan=False)]


class TargetIn(BaseModel):
    unit_id: int
    name: str = Field(max_length=200)
    address: str = Field(default="", max_length=64)


class ExerciseIn(BaseModel):
    name: str = Field(max_length=200)
    starts_at: datetime
    ends_at: datetime
    scope_unit_ids: list[int]
    attacker_networks: list[str] = Field(description="the red team's whitelisted egress addresses or CIDRs")
    blue_unit_ids: list[int] = []
    key_unit_ids: list[int] = []
    targets: list[TargetIn] = []
    rules_of_engagement: str = ""
    page_real_escalation: bool = False
    scoring_policy: str = "public-default"


class ExerciseOut(BaseModel):
    id: int
    name: str
    starts_at: datetime
    ends_at: datetime
    organizer_unit_id: int
    scope_unit_ids: list[int]
    blue_unit_ids: list[int]
    key_unit_ids: list[int]
    targets: list[dict[str, Any]]
    attacker_networks: list[str]
    rules_of_engagement: str
    page_real_escalation: bool
    scoring_policy: str
    my_part: Literal["organizer", "referee", "red", "blue", "none"]
    my_team: str = ""


class MemberIn(BaseModel):
    username: str
    kind: Literal["referee", "red"]
    team: str = ""


class MemberOut(BaseModel):
    username: str
    kind: str
    team: str


class RedResultIn(BaseModel):
    defender_unit_id: int
    type: str = Field(description="路径 / 边界突破 / 靶标权限 / 重要数据 / 其他系统权限")
    asset: str = Field(max_length=200)
    asset_address: str = Field(default="", max_length=64)
    vulnerability: str = Field(max_length=200)
    attack_time: datetime
    description: str = ""
    source_addresses: list[str] = []


class RedResultOut(BaseModel):
    id: int
    team: str
    defender_unit_id: int
    type: str
    asset: str
    asset_address: str
    vulnerability: str
    description: str
    attack_time: datetime
    source_addresses: list[str]
    in_scope: bool
    evidence: list[dict[str, Any]]
    status: str
    points: float | None
    reason: str
    submitted_at: datetime
    judged_by: str | None
    scored_points: float | None = Field(None, description="what the result took from the defender on the board")
    score_note: str = ""


class RedJudgementIn(BaseModel):
    accept: bool
    reason: str = ""
    points: Points | None = None


class BlueReportIn(BaseModel):
    red_result_id: int
    narrative: dict[str, str] = Field(description="text per dimension: 监测发现、分析研判、应急处置、通报预警、协同联动、追踪溯源")


class BlueReportOut(BaseModel):
    id: int
    unit_id: int
    red_result_id: int
    submitted_by: str
    submitted_at: datetime
    narrative: dict[str, str]
    prefill: dict[str, Any]
    status: str
    dimension_scores: dict[str, float]
    bonus: float
    reason: str


class BlueJudgementIn(BaseModel):
    dimension_scores: dict[str, Points]
    bonus: Points = 0.0
    reason: str = ""


class TeamRow(BaseModel):
    team: str
    defender_unit_id: int
    by_type: dict[str, float]
    points: float


class DefenderRow(BaseModel):
    unit_id: int
    unit_name: str
    deduction: float
    base: float
    bonus: float
    protection: float


class ScoreboardOut(BaseModel):
    exercise_id: int
    policy: str
    team_totals: dict[str, float]
    teams: list[TeamRow]
    defenders: list[DefenderRow]
