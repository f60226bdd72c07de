"""The operator's actions on the ingest quarantine, one entrance each for the CLI and the API:
list, retry (write the event to the store again) and drop; the last two are audited."""
from __future__ import annotations

from sqlalchemy.orm import Session

from collectors.quarantine import Quarantine, QuarantinedEvent, retry
from soc_core.audit import record_audit
from soc_core.clock import Clock
from soc_core.event_store import EventStore


def retry_quarantined(session: Session, clock: Clock, actor: str, quarantine: Quarantine, store: EventStore,
                      entry_id: str) -> QuarantinedEvent | None:
    """Retry one entry (see collectors.quarantine.retry) and audit it; the caller commits."""
    entry = quarantine.get(entry_id)
    if entry is None:
        raise KeyError(entry_id)
    again = retry(quarantine, store, entry_id)
    record_audit(session, clock, actor, "ingest.quarantine.retry", "quarantined_event", entry_id, _unit(entry),
                 stored=again is None, reason=again.reason if again else "", origin=entry.origin)
    return again


def drop_quarantined(session: Session, clock: Clock, actor: str, quarantine: Quarantine, entry_id: str) -> bool:
    """Delete one entry for good and audit it (with its reason and the event's id); the caller commits."""
    entry = quarantine.get(entry_id)
    if entry is None or not quarantine.remove(entry_id):
        return False
    event_id = entry.event.get("event.id") if entry.event else None
    record_audit(session, clock, actor, "ingest.quarantine.drop", "quarantined_event", entry_id, _unit(entry),
                 reason=entry.reason, origin=entry.origin, event_id=event_id)
    return True


def _unit(entry: QuarantinedEvent) -> int | None:
    return int(entry.unit_id) if entry.unit_id and entry.unit_id.isdigit() else None
