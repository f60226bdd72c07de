"""What school admins file: security admins, the asset inventory, information systems with
their MLPS (等级保护) grading and filing, and the education apps in use (DOMAIN.md §2.6, §3, §8).

Every inventory row belongs to a unit; every change writes an ``AssetRevision`` (who, when,
the row as it stood afterwards) so a regulator can read the history, besides the audit log.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from soc_core.models import Base


class SecurityAdmin(Base):
    """A named 专职/兼职 network security admin; every school names at least one (DOMAIN.md §8)."""

    __tablename__ = "security_admins"
    __table_args__ = (UniqueConstraint("unit_id", "name", "phone"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    name: Mapped[str] = mapped_column(String(50))
    post: Mapped[str] = mapped_column(String(100), default="")
    phone: Mapped[str] = mapped_column(String(32))
    full_time: Mapped[bool] = mapped_column(default=False)


class IpRange(Base):
    __tablename__ = "ip_ranges"
    __table_args__ = (UniqueConstraint("unit_id", "cidr"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    cidr: Mapped[str] = mapped_column(String(50))  # normalised network, e.g. 10.1.2.0/24
    purpose: Mapped[str] = mapped_column(String(200), default="")


class Host(Base):
    __tablename__ = "hosts"
    __table_args__ = (UniqueConstraint("unit_id", "ip"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    ip: Mapped[str] = mapped_column(String(45))
    hostname: Mapped[str] = mapped_column(String(200), default="")
    os: Mapped[str] = mapped_column(String(100), default="")
    purpose: Mapped[str] = mapped_column(String(200), default="")


class Service(Base):
    """A listening service on a host (address, transport, port)."""

    __tablename__ = "services"
    __table_args__ = (UniqueConstraint("unit_id", "ip", "port", "transport"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    ip: Mapped[str] = mapped_column(String(45))
    port: Mapped[int]
    transport: Mapped[str] = mapped_column(String(8), default="tcp")
    name: Mapped[str] = mapped_column(String(100), default="")  # http, ssh, mysql, ...


class Website(Base):
    """A website the unit runs, with its ICP and 公安联网 filing numbers (DOMAIN.md §8 网站集中管理)."""

    __tablename__ = "websites"
    __table_args__ = (UniqueConstraint("unit_id", "domain"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    domain: Mapped[str] = mapped_column(String(253))
    ip: Mapped[str] = mapped_column(String(45), default="")  # where it is served from
    icp_no: Mapped[str] = mapped_column(String(64), default="")
    psb_filing_no: Mapped[str] = mapped_column(String(64), default="")
    centrally_hosted: Mapped[bool] = mapped_column(default=False)


class InformationSystem(Base):
    """An information system with its MLPS grading, filing and assessment (DOMAIN.md §2.3, §2.6)."""

    __tablename__ = "information_systems"
    __table_args__ = (UniqueConstraint("unit_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # Addresses and domains the system answers on (comma separated IPs, CIDRs or names).
    addresses: Mapped[str] = mapped_column(Text, default="")
    biz_level: Mapped[int | None]       # 业务信息安全保护等级 1..5
    service_level: Mapped[int | None]   # 系统服务安全保护等级 1..5
    level: Mapped[int | None]           # final level = the higher of the two (GB/T 22240-2020)
    # 未定级 ungraded / 已定级 graded / 已备案 filed / 变更 changed / 撤销 withdrawn (DOMAIN.md §2.6)
    filing_status: Mapped[str] = mapped_column(String(16), default="ungraded")
    filing_cert_no: Mapped[str] = mapped_column(String(17), default="")  # 备案证明编号 \d{11}-\d{5}
    graded_on: Mapped[date | None]
    filed_on: Mapped[date | None]
    assessed_on: Mapped[date | None]
    assessor: Mapped[str] = mapped_column(String(200), default="")
    is_cii: Mapped[bool] = mapped_column(default=False)


class EducationApp(Base):
    """An education app the unit uses: the provider's filing and the school's user filing (DOMAIN.md §3)."""

    __tablename__ = "education_apps"
    __table_args__ = (UniqueConstraint("unit_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(200), default="")
    provider_filing_no: Mapped[str] = mapped_column(String(64), default="")  # opaque (DOMAIN.md §3)
    user_filing_no: Mapped[str] = mapped_column(String(64), default="")      # the school's 使用者备案
    domains: Mapped[str] = mapped_column(Text, default="")                     # comma separated


class AssetRevision(Base):
    """One version of one inventory row: who changed it, when, and the row afterwards (None when deleted)."""

    __tablename__ = "asset_revisions"
    __table_args__ = (Index("ix_asset_revisions_row", "kind", "row_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    row_id: Mapped[int]
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    version: Mapped[int]
    action: Mapped[str] = mapped_column(String(16))  # create | update | delete
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    changes: Mapped[dict[str, Any]] = mapped_column(default=dict)  # field -> [before, after]


class FiledApp(Base):
    """An entry of the national education-app filing list (教育APP备案), imported from its CSV export."""

    __tablename__ = "filed_apps"

    id: Mapped[int] = mapped_column(primary_key=True)
    filing_no: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    provider: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16))  # valid | revoked | blacklisted
    domains: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime]


class Finding(Base):
    """A result of a scheduled check (MLPS, app filing, discovery, coverage); may become a notice.

    One row per (check_id, unit, subject) while the condition holds; ``resolved_at`` is set when a
    later run no longer sees it.
    """

    __tablename__ = "findings"
    __table_args__ = (Index("ix_findings_key", "check_id", "unit_id", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    check_id: Mapped[str] = mapped_column(String(48))  # e.g. mlps.unfiled, app.unfiled_in_use
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    subject: Mapped[str] = mapped_column(String(300))
    priority: Mapped[str] = mapped_column(String(8))  # high | medium | low
    message: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None] = mapped_column(index=True)


# One filed inventory row of any kind: each is owned by a unit (unit_id) and has an id.
InventoryRow = SecurityAdmin | IpRange | Host | Service | Website | InformationSystem | EducationApp
