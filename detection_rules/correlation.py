"""Streaming evaluation of Sigma ``event_count`` and ``value_count`` correlations over event time.

Per group (the ``group-by`` values) a sliding window of ``timespan`` seconds over
``@timestamp`` holds the matching events (event_count) or the distinct values of the counted
field with when each was last seen (value_count). When the condition first holds, the group
fires once and then stays quiet for one timespan while it keeps counting: a scan that goes on
for ten minutes yields one alert per timespan, not one per further event.

State is bounded: at most ``max_groups`` groups (expired ones are swept first, then the least
recently seen), at most ``max_values`` remembered entries per group, and at most
``MAX_ALERT_EVENT_IDS`` event ids per alert. Events older than the group's window are ignored.
"""
from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Literal

from detection_rules.alerts import MAX_ALERT_EVENT_IDS

CorrelationKind = Literal["event_count", "value_count"]


@dataclass(frozen=True)
class CorrelationSpec:
    """What to count, per which group, over which timespan, and the threshold."""

    kind: CorrelationKind
    group_by: tuple[str, ...]
    timespan_seconds: int
    operator: Literal["gte", "gt"]
    threshold: int
    field: str | None = None  # the counted field of value_count

    def reached(self, count: int) -> bool:
        return count >= self.threshold if self.operator == "gte" else count > self.threshold

    @property
    def entries_needed(self) -> int:
        """Entries a group must remember to ever reach the threshold."""
        return self.threshold if self.operator == "gte" else self.threshold + 1


@dataclass(frozen=True)
class Crossing:
    """A group crossed the threshold with the event just observed."""

    group: dict[str, object]
    count: int
    event_ids: tuple[str, ...]


@dataclass
class _Group:
    last_seen: float = 0.0
    quiet_until: float = float("-inf")
    events: deque[tuple[float, str]] = field(default_factory=deque)  # (time, event id), oldest first
    values: OrderedDict[object, float] = field(default_factory=OrderedDict)  # value → last seen


def _hashable(value: object) -> object:
    if isinstance(value, list):
        return tuple(_hashable(item) for item in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), _hashable(v)) for k, v in value.items()))
    return value


class CorrelationWindow:
    """The mutable state of one correlation rule."""

    def __init__(self, spec: CorrelationSpec, *, max_groups: int = 10_000, max_values: int = 10_000) -> None:
        if spec.entries_needed > max_values:
            raise ValueError(
                f"threshold {spec.threshold} needs more than max_values={max_values} remembered entries per group"
            )
        self.spec = spec
        self.max_groups = max_groups
        self.max_values = max_values
        self.groups: OrderedDict[tuple[object, ...], _Group] = OrderedDict()
        self.evicted_groups = 0
        self.now = float("-inf")

    def observe(self, when: float, event_id: str, event: dict[str, Any]) -> Crossing | None:
        """Count one event that matched a referenced rule; return a Crossing if the group fires now."""
        spec = self.spec
        key_values = [event.get(name) for name in spec.group_by]
        if any(value is None for value in key_values):
            return None  # an event without the group-by fields cannot be grouped
        counted = None
        if spec.kind == "value_count":
            counted = event.get(spec.field) if spec.field else None
            if counted is None:
                return None
            counted = _hashable(counted)
        key = tuple(_hashable(value) for value in key_values)

        self.now = max(self.now, when)
        group = self.groups.get(key)
        if group is None:
            group = _Group(last_seen=when)
            self.groups[key] = group
            if len(self.groups) > self.max_groups:
                self._shrink()
        else:
            self.groups.move_to_end(key)
        horizon = max(group.last_seen, when) - spec.timespan_seconds
        if when < horizon:
            return None  # late event, outside this group's window
        group.last_seen = max(group.last_seen, when)

        group.events.append((when, event_id))
        if spec.kind == "value_count":
            previous = group.values.pop(counted, None)
            group.values[counted] = max(when, previous) if previous is not None else when
        self._expire(group, horizon)

        count = len(group.values) if spec.kind == "value_count" else len(group.events)
        if not spec.reached(count) or when < group.quiet_until:
            return None
        group.quiet_until = when + spec.timespan_seconds
        ids = tuple(event_id for _, event_id in list(group.events)[-MAX_ALERT_EVENT_IDS:])
        return Crossing(dict(zip(spec.group_by, key_values)), count, ids)

    def _expire(self, group: _Group, horizon: float) -> None:
        events = group.events
        while events and events[0][0] < horizon:
            events.popleft()
        if self.spec.kind == "value_count":
            values = group.values
            while values:
                oldest_value, seen = next(iter(values.items()))
                if seen >= horizon and len(values) <= self.max_values:
                    break
                values.popitem(last=False)
            # only ids are needed for value_count alerts
            while len(events) > MAX_ALERT_EVENT_IDS:
                events.popleft()
        else:
            while len(events) > self.max_values:
                events.popleft()

    def _shrink(self) -> None:
        """Drop groups whose window has passed; if still too many, the least recently seen."""
        horizon = self.now - self.spec.timespan_seconds
        # groups are kept least recently seen first, so expired ones sit at the front
        while self.groups:
            group = next(iter(self.groups.values()))
            if group.last_seen >= horizon or group.quiet_until > self.now:
                break
            self.groups.popitem(last=False)
        while len(self.groups) > self.max_groups:
            self.groups.popitem(last=False)
            self.evicted_groups += 1

    def sweep(self) -> None:
        """Forget every group whose window has passed (called periodically by the engine)."""
        if self.groups:
            self._shrink()
