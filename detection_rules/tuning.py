"""Tuning a running engine: rules switched off per unit, and dry runs of a rule on pasted events.

``RuleSwitches`` is the set of (rule id, unit code) pairs switched off; the engine consults it
for every alert it would raise (the unit is the event's ``organization.id``), so a switch takes
effect on the next event without reloading anything. The case store keeps the switches
(``soc_core.models_rules``); the API changes both.
"""
from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detection_rules.engine import DetectionEngine, RuleError, load_ruleset
from detection_rules.windows_events import flatten_windows_event, is_windows_event
from soc_core.events import EventError, validate_event

MAX_DRY_RUN_EVENTS = 1000
MAX_RULE_BYTES = 256 * 1024


class RuleSwitches:
    """Rules switched off for some units; thread-safe, read on every alert."""

    def __init__(self, disabled: Iterable[tuple[str, str]] = ()) -> None:
        self._disabled: frozenset[tuple[str, str]] = frozenset(disabled)
        self._lock = threading.Lock()

    def set(self, rule_id: str, unit: str, enabled: bool) -> None:
        with self._lock:
            pair = (rule_id, unit)
            self._disabled = self._disabled - {pair} if enabled else self._disabled | {pair}

    def enabled(self, rule_id: str, unit: str | None) -> bool:
        return unit is None or (rule_id, unit) not in self._disabled

    def disabled_units(self, rule_id: str) -> list[str]:
        return sorted(unit for rule, unit in self._disabled if rule == rule_id)

    def __len__(self) -> int:
        return len(self._disabled)


@dataclass
class DryRun:
    alerts: list[dict[str, Any]] = field(default_factory=list)
    rule_errors: list[str] = field(default_factory=list)
    event_errors: list[str] = field(default_factory=list)
    events: int = 0
    rules: int = 0


def dry_run(rule_text: str, events: list[object], pipeline: str = "ecs") -> DryRun:
    """Compile ``rule_text`` (one or more Sigma documents) and run it over ``events``; nothing is stored."""
    result = DryRun()
    if len(rule_text.encode("utf-8")) > MAX_RULE_BYTES:
        result.rule_errors.append(f"rule text is larger than {MAX_RULE_BYTES} bytes")
        return result
    with tempfile.TemporaryDirectory(prefix="edusoc-dry-run-") as folder:
        path = Path(folder) / "rule.yml"
        path.write_text(rule_text, encoding="utf-8")
        ruleset = load_ruleset([path], pipeline=pipeline)
    result.rule_errors = [_error_text(error) for error in ruleset.errors]
    result.rules = len(ruleset.rules)
    engine = DetectionEngine(ruleset)
    for number, raw in enumerate(events[:MAX_DRY_RUN_EVENTS], start=1):
        try:
            if pipeline == "ecs":
                event = validate_event(raw)
            elif is_windows_event(raw):
                event = flatten_windows_event(raw)  # type: ignore[arg-type]
            elif isinstance(raw, dict):
                event = raw
            else:
                raise EventError(f"an event must be a JSON object, got {type(raw).__name__}")
            alerts = engine.process(event)
        except EventError as error:
            result.event_errors.append(f"event {number}: {error.reason}")
            continue
        result.events += 1
        result.alerts.extend(alert.to_dict() for alert in alerts)
    if len(events) > MAX_DRY_RUN_EVENTS:
        result.event_errors.append(f"only the first {MAX_DRY_RUN_EVENTS} events were run")
    return result


def parse_pasted_events(text: str) -> list[object]:
    """Events pasted as a JSON array or as NDJSON lines."""
    text = text.strip()
    if text.startswith("["):
        parsed = json.loads(text)
        return parsed if isinstance(parsed, list) else [parsed]
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _error_text(error: RuleError) -> str:
    return f"line {error.line}: {error.reason}" if error.line else error.reason
