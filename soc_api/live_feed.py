"""The live feed behind ``GET /api/v1/stream``: one task tails the audit log and fans out to subscribers.

Every change of state already writes one audit entry in its own transaction, so the feed reads only the
audit log (by increasing id, twice a second) and never touches the commands that make the changes.
Each subscriber sees the entries of its own subtree of the org tree; its queue is bounded, and a client
that falls that far behind is dropped (its EventSource reconnects) rather than slowing anyone else.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from playbooks.models import EscalationStep
from soc_core.models import AuditEntry, Incident, Unit
from soc_core.permissions import within

log = logging.getLogger(__name__)

# Escalations of the deadline kind say how much of the handling time has gone; the others are escalations only.
DEADLINE_REASONS = frozenset({"incident.escalation", "incident.overdue"})
ESCALATION_REASONS = DEADLINE_REASONS | {"incident.unacknowledged", "incident.task_overdue"}
SENSOR_ACTIONS = frozenset({"sensor.register", "sensor.revoke"})


@dataclass(frozen=True)
class LiveEvent:
    """One message of the stream: ``type`` is the SSE event name, ``data`` its JSON body."""

    id: int
    type: str
    unit_path: str | None
    data: dict[str, Any]


@dataclass(eq=False)
class Subscriber:
    """One open stream: the subtree it may see (None = everything) and its bounded queue."""

    scope_path: str | None
    queue: asyncio.Queue[LiveEvent | None]
    dropped: bool = False

    def sees(self, event: LiveEvent) -> bool:
        if self.scope_path is None:
            return True
        return event.unit_path is not None and within(event.unit_path, self.scope_path)


@dataclass
class LiveFeed:
    sessions: sessionmaker[Session]
    poll_seconds: float = 0.5  # an indexed read of the newest ids: cheap, and a new incident is on screen within a second
    queue_size: int = 256
    batch: int = 500
    subscribers: set[Subscriber] = field(default_factory=set)
    last_id: int | None = None
    _unit_paths: dict[int, str] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None

    # --- reading the audit log (synchronous: run in a worker thread) ---

    def start_from_now(self) -> None:
        with self.sessions() as session:
            self.last_id = session.scalar(select(func.max(AuditEntry.id))) or 0

    def read_new(self) -> list[LiveEvent]:
        """The live events of the audit entries written since the last read, oldest first."""
        if self.last_id is None:
            self.start_from_now()
        with self.sessions() as session:
            entries = list(session.scalars(
                select(AuditEntry).where(AuditEntry.id > self.last_id).order_by(AuditEntry.id).limit(self.batch)))
            if not entries:
                return []
            self.last_id = entries[-1].id
            incident_ids = {int(e.target_id) for e in entries if e.target_type == "incident" and e.target_id.isdigit()}
            incidents = {i.id: i for i in session.scalars(select(Incident).where(Incident.id.in_(incident_ids)))} if incident_ids else {}
            events: list[LiveEvent] = []
            for entry in entries:
                events.extend(self._events_of(session, entry, incidents))
            return events

    def _unit_path(self, session: Session, unit_id: int | None) -> str | None:
        if unit_id is None:
            return None
        if unit_id not in self._unit_paths:
            self._unit_paths = {unit_id: path for unit_id, path in session.execute(select(Unit.id, Unit.path))}
        return self._unit_paths.get(unit_id)

    def _events_of(self, session: Session, entry: AuditEntry, incidents: dict[int, Incident]) -> list[LiveEvent]:
        path = self._unit_path(session, entry.unit_id)
        base: dict[str, Any] = {"action": entry.action, "at": entry.at.isoformat() + "Z", "unit_id": entry.unit_id}
        if entry.target_type == "incident":
            incident = incidents.get(int(entry.target_id)) if entry.target_id.isdigit() else None
            if incident is None:
                return []
            base["incident"] = {"id": incident.id, "title": incident.title, "grade": incident.grade, "status": incident.status,
                                "unit_name": incident.unit.name}
            if entry.action == "incident.create":
                return [LiveEvent(entry.id, "incident.created", path, base)]
            if entry.action in ESCALATION_REASONS:
                events = [LiveEvent(entry.id, "incident.escalated", path, {**base, "reason": entry.action.split(".", 1)[1]})]
                if entry.action in DEADLINE_REASONS:
                    percent = 100 if entry.action == "incident.overdue" else self._deadline_percent(session, incident.id, entry.detail)
                    events.append(LiveEvent(entry.id, "deadline.warning", path, {**base, "percent": percent}))
                return events
            return [LiveEvent(entry.id, "incident.updated", path, base)]
        if entry.target_type == "notice":
            return [LiveEvent(entry.id, "notice", path, {**base, "notice_id": entry.target_id})]
        check = str(entry.detail.get("check_id", ""))
        if entry.action in SENSOR_ACTIONS or (entry.target_type == "finding" and check.startswith("coverage.")):
            healthy = entry.action in {"finding.resolve", "sensor.register"}
            return [LiveEvent(entry.id, "sensor.health", path, {**base, "healthy": healthy, "subject": entry.detail.get("subject", "")})]
        return []

    @staticmethod
    def _deadline_percent(session: Session, incident_id: int, detail: dict[str, Any]) -> int | None:
        step = session.scalar(select(EscalationStep).where(
            EscalationStep.incident_id == incident_id, EscalationStep.kind == detail.get("kind"), EscalationStep.step == detail.get("step")))
        return round(step.fraction * 100) if step is not None else None

    # --- fan-out (on the event loop) ---

    def publish(self, events: list[LiveEvent]) -> None:
        for subscriber in list(self.subscribers):
            for event in events:
                if subscriber.dropped or not subscriber.sees(event):
                    continue
                try:
                    subscriber.queue.put_nowait(event)
                except asyncio.QueueFull:
                    self._drop(subscriber)

    def _drop(self, subscriber: Subscriber) -> None:
        """A client this far behind is cut off; the sentinel ends its stream at once."""
        subscriber.dropped = True
        self.subscribers.discard(subscriber)
        while not subscriber.queue.empty():
            subscriber.queue.get_nowait()
        subscriber.queue.put_nowait(None)
        log.warning("live stream: a client fell %d events behind and was dropped", self.queue_size)

    @asynccontextmanager
    async def subscribe(self, scope_path: str | None) -> AsyncIterator[Subscriber]:
        subscriber = Subscriber(scope_path, asyncio.Queue(self.queue_size + 1))
        if self._task is None or self._task.done():
            await asyncio.to_thread(self.start_from_now)
            self._task = asyncio.create_task(self._run(), name="live-feed")
        self.subscribers.add(subscriber)
        try:
            yield subscriber
        finally:
            self.subscribers.discard(subscriber)

    async def _run(self) -> None:
        while self.subscribers:
            try:
                self.publish(await asyncio.to_thread(self.read_new))
            except Exception:  # a failed read (database busy, restarting) must not end the feed for everyone
                log.exception("live stream: reading the audit log failed; retrying")
            await asyncio.sleep(self.poll_seconds)
