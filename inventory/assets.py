"""The asset inventory schools file: one spec per kind of row, and versioned create/update/delete.

A ``KindSpec`` says, for one kind (security admins, IP ranges, hosts, services, websites,
information systems, education apps), which columns it has, their Chinese headers (the
spreadsheet template uses them), how each raw value is parsed (``inventory.cells``), which
columns identify a row within a unit, and the cross-column rules. Forms, the JSON API and the
spreadsheet import all go through ``parse_values``, so a value is judged the same way everywhere.
Every change writes an ``AssetRevision`` and an audit entry in the caller's transaction.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from inventory import cells
from inventory.models import (AssetRevision, EducationApp, Host, InformationSystem, InventoryRow, IpRange, SecurityAdmin, Service,
                              Website)
from soc_core.audit import record_audit
from soc_core.clock import Clock, to_db
from soc_core.errors import EdusocError
from soc_core.models import Base, Unit

FILING_STATUSES = {"ungraded": "未定级", "graded": "已定级", "filed": "已备案", "changed": "变更", "withdrawn": "撤销"}


@dataclass(frozen=True)
class Column:
    name: str            # attribute of the model and key in the JSON API
    header: str          # Chinese column header in the spreadsheet template and forms
    parse: cells.Parser
    required: bool = False
    hint: str = ""       # example / explanation shown in the template


@dataclass(frozen=True)
class FieldError:
    column: str   # the Chinese header
    reason: str   # Chinese


class InventoryError(EdusocError, ValueError):
    """A row that cannot be filed; ``errors`` name each column and why."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.column}: {e.reason}" for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class KindSpec:
    kind: str
    label: str                                   # Chinese name, also the template's sheet name
    model: type[InventoryRow]
    columns: tuple[Column, ...]
    key: tuple[str, ...]                         # identifies a row within its unit (import upserts by it)
    check: Callable[[dict[str, Any]], list[FieldError]] = field(default=lambda values: [])

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def header_of(self, name: str) -> str:
        return self.column(name).header


def _system_rules(values: dict[str, Any]) -> list[FieldError]:
    """Cross-column rules of an information system; also derives the final level."""
    errors: list[FieldError] = []
    biz, service = values.get("biz_level"), values.get("service_level")
    if (biz is None) != (service is None):
        errors.append(FieldError("业务信息等级" if biz is None else "系统服务等级",
                                 "业务信息等级和系统服务等级须同时填写（最终等级取两者较高者）"))
    values["level"] = max(biz, service) if biz is not None and service is not None else None
    status = values.get("filing_status") or "ungraded"
    if status != "ungraded" and values["level"] is None:
        errors.append(FieldError("备案状态", f"状态为“{FILING_STATUSES[status]}”时须填写定级等级"))
    if status == "ungraded" and values["level"] is not None:
        values["filing_status"] = "graded"
    if status in ("filed", "changed"):
        if not values.get("filing_cert_no"):
            errors.append(FieldError("备案证明编号", "已备案的系统须填写备案证明编号"))
        if values.get("filed_on") is None:
            errors.append(FieldError("备案日期", "已备案的系统须填写备案日期"))
    elif values.get("filing_cert_no"):
        errors.append(FieldError("备案状态", "填写了备案证明编号，备案状态应为“已备案”"))
    graded_on, filed_on = values.get("graded_on"), values.get("filed_on")
    if graded_on and filed_on and filed_on < graded_on:
        errors.append(FieldError("备案日期", "备案日期早于定级日期"))
    return errors


KINDS: dict[str, KindSpec] = {spec.kind: spec for spec in (
    KindSpec("security_admin", "安全管理员", SecurityAdmin, (
        Column("name", "姓名", cells.text(50), required=True),
        Column("post", "职务", cells.text(100), hint="如 信息中心主任"),
        Column("phone", "电话", cells.phone, required=True),
        Column("full_time", "专兼职", cells.employment, required=True, hint="专职 / 兼职"),
    ), key=("name", "phone")),
    KindSpec("ip_range", "IP地址段", IpRange, (
        Column("cidr", "网段", cells.cidr, required=True, hint="10.1.2.0/24"),
        Column("purpose", "用途", cells.text(200)),
    ), key=("cidr",)),
    KindSpec("host", "主机", Host, (
        Column("ip", "IP地址", cells.ip, required=True),
        Column("hostname", "主机名", cells.text(200)),
        Column("os", "操作系统", cells.text(100)),
        Column("purpose", "用途", cells.text(200)),
    ), key=("ip",)),
    KindSpec("service", "服务", Service, (
        Column("ip", "IP地址", cells.ip, required=True),
        Column("port", "端口", cells.port, required=True),
        Column("transport", "协议", cells.transport, hint="tcp / udp"),
        Column("name", "服务名称", cells.text(100), hint="http、ssh、mysql"),
    ), key=("ip", "port", "transport")),
    KindSpec("website", "网站", Website, (
        Column("domain", "域名", cells.domain, required=True),
        Column("ip", "服务器IP", lambda raw: cells.ip(raw) if not cells.is_blank(raw) else ""),
        Column("icp_no", "ICP备案号", cells.text(64), hint="如 粤ICP备12345678号"),
        Column("psb_filing_no", "公安联网备案号", cells.text(64)),
        Column("centrally_hosted", "是否集约化部署", cells.flag, hint="是 / 否（部署在统一网站平台）"),
    ), key=("domain",)),
    KindSpec("information_system", "信息系统", InformationSystem, (
        Column("name", "系统名称", cells.text(200), required=True),
        Column("addresses", "IP/域名", cells.addresses, hint="多个用逗号分隔"),
        Column("biz_level", "业务信息等级", cells.level, hint="1–5 或 第三级"),
        Column("service_level", "系统服务等级", cells.level),
        Column("filing_status", "备案状态", cells.choice(FILING_STATUSES, "备案状态", default="ungraded")),
        Column("filing_cert_no", "备案证明编号", cells.filing_cert_no, hint="11位数字-5位数字"),
        Column("graded_on", "定级日期", cells.day),
        Column("filed_on", "备案日期", cells.day),
        Column("assessed_on", "最近测评日期", cells.day),
        Column("assessor", "测评机构", cells.text(200)),
        Column("is_cii", "是否关键信息基础设施", cells.flag),
    ), key=("name",), check=_system_rules),
    KindSpec("education_app", "教育APP", EducationApp, (
        Column("name", "APP名称", cells.text(200), required=True),
        Column("provider", "提供者", cells.text(200)),
        Column("provider_filing_no", "提供者备案号", cells.text(64)),
        Column("user_filing_no", "使用者备案号", cells.text(64), hint="学校的使用者备案"),
        Column("domains", "域名", cells.domains, hint="APP 访问的域名，逗号分隔"),
    ), key=("name",)),
)}


def spec_for(kind: str) -> KindSpec:
    try:
        return KINDS[kind]
    except KeyError:
        raise InventoryError([FieldError("类别", f"未知的资产类别“{kind}”，应为 {', '.join(KINDS)} 之一")]) from None


def parse_values(spec: KindSpec, raw: Mapping[str, Any], base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Parse ``raw`` (by column name) over ``base`` (the row as it stands); raise InventoryError with every problem."""
    unknown = set(raw) - {c.name for c in spec.columns}
    errors = [FieldError(name, "没有这一列") for name in sorted(unknown)]
    values: dict[str, Any] = dict(base or {})
    for column in spec.columns:
        if column.name not in raw and column.name in values:
            continue
        value = raw.get(column.name)
        if column.required and cells.is_blank(value):
            errors.append(FieldError(column.header, "必填，不能为空"))
            continue
        try:
            values[column.name] = column.parse(value)
        except cells.CellError as exc:
            errors.append(FieldError(column.header, str(exc)))
    if not errors:
        errors = spec.check(values)
    if errors:
        raise InventoryError(errors)
    return values


def row_values(spec: KindSpec, row: Base) -> dict[str, Any]:
    values = {c.name: getattr(row, c.name) for c in spec.columns}
    if spec.kind == "information_system":
        values["level"] = row.level  # type: ignore[attr-defined]
    return values


def _jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in values.items()}


def _revise(session: Session, clock: Clock, actor: str, spec: KindSpec, row: Base, action: str,
            before: dict[str, Any] | None) -> AssetRevision:
    after = None if action == "delete" else _jsonable(row_values(spec, row))
    old = _jsonable(before) if before is not None else {}
    changes = {k: [old.get(k), (after or {}).get(k)] for k in set(old) | set(after or {})
               if old.get(k) != (after or {}).get(k)}
    # Rows reach here typed as Base: SQLAlchemy types a select() of KindSpec.model's union of classes as their Base.
    owned: InventoryRow = row  # type: ignore[assignment]
    latest: int | None = None if action == "create" else session.scalar(select(func.max(AssetRevision.version)).where(
        AssetRevision.kind == spec.kind, AssetRevision.row_id == owned.id))
    version = 1 if action == "create" else (latest or 0) + 1
    revision = AssetRevision(kind=spec.kind, row_id=owned.id, unit_id=owned.unit_id, version=version, action=action,
                             at=to_db(clock.now()), actor=actor, data=after, changes=changes)
    session.add(revision)
    record_audit(session, clock, actor, f"asset.{action}", spec.kind, row.id, row.unit_id,  # type: ignore[attr-defined]
                 version=version, changes=changes)
    return revision


def find_by_key(session: Session, spec: KindSpec, unit_id: int, values: Mapping[str, Any]) -> Base | None:
    query = select(spec.model).where(spec.model.unit_id == unit_id)
    for name in spec.key:
        query = query.where(getattr(spec.model, name) == values[name])
    return session.scalar(query)


def create_row(session: Session, clock: Clock, actor: str, spec: KindSpec, unit: Unit, raw: Mapping[str, Any],
               known_new: bool = False) -> InventoryRow:
    """File a new row; ``known_new`` skips the duplicate-key lookup when the caller has just done it."""
    values = parse_values(spec, raw)
    if not known_new and find_by_key(session, spec, unit.id, values) is not None:
        key = "、".join(f"{spec.header_of(k)}“{values[k]}”" for k in spec.key)
        raise InventoryError([FieldError(spec.header_of(spec.key[0]), f"本单位已登记{key}的{spec.label}")])
    row = spec.model(unit_id=unit.id, **values)
    session.add(row)
    session.flush()
    _revise(session, clock, actor, spec, row, "create", None)
    return row


def update_row(session: Session, clock: Clock, actor: str, spec: KindSpec, row: Base, raw: Mapping[str, Any]) -> Base:
    before = row_values(spec, row)
    values = parse_values(spec, raw, before)
    other = find_by_key(session, spec, row.unit_id, values)  # type: ignore[attr-defined]
    if other is not None and other is not row:
        raise InventoryError([FieldError(spec.header_of(spec.key[0]), f"与本单位另一条{spec.label}重复")])
    if values == before:
        return row
    for name, value in values.items():
        setattr(row, name, value)
    session.flush()
    _revise(session, clock, actor, spec, row, "update", before)
    return row


def delete_row(session: Session, clock: Clock, actor: str, spec: KindSpec, row: Base) -> None:
    before = row_values(spec, row)
    _revise(session, clock, actor, spec, row, "delete", before)
    session.delete(row)
    session.flush()


def rows_of(session: Session, spec: KindSpec, unit_ids: Iterable[int] | Any) -> list[InventoryRow]:
    """Rows of one kind in the given units (ids or a select of ids), in filing order."""
    model = spec.model
    return list(session.scalars(select(model).where(model.unit_id.in_(unit_ids)).order_by(model.unit_id, model.id)))


def history(session: Session, kind: str, row_id: int) -> list[AssetRevision]:
    return list(session.scalars(select(AssetRevision).where(
        AssetRevision.kind == kind, AssetRevision.row_id == row_id).order_by(AssetRevision.version)))
