"""The only commands that change an exercise, its red results and blue reports. Each checks who may, writes the
audit entry in the same transaction and leaves the commit to the caller (REST, CLI and tests call these)."""
from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from drills.board import policy_named
from drills.models import BlueReport, Exercise, ExerciseMember, MemberKind, RedResult, ResultStatus
from drills.scoring_policy import BLUE_DIMENSIONS, RED_TYPES, ScoringPolicyError
from soc_core.audit import record_audit
from soc_core.clock import Clock, as_utc, to_db
from soc_core.models import Unit, User
from soc_core.org import Role
from soc_core.permissions import Action, authorize

NO_UNITS = "-"  # the subtree of a red-team account: no unit's path starts with it


class DrillRefusal(ValueError):
    """A drill action that cannot be done as asked; ``message`` is Chinese first, ``field`` names the input at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class DrillForbidden(DrillRefusal):
    """The actor may not do this in this exercise."""


@dataclass(frozen=True)
class ExerciseSpec:
    name: str
    starts_at: datetime
    ends_at: datetime
    scope_unit_ids: Sequence[int]
    attacker_networks: Sequence[str]
    blue_unit_ids: Sequence[int] = ()  # empty: every scope unit defends
    key_unit_ids: Sequence[int] = ()
    targets: Sequence[Mapping[str, Any]] = ()  # {"unit_id", "name", "address"}
    rules_of_engagement: str = ""
    page_real_escalation: bool = False
    scoring_policy: str = "public-default"


@dataclass(frozen=True)
class RedResultSpec:
    defender_unit_id: int
    type: str
    asset: str
    vulnerability: str
    attack_time: datetime
    asset_address: str = ""
    description: str = ""
    source_addresses: Sequence[str] = ()
    evidence: Sequence[Mapping[str, Any]] = field(default_factory=tuple)  # {"filename", "sha256", "size"}




@dataclass(frozen=True)
class _Acting:
    """A user as the permission table sees them: their role and the subtree they act in."""

    role: Role
    scope_path: str


def _check(actor: User, action: Action, unit: Unit | None = None) -> None:
    """The permission table first (role grant, unit within the actor's subtree); the exercise's own parts after."""
    role = Role(actor.role)
    authorize(_Acting(role, NO_UNITS if role is Role.RED_TEAM else actor.unit.path), action, unit)


def _within(unit: Unit, ancestor: Unit) -> bool:
    return unit.path.startswith(ancestor.path)


def _units(session: Session, ids: Sequence[int], field_name: str) -> list[Unit]:
    units = []
    for unit_id in ids:
        unit = session.get(Unit, int(unit_id))
        if unit is None:
            raise DrillRefusal(f"单位 {unit_id} 不存在 (no unit {unit_id})", field_name)
        units.append(unit)
    return units


def _instant(value: datetime, field_name: str) -> datetime:
    """A time as aware UTC; one that UTC cannot hold (year 1 east of Greenwich) is refused, not a crash."""
    try:
        return as_utc(value)
    except OverflowError:
        raise DrillRefusal(f"时间超出范围 (time out of range): {value.isoformat()}", field_name) from None


def parse_networks(values: Sequence[str]) -> list[str]:
    """Whitelisted red-team addresses as normalised CIDRs; one bad value is refused with its position."""
    networks = []
    for index, value in enumerate(values):
        try:
            networks.append(str(ipaddress.ip_network(str(value).strip(), strict=False)))
        except ValueError:
            raise DrillRefusal(f"攻击方地址第{index + 1}项“{value}”不是 IP 地址或网段 (not an address or CIDR)",
                               f"attacker_networks[{index}]") from None
    return networks


def may_organize(actor: User, exercise: Exercise) -> bool:
    return actor.role == Role.SYSTEM_ADMIN.value or (
        actor.role == Role.DRILL_ORGANIZER.value and _within(exercise.organizer_unit, actor.unit))


def _require_organizer(actor: User, exercise: Exercise) -> None:
    if not may_organize(actor, exercise):
        raise DrillForbidden("只有本次演练的组织方可以这样做 (only the exercise's organizer may)")


def create_exercise(session: Session, clock: Clock, actor: User, spec: ExerciseSpec) -> Exercise:
    """A new exercise, organised from the actor's unit; every scope unit must lie within it."""
    _check(actor, Action.RUN_DRILL)
    if not spec.name.strip():
        raise DrillRefusal("演练名称不能为空 (name is required)", "name")
    try:
        policy_named(spec.scoring_policy)
    except ScoringPolicyError:
        raise DrillRefusal(f"没有名为“{spec.scoring_policy}”的计分规则 (no such scoring policy)", "scoring_policy") from None
    if _instant(spec.ends_at, "ends_at") <= _instant(spec.starts_at, "starts_at"):
        raise DrillRefusal("结束时间须晚于开始时间 (ends_at must be after starts_at)", "ends_at")
    scope = _units(session, spec.scope_unit_ids, "scope_unit_ids")
    if not scope:
        raise DrillRefusal("至少需要一个防守单位 (at least one scope unit)", "scope_unit_ids")
    for unit in scope:
        _check(actor, Action.RUN_DRILL, unit)
    networks = parse_networks(spec.attacker_networks)
    if not networks:
        raise DrillRefusal("须登记攻击方出口地址 (whitelist at least one attacker address)", "attacker_networks")

    def in_scope(unit: Unit) -> bool:
        return any(_within(unit, s) for s in scope)

    blue = _units(session, spec.blue_unit_ids, "blue_unit_ids") or scope
    key = _units(session, spec.key_unit_ids, "key_unit_ids")
    for name, units in (("blue_unit_ids", blue), ("key_unit_ids", key)):
        for unit in units:
            if not in_scope(unit):
                raise DrillRefusal(f"{unit.name} 不在演练范围内 (not within the scope units)", name)
    targets = []
    for index, target in enumerate(spec.targets):
        unit = _units(session, [int(target.get("unit_id", 0))], f"targets[{index}].unit_id")[0]
        if not in_scope(unit):
            raise DrillRefusal(f"靶标“{target.get('name', '')}”所属单位不在演练范围内", f"targets[{index}]")
        targets.append({"unit_id": unit.id, "name": str(target.get("name", "")), "address": str(target.get("address", ""))})
    exercise = Exercise(
        name=spec.name.strip(), organizer_unit_id=actor.unit_id, starts_at=to_db(spec.starts_at), ends_at=to_db(spec.ends_at),
        scope_unit_ids=[u.id for u in scope], blue_unit_ids=[u.id for u in blue], key_unit_ids=[u.id for u in key],
        targets=targets, attacker_networks=networks, rules_of_engagement=spec.rules_of_engagement,
        scoring_policy=spec.scoring_policy, page_real_escalation=spec.page_real_escalation,
        created_by=actor.username, created_at=to_db(clock.now()),
    )
    session.add(exercise)
    session.flush()
    record_audit(session, clock, actor.username, "drill.create", "drill", exercise.id, actor.unit_id, name=exercise.name,
                 window=[spec.starts_at.isoformat(), spec.ends_at.isoformat()], attacker_networks=networks)
    return exercise


def add_member(session: Session, clock: Clock, actor: User, exercise: Exercise, member: User, kind: MemberKind,
               team: str = "") -> ExerciseMember:
    """Name a referee, or put a red-team account (role red_team) on a team."""
    _check(actor, Action.RUN_DRILL, exercise.organizer_unit)
    _require_organizer(actor, exercise)
    if kind is MemberKind.RED and (member.role != Role.RED_TEAM.value or not team.strip()):
        raise DrillRefusal("红队队员须为红队账号并指定队名 (a red member needs a red_team account and a team)", "team")
    if session.scalar(select(ExerciseMember).where(ExerciseMember.exercise_id == exercise.id,
                                                   ExerciseMember.user_id == member.id)) is not None:
        raise DrillRefusal(f"{member.username} 已是本次演练成员 (already a member)", "user_id")
    row = ExerciseMember(exercise_id=exercise.id, user_id=member.id, kind=kind.value, team=team.strip())
    session.add(row)
    session.flush()
    record_audit(session, clock, actor.username, "drill.member", "drill", exercise.id, exercise.organizer_unit_id,
                 user=member.username, kind=kind.value, team=row.team)
    return row


def membership(session: Session, exercise: Exercise, user: User) -> ExerciseMember | None:
    return session.scalar(select(ExerciseMember).where(ExerciseMember.exercise_id == exercise.id,
                                                       ExerciseMember.user_id == user.id))


def _require_referee(session: Session, actor: User, exercise: Exercise) -> None:
    member = membership(session, exercise, actor)
    if member is None or member.kind != MemberKind.REFEREE.value:
        raise DrillForbidden("只有本次演练的裁判可以评判 (only the exercise's referees may judge)")


def submit_red_result(session: Session, clock: Clock, actor: User, exercise: Exercise, spec: RedResultSpec) -> RedResult:
    """A red member submits a result for their own team, within the exercise window."""
    _check(actor, Action.TAKE_PART_IN_DRILL)
    member = membership(session, exercise, actor)
    if member is None or member.kind != MemberKind.RED.value:
        raise DrillForbidden("只有本次演练的红队队员可以提交成果 (only red members may submit results)")
    now = clock.now()
    if not as_utc(exercise.starts_at) <= now <= as_utc(exercise.ends_at):
        raise DrillRefusal("不在演练时间窗内，不能提交成果 (outside the exercise window)")
    if spec.type not in RED_TYPES:
        raise DrillRefusal(f"成果类型须为 {'/'.join(RED_TYPES)} 之一 (unknown type {spec.type!r})", "type")
    for name in ("asset", "vulnerability"):
        if not str(getattr(spec, name)).strip():
            raise DrillRefusal(f"{'资产' if name == 'asset' else '漏洞'}不能为空 ({name} is required)", name)
    defender = _units(session, [spec.defender_unit_id], "defender_unit_id")[0]
    scope = _units(session, exercise.scope_unit_ids, "scope_unit_ids")
    # Assets of the region outside the defending units score ×0.8 (at most 3): they are accepted, marked out of scope.
    if not _within(defender, exercise.organizer_unit):
        raise DrillRefusal(f"{defender.name} 不在本次演练所在地区 (not in the exercise's region)", "defender_unit_id")
    if _instant(spec.attack_time, "attack_time") > now:
        raise DrillRefusal("攻击时间不能晚于提交时间 (attack_time is in the future)", "attack_time")
    result = RedResult(
        exercise_id=exercise.id, team=member.team, submitted_by=actor.id, defender_unit_id=defender.id, type=spec.type,
        asset=spec.asset.strip(), asset_address=spec.asset_address.strip(), vulnerability=spec.vulnerability.strip(),
        description=spec.description, attack_time=to_db(spec.attack_time),
        source_addresses=[str(ipaddress.ip_address(a)) for a in spec.source_addresses],
        in_scope=any(_within(defender, unit) for unit in scope), evidence=[dict(e) for e in spec.evidence],
        status=ResultStatus.PENDING.value, points=None, submitted_at=to_db(now),
    )
    session.add(result)
    session.flush()
    record_audit(session, clock, actor.username, "drill.red_result.submit", "drill_red_result", result.id, defender.id,
                 exercise_id=exercise.id, team=member.team, type=spec.type, vulnerability=result.vulnerability)
    return result


def judge_red_result(session: Session, clock: Clock, actor: User, result: RedResult, accept: bool, reason: str = "",
                     points: float | None = None) -> RedResult:
    """A referee accepts (认定, optionally with points) or rejects (驳回, with a reason) a pending result."""
    _check(actor, Action.TAKE_PART_IN_DRILL)
    exercise = session.get_one(Exercise, result.exercise_id)
    _require_referee(session, actor, exercise)
    if result.status != ResultStatus.PENDING.value:
        raise DrillRefusal(f"该成果已{result.status}，不能再次评判 (already judged)")
    if not accept and not reason.strip():
        raise DrillRefusal("驳回须说明理由 (a rejection needs a reason)", "reason")
    if points is not None and points < 0:
        raise DrillRefusal("分值不能为负 (points must not be negative)", "points")
    result.status = (ResultStatus.ACCEPTED if accept else ResultStatus.REJECTED).value
    result.reason, result.points = reason.strip(), points if accept else None
    result.judged_by, result.judged_at = actor.username, to_db(clock.now())
    record_audit(session, clock, actor.username, "drill.red_result.judge", "drill_red_result", result.id,
                 result.defender_unit_id, status=result.status, reason=result.reason, points=points)
    return result


def attach_red_evidence(session: Session, clock: Clock, actor: User, result: RedResult, filename: str, sha256: str,
                        size: int) -> RedResult:
    """A member of the result's team adds an evidence file (already stored by its SHA-256) while the result is pending."""
    _check(actor, Action.TAKE_PART_IN_DRILL)
    exercise = session.get_one(Exercise, result.exercise_id)
    member = membership(session, exercise, actor)
    if member is None or member.kind != MemberKind.RED.value or member.team != result.team:
        raise DrillForbidden("只有提交该成果的队伍可以补充证据 (only the result's team may add evidence)")
    if result.status != ResultStatus.PENDING.value:
        raise DrillRefusal(f"该成果已{result.status}，不能再补充证据 (already judged)")
    name = filename.strip().replace("/", "_").replace("\\", "_")[:200] or "evidence"
    result.evidence = [*result.evidence, {"filename": name, "sha256": sha256, "size": size}]
    record_audit(session, clock, actor.username, "drill.red_result.evidence", "drill_red_result", result.id,
                 result.defender_unit_id, filename=name, sha256=sha256, size=size)
    return result


def may_report_for(actor: User, exercise: Exercise, unit: Unit) -> bool:
    """A blue unit's own people (its users and those below it) report for it; nobody else does."""
    return unit.id in exercise.blue_unit_ids and actor.role in (Role.SCHOOL_ADMIN.value, Role.DUTY_OFFICER.value) \
        and _within(actor.unit, unit)


def submit_blue_report(session: Session, clock: Clock, actor: User, result: RedResult, narrative: Mapping[str, str],
                       prefill: Mapping[str, Any] | None = None) -> BlueReport:
    """A blue unit reports on an accepted red result against itself."""
    _check(actor, Action.TAKE_PART_IN_DRILL)
    exercise = session.get_one(Exercise, result.exercise_id)
    unit = session.get_one(Unit, result.defender_unit_id)
    if not may_report_for(actor, exercise, unit):
        raise DrillForbidden("只有被攻击的防守单位可以就该成果提交报告 (only the defending unit may report on it)")
    if result.status != ResultStatus.ACCEPTED.value:
        raise DrillRefusal("只能就已认定的攻击成果提交报告 (the red result is not accepted)", "red_result_id")
    unknown = [name for name in narrative if name not in BLUE_DIMENSIONS]
    if unknown:
        raise DrillRefusal(f"未知的报告维度 {unknown}，应为 {'、'.join(BLUE_DIMENSIONS)}", "narrative")
    report = BlueReport(exercise_id=exercise.id, unit_id=unit.id, red_result_id=result.id, submitted_by=actor.username,
                        submitted_at=to_db(clock.now()), narrative=dict(narrative), prefill=dict(prefill or {}),
                        status=ResultStatus.PENDING.value)
    session.add(report)
    session.flush()
    record_audit(session, clock, actor.username, "drill.blue_report.submit", "drill_blue_report", report.id, unit.id,
                 exercise_id=exercise.id, red_result_id=result.id)
    return report


def judge_blue_report(session: Session, clock: Clock, actor: User, report: BlueReport, dimension_scores: Mapping[str, float],
                      bonus: float = 0.0, reason: str = "", weights: Mapping[str, float] | None = None) -> BlueReport:
    """A referee scores a blue report: points per dimension (each within its weight) and a bonus (附加分)."""
    _check(actor, Action.TAKE_PART_IN_DRILL)
    exercise = session.get_one(Exercise, report.exercise_id)
    _require_referee(session, actor, exercise)
    if report.status != ResultStatus.PENDING.value:
        raise DrillRefusal("该报告已评分 (already scored)")
    for name, value in dimension_scores.items():
        if name not in BLUE_DIMENSIONS:
            raise DrillRefusal(f"未知的报告维度“{name}” (unknown dimension)", f"dimension_scores.{name}")
        limit = (weights or {}).get(name)
        if value < 0 or (limit is not None and value > limit):
            raise DrillRefusal(f"{name} 得分须在 0 到 {limit:g} 之间" if limit is not None else f"{name} 得分不能为负",
                               f"dimension_scores.{name}")
    if bonus < 0:
        raise DrillRefusal("附加分不能为负 (bonus must not be negative)", "bonus")
    report.status = ResultStatus.ACCEPTED.value
    report.dimension_scores, report.bonus, report.reason = dict(dimension_scores), float(bonus), reason.strip()
    report.judged_by, report.judged_at = actor.username, to_db(clock.now())
    record_audit(session, clock, actor.username, "drill.blue_report.judge", "drill_blue_report", report.id, report.unit_id,
                 dimension_scores=dict(dimension_scores), bonus=bonus)
    return report
