"""Detection coverage of replayed scenarios in VECTR's vocabulary, read back from the EventStore.

Alerted: an alert fired on the scenario's traffic; Logged: its events were stored but no alert fired; None: nothing of
it was stored. A scenario's traffic is what lies in its time slot with the red team's address on either side.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from drills.scenarios import PlacedScenario
from soc_core.event_store import EventQuery, EventStore
from soc_core.events import parse_timestamp

Outcome = Literal["Alerted", "Logged", "None"]
OUTCOME_ZH = {"Alerted": "已告警", "Logged": "仅记录", "None": "未发现"}
_RANK = {"None": 0, "Logged": 1, "Alerted": 2}
_PAGE = 1000


@dataclass(frozen=True)
class ScenarioCoverage:
    scenario: str
    title: str
    techniques: tuple[str, ...]
    attacker: str
    victim: str
    unit: str  # the unit the stored events were attributed to ("" when nothing was stored)
    outcome: Outcome
    rules: tuple[str, ...]  # titles of the rules that fired, first alert first
    events: int
    alerts: int
    time_to_detect_seconds: float | None  # first alert's event time minus the scenario's first packet

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class UnitCoverage:
    unit: str
    scenarios: int
    alerted: int
    logged: int
    none: int

    @property
    def alerted_ratio(self) -> float:
        return self.alerted / self.scenarios if self.scenarios else 0.0


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


def _search_all(store: EventStore, query: EventQuery) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = store.search(EventQuery(query.start, query.end, query.filters, query.unit_ids, sort="@timestamp",
                                       descending=False, offset=offset, limit=_PAGE))
        found += page.events
        offset += len(page.events)
        if not page.events or offset >= page.total:
            return found


def _touching(store: EventStore, placed: PlacedScenario, **filters: str) -> list[dict[str, Any]]:
    """Events in the scenario's slot with its attacker on either side, each once."""
    by_id: dict[str, dict[str, Any]] = {}
    for side in ("source.ip", "destination.ip"):
        query = EventQuery(start=_utc(placed.start), end=_utc(placed.end), filters={side: placed.attacker, **filters})
        for event in _search_all(store, query):
            by_id[event["event.id"]] = event
    return sorted(by_id.values(), key=lambda e: (e["@timestamp"], e["event.id"]))


def measure(store: EventStore, placed: Iterable[PlacedScenario]) -> list[ScenarioCoverage]:
    """The outcome of every replayed scenario, from what the store holds."""
    rows: list[ScenarioCoverage] = []
    for scenario in placed:
        stored = _touching(store, scenario)
        alerts = [event for event in stored if event.get("event.kind") == "alert"]
        events = [event for event in stored if event.get("event.kind") != "alert"]
        outcome: Outcome = "Alerted" if alerts else "Logged" if events else "None"
        rules = tuple(dict.fromkeys(str(alert.get("rule.name", alert.get("rule.id", ""))) for alert in alerts))
        detect = None
        if alerts:
            detect = round(min(parse_timestamp(a["@timestamp"]).timestamp() for a in alerts) - scenario.start, 3)
        unit = str(events[0].get("organization.name", "")) if events else ""
        rows.append(ScenarioCoverage(scenario.scenario.name, scenario.scenario.title, scenario.scenario.techniques,
                                     scenario.attacker, scenario.victim, unit, outcome, rules, len(events), len(alerts),
                                     detect))
    return rows


def by_unit(rows: Sequence[ScenarioCoverage]) -> list[UnitCoverage]:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"Alerted": 0, "Logged": 0, "None": 0})
    for row in rows:
        counts[row.unit or "（未归属）"][row.outcome] += 1
    return [UnitCoverage(unit, sum(c.values()), c["Alerted"], c["Logged"], c["None"]) for unit, c in sorted(counts.items())]


def heatmap(rows: Sequence[ScenarioCoverage]) -> dict[str, dict[str, Any]]:
    """ATT&CK technique → the best outcome over the scenarios that exercise it, and those scenarios."""
    cells: dict[str, dict[str, Any]] = {}
    for row in rows:
        for technique in row.techniques:
            cell = cells.setdefault(technique, {"outcome": "None", "scenarios": []})
            cell["scenarios"].append(f"{row.scenario}:{row.outcome}")
            if _RANK[row.outcome] > _RANK[cell["outcome"]]:
                cell["outcome"] = row.outcome
    return dict(sorted(cells.items()))


def summary(rows: Sequence[ScenarioCoverage]) -> dict[str, Any]:
    """The one JSON line of a replay: counts, per-unit figures, the heatmap and every row."""
    return {
        "scenarios": len(rows),
        "alerted": sum(r.outcome == "Alerted" for r in rows),
        "logged": sum(r.outcome == "Logged" for r in rows),
        "none": sum(r.outcome == "None" for r in rows),
        "units": [asdict(u) | {"alerted_ratio": round(u.alerted_ratio, 4)} for u in by_unit(rows)],
        "heatmap": heatmap(rows),
        "results": [r.as_dict() for r in rows],
    }
