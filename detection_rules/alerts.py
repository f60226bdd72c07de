"""An alert: one rule matched one event (or a correlation crossed its threshold)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from soc_core.events import EventError, stable_event_id, validate_event

LEVELS = ("informational", "low", "medium", "high", "critical")
SEVERITY_BY_LEVEL = {level: number for number, level in enumerate(LEVELS, start=1)}

# Context copied from the triggering event so the duty staff see who/what without a lookup.
SUMMARY_FIELDS = (
    "source.ip",
    "source.port",
    "destination.ip",
    "destination.port",
    "network.transport",
    "url.original",
    "url.domain",
    "http.request.method",
    "http.response.status_code",
    "dns.question.name",
    "dns.question.type",
    "user_agent.original",
    "event.dataset",
    "drill.id",  # a red-blue exercise's traffic: its alert (and incident) is a drill one
)

MAX_ALERT_EVENT_IDS = 100


def alert_id(rule_id: str, event_ids: tuple[str, ...]) -> str:
    """Stable: the same rule over the same events always yields the same id."""
    return stable_event_id("alert", rule_id, *event_ids)


def summarize(event: dict[str, Any]) -> dict[str, object]:
    """The context fields of ``event`` that are present."""
    summary: dict[str, object] = {}
    for name in SUMMARY_FIELDS:
        value = event.get(name)
        if value is None or value == "":
            continue
        summary[name] = value
    return summary


@dataclass(frozen=True)
class Alert:
    id: str
    rule_id: str
    rule_title: str
    level: str
    tags: tuple[str, ...]
    timestamp: str
    event_ids: tuple[str, ...]
    unit_id: str | None
    matches: dict[str, object] = field(hash=False)
    summary: dict[str, object] = field(hash=False)
    rule_title_zh: str | None = None  # the rule's Chinese name (Sigma custom attribute title_zh); the UI shows it first

    @property
    def severity(self) -> int:
        """1 (informational) .. 5 (critical)."""
        return SEVERITY_BY_LEVEL.get(self.level, SEVERITY_BY_LEVEL["medium"])

    def to_event(self) -> dict[str, object]:
        """This alert as an ECS event (event.kind "alert") that passes ``validate_event``."""
        event: dict[str, Any] = {
            "@timestamp": self.timestamp,
            "event.id": self.id,
            "event.kind": "alert",
            "event.dataset": "edusoc.alert",
            "event.severity": self.severity,
            "rule.id": self.rule_id,
            "rule.name": self.rule_title,
            "message": self.rule_title,
        }
        if self.tags:
            event["tags"] = list(self.tags)
        if self.unit_id:
            event["organization.id"] = self.unit_id
        for name, value in self.summary.items():
            # the triggering event's own dataset would overwrite edusoc.alert
            if name != "event.dataset":
                event.setdefault(name, value)
        # A summary value copied from an unvalidated event may not fit the schema (an
        # unparsable IP, say); the alert is still worth raising, so drop just that field.
        while True:
            try:
                return validate_event(event)
            except EventError as error:
                if error.field is None or error.field not in self.summary or error.field not in event:
                    raise
                del event[error.field]

    def to_dict(self) -> dict[str, object]:
        """JSON-able form, one line of NDJSON output."""
        return {
            "id": self.id,
            "rule_id": self.rule_id,
            "rule_title": self.rule_title,
            "rule_title_zh": self.rule_title_zh,
            "level": self.level,
            "severity": self.severity,
            "tags": list(self.tags),
            "timestamp": self.timestamp,
            "event_ids": list(self.event_ids),
            "unit_id": self.unit_id,
            "matches": _jsonable(self.matches),
            "summary": _jsonable(self.summary),
        }


def _jsonable(value: object) -> Any:
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(item) for item in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
