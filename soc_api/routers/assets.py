"""/api/v1/assets: the inventory schools file, its history, and spreadsheet import/export.

Reads are scoped by the org tree (a regulator reads their region); writes need a role that
files inventory (school admin for their own school, duty officer and system admin within
their scope) and are versioned and audited.
"""
from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query
from sqlalchemy.orm import Session

from inventory.assets import InventoryError, KINDS, KindSpec, create_row, delete_row, history, row_values, rows_of, update_row
from soc_api.auth import Context, CurrentPrincipal, DbSession, Principal, require
from soc_api.scoping import filing_unit, scoped_unit
from soc_core.clock import as_utc
from soc_core.models import Base, Unit
from soc_core.permissions import Action
from soc_core.repositories import units_within

router = APIRouter(prefix="/api/v1/assets", tags=["assets"])
# The fixed paths (/import, /template.xlsx, /export.xlsx) live in asset_files.py, whose router the
# app mounts before this one so they are not taken for a {kind}.


def _spec(kind: str) -> KindSpec:
    if kind not in KINDS:
        raise HTTPException(404, f"unknown asset kind {kind!r}; one of {', '.join(KINDS)}")
    return KINDS[kind]


def row_out(spec: KindSpec, row: Base) -> dict[str, Any]:
    values = {k: v.isoformat() if isinstance(v, date) else v for k, v in row_values(spec, row).items()}
    return {"id": row.id, "kind": spec.kind, "unit_id": row.unit_id, **values}  # type: ignore[attr-defined]


def _invalid(exc: InventoryError) -> HTTPException:
    return HTTPException(422, {"message": "数据有误，未保存 / invalid, nothing saved",
                               "errors": [{"column": e.column, "reason": e.reason} for e in exc.errors]})


def _scoped_row(session: Session, principal: Principal, spec: KindSpec, row_id: int) -> Base:
    row = session.get(spec.model, row_id)
    if row is None or not principal.can_see(session.get(Unit, row.unit_id)):  # type: ignore[attr-defined, arg-type]
        raise HTTPException(404, f"{spec.kind} {row_id} not found")
    return row


@router.get("/kinds", summary="The kinds of inventory rows with their columns (Chinese headers)", **require(Action.VIEW))
def list_kinds(principal: CurrentPrincipal) -> list[dict[str, Any]]:
    return [{"kind": s.kind, "label": s.label, "key": list(s.key),
             "columns": [{"name": c.name, "header": c.header, "required": c.required, "hint": c.hint} for c in s.columns]}
            for s in KINDS.values()]


@router.get("/{kind}", summary="Inventory rows of one kind in a unit and everything below it", **require(Action.VIEW))
def list_rows(kind: str, principal: CurrentPrincipal, session: DbSession,
              unit_id: Annotated[int | None, Query()] = None) -> list[dict[str, Any]]:
    spec = _spec(kind)
    unit = scoped_unit(session, principal, unit_id)
    ids = units_within(unit).with_only_columns(Unit.id)
    return [row_out(spec, row) for row in rows_of(session, spec, ids)]

@router.post("/{kind}", status_code=201, summary="File one row for a unit (default: your own)", **require(Action.FILE_INVENTORY))
def create(kind: str, principal: CurrentPrincipal, context: Context, session: DbSession,
           values: Annotated[dict[str, Any], Body()], unit_id: Annotated[int | None, Query()] = None) -> dict[str, Any]:
    spec = _spec(kind)
    unit = filing_unit(session, principal, unit_id)
    try:
        row = create_row(session, context.clock, principal.user.username, spec, unit, values)
    except InventoryError as exc:
        raise _invalid(exc) from exc
    session.commit()
    return row_out(spec, row)

@router.patch("/{kind}/{row_id}", summary="Change some columns of one row", **require(Action.FILE_INVENTORY))
def update(kind: str, row_id: int, principal: CurrentPrincipal, context: Context, session: DbSession,
           values: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    spec = _spec(kind)
    row = _scoped_row(session, principal, spec, row_id)
    filing_unit(session, principal, row.unit_id)  # type: ignore[attr-defined]
    try:
        update_row(session, context.clock, principal.user.username, spec, row, values)
    except InventoryError as exc:
        raise _invalid(exc) from exc
    session.commit()
    return row_out(spec, row)

@router.delete("/{kind}/{row_id}", status_code=204, summary="Remove one row (its history stays)", **require(Action.FILE_INVENTORY))
def delete(kind: str, row_id: int, principal: CurrentPrincipal, context: Context, session: DbSession) -> None:
    spec = _spec(kind)
    row = _scoped_row(session, principal, spec, row_id)
    filing_unit(session, principal, row.unit_id)  # type: ignore[attr-defined]
    delete_row(session, context.clock, principal.user.username, spec, row)
    session.commit()

@router.get("/{kind}/{row_id}/history", summary="Every version of one row: who, when, what changed", **require(Action.VIEW))
def row_history(kind: str, row_id: int, principal: CurrentPrincipal, session: DbSession) -> list[dict[str, Any]]:
    spec = _spec(kind)
    revisions = history(session, spec.kind, row_id)
    if not revisions or not principal.can_see(session.get(Unit, revisions[0].unit_id)):  # type: ignore[arg-type]
        raise HTTPException(404, f"{spec.kind} {row_id} has no history in your scope")
    return [{"version": r.version, "action": r.action, "at": as_utc(r.at).isoformat(), "actor": r.actor,
             "changes": r.changes, "data": r.data} for r in revisions]
