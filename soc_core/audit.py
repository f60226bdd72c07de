"""The audit log: one call per change of state, in the same transaction as the change, hash-chained.

Tamper evidence (GB/T 22239-2019 L3 §8.1.4.3 c 审计记录保护): each entry stores the SHA-256 of the previous
entry's hash and its own content, so editing or deleting a row breaks the chain at that row and
``verify_chain`` names it. The entry is inserted first (which takes SQLite's write lock and fixes its id),
then linked to the entry just before it, so two writers cannot fork the chain.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from soc_core.clock import Clock, to_db
from soc_core.models import AuditEntry

GENESIS = "0" * 64
MIN_RETENTION_DAYS = 184  # six calendar months at most (DOMAIN.md §2.1), never less


def record_audit(
    session: Session,
    clock: Clock,
    actor: str,
    action: str,
    target_type: str,
    target_id: object,
    unit_id: int | None = None,
    **detail: Any,
) -> AuditEntry:
    entry = AuditEntry(
        at=to_db(clock.now()),
        actor=actor[:64],
        action=action,
        target_type=target_type,
        target_id=str(target_id)[:64],
        unit_id=unit_id,
        detail=detail,
    )
    session.add(entry)
    session.flush()
    previous = session.scalar(select(AuditEntry.hash).where(AuditEntry.id < entry.id).order_by(AuditEntry.id.desc()).limit(1))
    entry.prev_hash = previous or GENESIS
    entry.hash = entry_hash(entry)
    return entry


def entry_hash(entry: AuditEntry) -> str:
    """SHA-256 over the previous hash and the entry's content, as canonical JSON."""
    content = [entry.prev_hash, entry.id, _instant(entry.at), entry.actor, entry.action, entry.target_type, entry.target_id,
               entry.unit_id, entry.detail]
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _instant(at: datetime) -> str:
    return at.replace(tzinfo=None).isoformat(timespec="microseconds")


@dataclass
class ChainBreak:
    entry_id: int
    reason: str


@dataclass
class ChainReport:
    checked: int = 0
    unchained: int = 0  # entries written before the chain existed (migration 0040)
    first_id: int | None = None
    last_id: int | None = None
    breaks: list[ChainBreak] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaks


def verify_chain(session: Session, max_breaks: int = 100) -> ChainReport:
    """Recompute the chain from the oldest kept entry; every entry whose content or link does not match is named."""
    report = ChainReport()
    expected: str | None = None  # the first chained entry is the anchor: older ones may have been pruned
    for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.id).execution_options(yield_per=1000)):
        if entry.hash is None:
            if expected is None:
                report.unchained += 1
                continue
            report.breaks.append(ChainBreak(entry.id, "没有哈希值：链中插入了条目 / no hash: inserted into the chain"))
        else:
            report.checked += 1
            report.first_id = report.first_id or entry.id
            report.last_id = entry.id
            if expected is not None and entry.prev_hash != expected:
                report.breaks.append(ChainBreak(entry.id, "与前一条目不衔接：前一条目被删除或改动 / "
                                                          "does not follow the previous entry: it was deleted or changed"))
            elif entry.hash != entry_hash(entry):
                report.breaks.append(ChainBreak(entry.id, "内容与哈希不符：条目被改动 / content does not match its hash: edited"))
            expected = entry.hash
        if len(report.breaks) >= max_breaks:
            break
    return report


def prune_audit(session: Session, clock: Clock, retention_days: int, actor: str = "system") -> int:
    """Delete the oldest entries, up to the first one younger than ``retention_days`` (never fewer than 184): only a
    prefix of the chain goes, so what is kept still verifies. The pruning itself is audited."""
    days = max(retention_days, MIN_RETENTION_DAYS)
    cutoff = to_db(clock.now() - timedelta(days=days))
    first_kept = session.scalar(select(func.min(AuditEntry.id)).where(AuditEntry.at >= cutoff))
    older = AuditEntry.id < first_kept if first_kept is not None else AuditEntry.at < cutoff
    count = session.scalar(select(func.count()).select_from(AuditEntry).where(older)) or 0
    if count:
        session.execute(delete(AuditEntry).where(older))
        record_audit(session, clock, actor, "audit.prune", "audit_log", "-", deleted=count, older_than=cutoff.isoformat(),
                     retention_days=days)
    return count
