"""/api/v1/notices: notices (通报) to units below, rectification (整改), review and summons (约谈)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, UploadFile
from sqlalchemy import select

from incidents import IncidentError
from notices.models import Notice, Summons
from soc_api.auth import Context, CurrentPrincipal, DbSession, Principal, require
from soc_api.duty_views import notice_detail, notice_out, scoped_notice, scoped_notices, summons_out
from soc_api.schemas.notices import NoticeDetail, NoticeIn, NoticeOut, ReviewIn, SummonsIn, SummonsOut
from soc_api.scoping import visible_unit
from soc_core.models import Unit
from soc_core.permissions import Action

router = APIRouter(prefix="/api/v1/notices", tags=["notices"])


def _notice(session: DbSession, principal: Principal, notice_id: int) -> Notice:
    notice = scoped_notice(session, principal, notice_id)
    if notice is None:
        raise HTTPException(404, f"notice {notice_id} not found")
    return notice


def _issuer_side(session: DbSession, principal: Principal, notice: Notice) -> None:
    if not principal.can_see(session.get(Unit, notice.issuer_unit_id)):  # type: ignore[arg-type]
        raise HTTPException(403, "only the issuing unit reviews a notice")


@router.get("", response_model=list[NoticeOut], summary="Notices issued by or to units in your scope", **require(Action.VIEW))
def list_notices(principal: CurrentPrincipal, context: Context, session: DbSession) -> list[NoticeOut]:
    return [notice_out(session, n, context.clock) for n in scoped_notices(session, principal)]


@router.post("", response_model=NoticeDetail, status_code=201, summary="Issue a notice (通报) to a unit below yours", **require(Action.ISSUE_NOTICE))
def post_notice(body: NoticeIn, principal: CurrentPrincipal, context: Context, session: DbSession) -> NoticeDetail:
    target = visible_unit(session, principal, body.target_unit_id)
    notice = context.notice_service.issue(session, principal.user.username, principal.user.unit, target, body.kind, body.title,
                                          body.description, body.assets, body.required_actions, body.due_at, body.incident_id)
    session.commit()
    return notice_detail(session, notice, context.clock)


@router.get("/summons", response_model=list[SummonsOut], summary="Summons talks (约谈) recorded for units in your scope", **require(Action.VIEW))
def list_summons(principal: CurrentPrincipal, session: DbSession) -> list[SummonsOut]:
    return [summons_out(s) for s in session.scalars(select(Summons).where(Summons.unit_id.in_(principal.visible_units()))
                                                    .order_by(Summons.held_at.desc()))]


@router.get("/{notice_id}", response_model=NoticeDetail, summary="A notice with its history and rectifications", **require(Action.VIEW))
def get_notice(notice_id: int, principal: CurrentPrincipal, context: Context, session: DbSession) -> NoticeDetail:
    return notice_detail(session, _notice(session, principal, notice_id), context.clock)


@router.post("/{notice_id}/acknowledge", response_model=NoticeDetail, summary="Sign for the notice (签收)", **require(Action.ANSWER_NOTICE))
def post_acknowledge(notice_id: int, principal: CurrentPrincipal, context: Context, session: DbSession) -> NoticeDetail:
    notice = _notice(session, principal, notice_id)
    context.notice_service.acknowledge(session, notice, principal.user.username)
    session.commit()
    return notice_detail(session, notice, context.clock)


@router.post("/{notice_id}/rectifications", response_model=NoticeDetail, status_code=201,
              summary="Submit the rectification (整改) report with evidence files", **require(Action.ANSWER_NOTICE))
def post_rectification(
    notice_id: int, principal: CurrentPrincipal, context: Context, session: DbSession,
    measures: Annotated[str, Form(max_length=20000)], result: Annotated[str, Form(max_length=20000)] = "",
    responsible: Annotated[str, Form(max_length=100)] = "", files: list[UploadFile] | None = None,
) -> NoticeDetail:
    notice = _notice(session, principal, notice_id)
    if not principal.can_see(session.get(Unit, notice.target_unit_id)):  # type: ignore[arg-type]
        raise HTTPException(403, "only the notified unit (or units above it) answers a notice")
    try:
        context.notice_service.submit(session, notice, principal.user.username, measures, result, responsible,
                                      [(f.filename or "", f.content_type or "", f.file) for f in files or []])
    except IncidentError as exc:
        session.rollback()
        raise HTTPException(413 if "larger than" in str(exc) else 422, str(exc)) from exc
    session.commit()
    return notice_detail(session, notice, context.clock)


@router.post("/{notice_id}/review", response_model=NoticeDetail, summary="Review the rectification: close (销号) or send back", **require(Action.ISSUE_NOTICE))
def post_review(notice_id: int, body: ReviewIn, principal: CurrentPrincipal, context: Context, session: DbSession) -> NoticeDetail:
    notice = _notice(session, principal, notice_id)
    _issuer_side(session, principal, notice)
    context.notice_service.review(session, notice, principal.user.username, body.accept, body.comment)
    session.commit()
    return notice_detail(session, notice, context.clock)


@router.post("/{notice_id}/summons", response_model=SummonsOut, status_code=201, summary="Record a summons talk (约谈) about the notice", **require(Action.ISSUE_NOTICE))
def post_summons(notice_id: int, body: SummonsIn, principal: CurrentPrincipal, context: Context, session: DbSession) -> SummonsOut:
    notice = _notice(session, principal, notice_id)
    _issuer_side(session, principal, notice)
    target = session.get(Unit, notice.target_unit_id)
    assert target is not None, "a notice's target unit is a units.id foreign key"
    summons = context.notice_service.record_summons(session, principal.user.username, target,
                                                    body.head, body.reason, body.held_at, body.commitments, body.follow_up_due, notice)
    session.commit()
    return summons_out(summons)


