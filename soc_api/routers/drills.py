"""/api/v1/drills: exercises, red results (成果) and the referee queue, blue reports, the scoreboard.

Who sees what: the organizer (a drill organizer above the exercise's organizing unit, or a system admin) everything;
referees everything of their exercise; a red member only their own team's results; a blue unit only the accepted
results against itself and its own reports."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, HTTPException, UploadFile
from fastapi.responses import FileResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from drills.board import exercise_board, policy_named
from drills.commands import (
    DrillForbidden, DrillRefusal, ExerciseSpec, RedResultSpec, add_member, attach_red_evidence, create_exercise, judge_blue_report,
    judge_red_result, may_organize, may_report_for, membership, submit_blue_report, submit_red_result,
)
from drills.models import BlueReport, Exercise, ExerciseMember, MemberKind, RedResult, ResultStatus
from drills.prefill import blue_prefill
from drills.scoring import Scoreboard
from soc_api.auth import Context, CurrentPrincipal, DbSession, Principal, require
from soc_api.schemas.drills import (
    BlueJudgementIn, BlueReportIn, BlueReportOut, DefenderRow, ExerciseIn, ExerciseOut, MemberIn, MemberOut, RedJudgementIn,
    RedResultIn, RedResultOut, ScoreboardOut, TeamRow,
)
from incidents.workflow import EvidenceTooLarge, evidence_path, store_file
from soc_core.permissions import Action
from soc_core.clock import as_utc
from soc_core.models import Unit, User

router = APIRouter(prefix="/api/v1/drills", tags=["drills"])
Part = Literal["organizer", "referee", "red", "blue", "none"]


def _refused(exc: DrillRefusal) -> HTTPException:
    detail = {"message": exc.message, "field": exc.field}
    return HTTPException(403 if isinstance(exc, DrillForbidden) else 422, detail)


def part_of(session: Session, principal: Principal, exercise: Exercise) -> tuple[Part, str]:
    """The principal's part in the exercise (and their red team's name)."""
    if may_organize(principal.user, exercise):
        return "organizer", ""
    member = membership(session, exercise, principal.user)
    if member is not None:
        return ("referee", "") if member.kind == MemberKind.REFEREE.value else ("red", member.team)
    if _blue_units(session, principal, exercise):
        return "blue", ""
    return "none", ""


def _blue_units(session: Session, principal: Principal, exercise: Exercise) -> list[Unit]:
    units = [session.get(Unit, unit_id) for unit_id in exercise.blue_unit_ids]
    return [unit for unit in units if unit is not None and may_report_for(principal.user, exercise, unit)]


def _exercise(session: Session, principal: Principal, exercise_id: int) -> tuple[Exercise, Part, str]:
    exercise = session.get(Exercise, exercise_id)
    part, team = part_of(session, principal, exercise) if exercise else ("none", "")
    if exercise is None or part == "none":
        raise HTTPException(404, f"exercise {exercise_id} not found")
    return exercise, part, team


def _exercise_out(exercise: Exercise, part: Part, team: str) -> ExerciseOut:
    return ExerciseOut(
        id=exercise.id, name=exercise.name, starts_at=as_utc(exercise.starts_at), ends_at=as_utc(exercise.ends_at),
        organizer_unit_id=exercise.organizer_unit_id, scope_unit_ids=exercise.scope_unit_ids,
        blue_unit_ids=exercise.blue_unit_ids, key_unit_ids=exercise.key_unit_ids, targets=exercise.targets,
        attacker_networks=exercise.attacker_networks, rules_of_engagement=exercise.rules_of_engagement,
        page_real_escalation=exercise.page_real_escalation, scoring_policy=exercise.scoring_policy, my_part=part, my_team=team,
    )


def _drills_changed(context: Context) -> None:
    if context.on_drill_change is not None:
        context.on_drill_change()


@router.post("", response_model=ExerciseOut, status_code=201, summary="Create an exercise (organizer)", **require(Action.RUN_DRILL))
def post_exercise(body: ExerciseIn, principal: CurrentPrincipal, context: Context, session: DbSession) -> ExerciseOut:
    spec = ExerciseSpec(body.name, body.starts_at, body.ends_at, body.scope_unit_ids, body.attacker_networks,
                        body.blue_unit_ids, body.key_unit_ids, [t.model_dump() for t in body.targets],
                        body.rules_of_engagement, body.page_real_escalation, body.scoring_policy)
    try:
        exercise = create_exercise(session, context.clock, principal.user, spec)
    except DrillRefusal as exc:
        raise _refused(exc) from exc
    session.commit()
    _drills_changed(context)
    return _exercise_out(exercise, "organizer", "")


@router.get("", response_model=list[ExerciseOut], summary="The exercises you take part in", **require(Action.TAKE_PART_IN_DRILL))
def list_exercises(principal: CurrentPrincipal, session: DbSession) -> list[ExerciseOut]:
    rows = []
    for exercise in session.scalars(select(Exercise).order_by(Exercise.starts_at.desc())):
        part, team = part_of(session, principal, exercise)
        if part != "none":
            rows.append(_exercise_out(exercise, part, team))
    return rows


@router.get("/{exercise_id}", response_model=ExerciseOut, summary="One exercise", **require(Action.TAKE_PART_IN_DRILL))
def get_exercise(exercise_id: int, principal: CurrentPrincipal, session: DbSession) -> ExerciseOut:
    exercise, part, team = _exercise(session, principal, exercise_id)
    return _exercise_out(exercise, part, team)


@router.post("/{exercise_id}/members", response_model=MemberOut, status_code=201, summary="Name a referee or a red member", **require(Action.RUN_DRILL))
def post_member(exercise_id: int, body: MemberIn, principal: CurrentPrincipal, context: Context, session: DbSession
                ) -> MemberOut:
    exercise, _, _ = _exercise(session, principal, exercise_id)
    user = session.scalar(select(User).where(User.username == body.username))
    if user is None:
        raise HTTPException(404, f"user {body.username} not found")
    try:
        member = add_member(session, context.clock, principal.user, exercise, user, MemberKind(body.kind), body.team)
    except DrillRefusal as exc:
        raise _refused(exc) from exc
    session.commit()
    return MemberOut(username=user.username, kind=member.kind, team=member.team)


@router.get("/{exercise_id}/members", response_model=list[MemberOut], summary="Referees and red members (organizer, referees)", **require(Action.TAKE_PART_IN_DRILL))
def list_members(exercise_id: int, principal: CurrentPrincipal, session: DbSession) -> list[MemberOut]:
    exercise, part, _ = _exercise(session, principal, exercise_id)
    if part not in ("organizer", "referee"):
        raise HTTPException(403, {"message": "只有组织方和裁判可以查看成员", "field": None})
    members = session.scalars(select(ExerciseMember).where(ExerciseMember.exercise_id == exercise.id))
    return [MemberOut(username=m.user.username, kind=m.kind, team=m.team) for m in members]


def _result_out(result: RedResult, board: Scoreboard | None) -> RedResultOut:
    scored = next((r for r in board.results if r.id == str(result.id)), None) if board else None
    return RedResultOut(
        id=result.id, team=result.team, defender_unit_id=result.defender_unit_id, type=result.type, asset=result.asset,
        asset_address=result.asset_address, vulnerability=result.vulnerability, description=result.description,
        attack_time=as_utc(result.attack_time), source_addresses=result.source_addresses, in_scope=result.in_scope,
        evidence=result.evidence, status=result.status, points=result.points, reason=result.reason,
        submitted_at=as_utc(result.submitted_at), judged_by=result.judged_by,
        scored_points=scored.points if scored else None, score_note=scored.note if scored else "",
    )


def _visible_results(session: Session, principal: Principal, exercise: Exercise, part: Part, team: str) -> Sequence[RedResult]:
    query = select(RedResult).where(RedResult.exercise_id == exercise.id).order_by(RedResult.submitted_at, RedResult.id)
    if part == "red":
        query = query.where(RedResult.team == team)
    elif part == "blue":
        units = [unit.id for unit in _blue_units(session, principal, exercise)]
        query = query.where(RedResult.defender_unit_id.in_(units), RedResult.status == ResultStatus.ACCEPTED.value)
    return session.scalars(query).all()


@router.post("/{exercise_id}/red-results", response_model=RedResultOut, status_code=201,
             summary="Submit a result for your own red team", **require(Action.TAKE_PART_IN_DRILL))
def post_red_result(exercise_id: int, body: RedResultIn, principal: CurrentPrincipal, context: Context, session: DbSession
                    ) -> RedResultOut:
    exercise, _, _ = _exercise(session, principal, exercise_id)
    spec = RedResultSpec(body.defender_unit_id, body.type, body.asset, body.vulnerability, body.attack_time,
                         body.asset_address, body.description, body.source_addresses)
    try:
        result = submit_red_result(session, context.clock, principal.user, exercise, spec)
    except DrillRefusal as exc:
        raise _refused(exc) from exc
    except ValueError as exc:  # a source address that is not one
        raise HTTPException(422, {"message": f"攻击源地址无效：{exc}", "field": "source_addresses"}) from exc
    session.commit()
    return _result_out(result, None)


@router.get("/{exercise_id}/red-results", response_model=list[RedResultOut],
            summary="Results: all (organizer, referees), your team's (red), accepted ones against you (blue)", **require(Action.TAKE_PART_IN_DRILL))
def list_red_results(exercise_id: int, principal: CurrentPrincipal, session: DbSession) -> list[RedResultOut]:
    exercise, part, team = _exercise(session, principal, exercise_id)
    board = exercise_board(session, exercise)
    return [_result_out(result, board) for result in _visible_results(session, principal, exercise, part, team)]


@router.post("/{exercise_id}/red-results/{result_id}/judgement", response_model=RedResultOut,
             summary="Referee: accept (认定) or reject (驳回) a result", **require(Action.TAKE_PART_IN_DRILL))
def judge_result(exercise_id: int, result_id: int, body: RedJudgementIn, principal: CurrentPrincipal, context: Context,
                 session: DbSession) -> RedResultOut:
    exercise, _, _ = _exercise(session, principal, exercise_id)
    result = session.get(RedResult, result_id)
    if result is None or result.exercise_id != exercise.id:
        raise HTTPException(404, f"result {result_id} not found")
    try:
        judge_red_result(session, context.clock, principal.user, result, body.accept, body.reason, body.points)
    except DrillRefusal as exc:
        raise _refused(exc) from exc
    session.commit()
    return _result_out(result, exercise_board(session, exercise))


def _visible_result(session: Session, principal: Principal, exercise_id: int, result_id: int) -> RedResult:
    """A result the principal may see (404 otherwise: another team's result does not exist for them)."""
    exercise, part, team = _exercise(session, principal, exercise_id)
    result = session.get(RedResult, result_id)
    if result is None or result.exercise_id != exercise.id or result not in _visible_results(session, principal, exercise, part, team):
        raise HTTPException(404, f"result {result_id} not found")
    return result


@router.post("/{exercise_id}/red-results/{result_id}/evidence", response_model=RedResultOut, status_code=201,
             summary="Red: attach an evidence file to your team's pending result (stored by SHA-256, size-limited)", **require(Action.TAKE_PART_IN_DRILL))
def post_red_evidence(exercise_id: int, result_id: int, file: UploadFile, principal: CurrentPrincipal, context: Context,
                      session: DbSession) -> RedResultOut:
    result = _visible_result(session, principal, exercise_id, result_id)
    try:
        sha256, size = store_file(file.file, _evidence_dir(context), context.settings.incidents.evidence_max_bytes)
        attach_red_evidence(session, context.clock, principal.user, result, file.filename or "", sha256, size)
    except EvidenceTooLarge as exc:
        raise HTTPException(413, {"message": f"证据文件过大：{exc}", "field": "file"}) from exc
    except DrillRefusal as exc:
        raise _refused(exc) from exc
    session.commit()
    return _result_out(result, None)


@router.get("/{exercise_id}/red-results/{result_id}/evidence/{sha256}", summary="Download a result's evidence file", **require(Action.TAKE_PART_IN_DRILL))
def get_red_evidence(exercise_id: int, result_id: int, sha256: str, principal: CurrentPrincipal, context: Context,
                     session: DbSession) -> FileResponse:
    result = _visible_result(session, principal, exercise_id, result_id)
    entry = next((e for e in result.evidence if e.get("sha256") == sha256), None)
    if entry is None:
        raise HTTPException(404, f"evidence {sha256} not found")
    return FileResponse(evidence_path(_evidence_dir(context), sha256), filename=str(entry["filename"]))


def _evidence_dir(context: Context) -> Path:
    return context.settings.data_path / "evidence"


@router.get("/{exercise_id}/red-results/{result_id}/prefill", summary="Blue: what edusoc knows for a report on a result", **require(Action.TAKE_PART_IN_DRILL))
def get_prefill(exercise_id: int, result_id: int, principal: CurrentPrincipal, context: Context, session: DbSession
                ) -> dict[str, object]:
    result = _visible_result(session, principal, exercise_id, result_id)
    exercise = session.get_one(Exercise, exercise_id)
    if context.event_store is None:
        return {}
    return blue_prefill(context.event_store, exercise, result, context.clock.now())


def _report_out(report: BlueReport) -> BlueReportOut:
    return BlueReportOut(
        id=report.id, unit_id=report.unit_id, red_result_id=report.red_result_id, submitted_by=report.submitted_by,
        submitted_at=as_utc(report.submitted_at), narrative=report.narrative, prefill=report.prefill, status=report.status,
        dimension_scores=report.dimension_scores, bonus=report.bonus, reason=report.reason,
    )


@router.post("/{exercise_id}/blue-reports", response_model=BlueReportOut, status_code=201,
             summary="Blue: report on an accepted result against your unit (pre-filled with what edusoc detected)", **require(Action.TAKE_PART_IN_DRILL))
def post_blue_report(exercise_id: int, body: BlueReportIn, principal: CurrentPrincipal, context: Context, session: DbSession
                     ) -> BlueReportOut:
    exercise, part, _ = _exercise(session, principal, exercise_id)
    result = session.get(RedResult, body.red_result_id)
    if result is None or result.exercise_id != exercise.id:
        raise HTTPException(404, f"result {body.red_result_id} not found")
    prefill = blue_prefill(context.event_store, exercise, result, context.clock.now()) if context.event_store else {}
    try:
        report = submit_blue_report(session, context.clock, principal.user, result, body.narrative, prefill)
    except DrillRefusal as exc:
        raise _refused(exc) from exc
    session.commit()
    return _report_out(report)


@router.get("/{exercise_id}/blue-reports", response_model=list[BlueReportOut],
            summary="Reports: all (organizer, referees) or your unit's (blue)", **require(Action.TAKE_PART_IN_DRILL))
def list_blue_reports(exercise_id: int, principal: CurrentPrincipal, session: DbSession) -> list[BlueReportOut]:
    exercise, part, _ = _exercise(session, principal, exercise_id)
    if part == "red":
        return []
    query = select(BlueReport).where(BlueReport.exercise_id == exercise.id).order_by(BlueReport.submitted_at)
    if part == "blue":
        query = query.where(BlueReport.unit_id.in_([u.id for u in _blue_units(session, principal, exercise)]))
    return [_report_out(report) for report in session.scalars(query)]


@router.post("/{exercise_id}/blue-reports/{report_id}/judgement", response_model=BlueReportOut,
             summary="Referee: score a blue report on the six dimensions, with a bonus", **require(Action.TAKE_PART_IN_DRILL))
def judge_report(exercise_id: int, report_id: int, body: BlueJudgementIn, principal: CurrentPrincipal, context: Context,
                 session: DbSession) -> BlueReportOut:
    exercise, _, _ = _exercise(session, principal, exercise_id)
    report = session.get(BlueReport, report_id)
    if report is None or report.exercise_id != exercise.id:
        raise HTTPException(404, f"report {report_id} not found")
    weights = policy_named(exercise.scoring_policy).blue.dimensions
    try:
        judge_blue_report(session, context.clock, principal.user, report, body.dimension_scores, body.bonus, body.reason,
                          weights)
    except DrillRefusal as exc:
        raise _refused(exc) from exc
    session.commit()
    return _report_out(report)


@router.get("/{exercise_id}/scoreboard", response_model=ScoreboardOut,
            summary="The board: teams' points, each defender's 扣分/基础得分/附加分/防护值 (red and blue see their own rows)", **require(Action.TAKE_PART_IN_DRILL))
def get_scoreboard(exercise_id: int, principal: CurrentPrincipal, session: DbSession) -> ScoreboardOut:
    exercise, part, team = _exercise(session, principal, exercise_id)
    board = exercise_board(session, exercise)
    names = {unit.id: unit.name for unit in session.scalars(select(Unit).where(Unit.id.in_(exercise.blue_unit_ids)))}
    teams = [TeamRow(team=t.team, defender_unit_id=int(t.defender), by_type=dict(t.by_type), points=t.points) for t in board.teams]
    defenders = [DefenderRow(unit_id=int(d.unit), unit_name=names.get(int(d.unit), ""), deduction=d.deduction, base=d.base,
                             bonus=d.bonus, protection=d.protection) for d in board.defenders]
    totals = dict(board.team_totals)
    if part == "red":
        teams = [row for row in teams if row.team == team]
        totals = {name: value for name, value in totals.items() if name == team}
        defenders = []
    elif part == "blue":
        own = {unit.id for unit in _blue_units(session, principal, exercise)}
        teams = [row for row in teams if row.defender_unit_id in own]
        defenders = [row for row in defenders if row.unit_id in own]
        totals = {}
    return ScoreboardOut(exercise_id=exercise.id, policy=exercise.scoring_policy, team_totals=totals, teams=teams,
                         defenders=defenders)
