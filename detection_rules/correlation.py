"""Streaming evaluation of Sigma correlation rules over event time, with bounded state.

Every correlation type of the specification is evaluated per group (the ``group-by`` values,
each resolved through the rule's ``aliases`` for the referenced rule that matched):

* ``event_count`` — matching events in the window; ``value_count`` — distinct values of a
  field; ``value_sum`` / ``value_avg`` / ``value_percentile`` / ``value_median`` — over a
  numeric field;
* ``temporal`` — how many of the referenced rules matched in the window (by default all);
  ``temporal_ordered`` — the same, in the order the rules are listed.

Two evaluation modes, chosen from the condition:

* *eager* (``gt``/``gte`` on a quantity that only grows as events arrive: counts, distinct
  values, sums of non-negative numbers, temporal): a sliding window of ``timespan`` seconds;
  the group fires the moment the condition holds, then stays quiet for one timespan while it
  keeps counting — a scan that lasts ten minutes yields one alert per timespan;
* *at close* (every other condition, e.g. ``lt: 3`` or ``eq: 1``, and averages/percentiles,
  which can move both ways): a window opens at a group's first event and is decided when
  event time (the latest ``@timestamp`` seen) passes its end — "fewer than 3" is only known
  then.

State is bounded: at most ``max_groups`` groups (expired ones are swept first, then the least
recently seen), at most ``max_values`` remembered entries per group, at most
``MAX_ALERT_EVENT_IDS`` event ids per alert. Events older than the group's window are ignored.
"""
from __future__ import annotations

import heapq
import math
import operator
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any, Literal

from detection_rules.alerts import MAX_ALERT_EVENT_IDS

CorrelationKind = Literal[
    "event_count", "value_count", "value_sum", "value_avg", "value_percentile", "value_median", "temporal", "temporal_ordered"
]
KINDS: tuple[str, ...] = CorrelationKind.__args__  # type: ignore[attr-defined]
NUMERIC_KINDS = frozenset({"value_sum", "value_avg", "value_percentile", "value_median"})
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
    "eq": operator.eq,
    "neq": operator.ne,
}
SYMBOLS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "eq": "==", "neq": "!="}


@dataclass(frozen=True)
class CorrelationSpec:
    """What to measure, per which group, over which timespan, and the condition."""

    kind: CorrelationKind
    group_by: tuple[str, ...]
    timespan_seconds: int
    operator: str
    threshold: float
    field: str | None = None  # the measured field of value_* correlations
    rule_count: int = 1  # referenced rules (temporal kinds count them)
    # alias → field name per referenced rule (by position); a group-by name not here is a field
    aliases: dict[str, tuple[str, ...]] = dc_field(default_factory=dict)
    percentile: int = 50

    def reached(self, value: float) -> bool:
        return OPERATORS[self.operator](value, self.threshold)

    @property
    def eager(self) -> bool:
        """Whether the condition can be decided the moment it first holds."""
        return self.operator in ("gt", "gte") and self.kind in ("event_count", "value_count", "value_sum", "temporal", "temporal_ordered")

    @property
    def entries_needed(self) -> int:
        """Entries a group must remember to decide the condition (counted kinds)."""
        if self.kind not in ("event_count", "value_count"):
            return 0
        return int(math.floor(self.threshold)) + 1 if self.operator in ("gt", "lte", "eq", "neq") else int(math.ceil(self.threshold))

    def describe(self) -> str:
        measured = f"{self.kind}({self.field})" if self.field else self.kind
        return f"{measured} {SYMBOLS[self.operator]} {self.threshold:g} within {self.timespan_seconds}s"

    def group_fields(self, rule_index: int) -> list[str]:
        return [self.aliases[name][rule_index] if name in self.aliases else name for name in self.group_by]


@dataclass(frozen=True)
class Crossing:
    """A group met the condition (eagerly with the event just observed, or when its window closed)."""

    group: dict[str, object]
    count: float
    event_ids: tuple[str, ...]
    last_event: dict[str, Any] = dc_field(default_factory=dict, compare=False)  # for the alert's unit and summary


@dataclass
class _Group:
    group: tuple[object, ...]  # the group-by values, in the order of the rule's group-by
    started: float = 0.0  # at-close windows: when the current window opened
    last_seen: float = 0.0
    quiet_until: float = float("-inf")
    events: deque[tuple[float, str]] = dc_field(default_factory=deque)  # (time, event id), oldest first
    values: OrderedDict[object, float] = dc_field(default_factory=OrderedDict)  # value → last seen
    numbers: deque[tuple[float, float]] = dc_field(default_factory=deque)  # (time, number)
    seen: dict[int, float] = dc_field(default_factory=dict)  # temporal: rule index → last seen / chain start
    last_event: dict[str, Any] = dc_field(default_factory=dict)


# shared empty state for the kinds that never keep it (never mutated: their code paths skip it)
_UNUSED_VALUES: OrderedDict[object, float] = OrderedDict()
_UNUSED_NUMBERS: deque[tuple[float, float]] = deque()
_UNUSED_SEEN: dict[int, float] = {}


def _hashable(value: object) -> object:
    if isinstance(value, list):
        return tuple(_hashable(item) for item in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), _hashable(v)) for k, v in value.items()))
    return value


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


class CorrelationWindow:
    """The mutable state of one correlation rule."""

    def __init__(self, spec: CorrelationSpec, *, max_groups: int = 10_000, max_values: int = 10_000) -> None:
        if spec.entries_needed > max_values:
            raise ValueError(
                f"threshold {spec.threshold:g} needs more than max_values={max_values} remembered entries per group"
            )
        self.spec = spec
        self._group_fields = tuple(tuple(spec.group_fields(index)) for index in range(max(1, spec.rule_count)))
        self.max_groups = max_groups
        self.max_values = max_values
        self.groups: OrderedDict[tuple[object, ...], _Group] = OrderedDict()
        self.evicted_groups = 0
        self.now = float("-inf")
        self._closing: list[tuple[float, tuple[object, ...], float]] = []  # (close time, key, window start)

    # -- observing -------------------------------------------------------------------------

    def observe(self, when: float, event_id: str, event: dict[str, Any], rule_indexes: tuple[int, ...] = (0,)) -> Crossing | None:
        """Count one event that matched the referenced rules at ``rule_indexes``.

        Returns a Crossing when an eager condition holds now. At-close windows report through
        ``advance``.
        """
        spec = self.spec
        key_values = tuple(map(event.get, self._group_fields[rule_indexes[0]]))
        if None in key_values:
            return None  # an event without the group-by fields cannot be grouped
        measured: object = None
        if spec.kind == "value_count" or spec.kind in NUMERIC_KINDS:
            raw = event.get(spec.field) if spec.field else None
            measured = _number(raw) if spec.kind in NUMERIC_KINDS else (None if raw is None else _hashable(raw))
            if measured is None:
                return None
        key = tuple(map(_hashable, key_values))

        self.now = max(self.now, when)
        group = self.groups.get(key)
        if group is None:
            # only the state this kind of correlation keeps: most groups see one event, and every
            # container allocated is one more object for the garbage collector to walk
            kind = spec.kind
            group = _Group(
                key_values, started=when, last_seen=when,
                values=OrderedDict() if kind == "value_count" else _UNUSED_VALUES,
                numbers=deque() if kind in NUMERIC_KINDS else _UNUSED_NUMBERS,
                seen={} if kind in ("temporal", "temporal_ordered") else _UNUSED_SEEN,
            )
            self.groups[key] = group
            if not spec.eager:
                heapq.heappush(self._closing, (when + spec.timespan_seconds, key, when))
            if len(self.groups) > self.max_groups:
                self._shrink()
        else:
            self.groups.move_to_end(key)
        if spec.eager:
            horizon = max(group.last_seen, when) - spec.timespan_seconds
        else:
            horizon = group.started
        if when < horizon:
            return None  # late event, outside this group's window
        group.last_seen = max(group.last_seen, when)
        group.events.append((when, event_id))
        group.last_event = event
        self._record(group, when, measured, rule_indexes)
        if spec.eager:
            self._expire(group, horizon)
            value = self._measure(group, when - spec.timespan_seconds)
            if not spec.reached(value) or when < group.quiet_until:
                return None
            group.quiet_until = when + spec.timespan_seconds
            return self._crossing(group, value)
        self._trim(group)
        return None

    def _record(self, group: _Group, when: float, measured: object, rule_indexes: tuple[int, ...]) -> None:
        kind = self.spec.kind
        if kind == "value_count":
            previous = group.values.pop(measured, None)
            group.values[measured] = max(when, previous) if previous is not None else when
        elif kind in NUMERIC_KINDS:
            group.numbers.append((when, measured))  # type: ignore[arg-type]
        elif kind == "temporal":
            for index in rule_indexes:
                group.seen[index] = when
        elif kind == "temporal_ordered":
            # highest step first, so one event never completes two consecutive steps
            for index in sorted(rule_indexes, reverse=True):
                if index == 0:
                    group.seen[0] = max(group.seen.get(0, when), when)
                elif index - 1 in group.seen:
                    start = group.seen[index - 1]
                    group.seen[index] = max(group.seen.get(index, start), start)

    def _measure(self, group: _Group, horizon: float) -> float:
        kind = self.spec.kind
        if kind == "event_count":
            return len(group.events)
        if kind == "value_count":
            return len(group.values)
        if kind == "temporal":
            return sum(1 for seen in group.seen.values() if seen >= horizon)
        if kind == "temporal_ordered":
            steps = 0
            while steps in group.seen and group.seen[steps] >= horizon:
                steps += 1
            return steps
        numbers = sorted(number for _, number in group.numbers) if kind in ("value_percentile", "value_median") else [n for _, n in group.numbers]
        if not numbers:
            return math.nan
        if kind == "value_sum":
            return sum(numbers)
        if kind == "value_avg":
            return sum(numbers) / len(numbers)
        percentile = 50 if kind == "value_median" else self.spec.percentile
        rank = max(1, math.ceil(percentile / 100 * len(numbers)))  # nearest-rank percentile
        return numbers[rank - 1]

    def _crossing(self, group: _Group, value: float) -> Crossing:
        ids = tuple(event_id for _, event_id in list(group.events)[-MAX_ALERT_EVENT_IDS:])
        return Crossing(dict(zip(self.spec.group_by, group.group)), value, ids, group.last_event)

    def _expire(self, group: _Group, horizon: float) -> None:
        events = group.events
        while events and events[0][0] < horizon:
            events.popleft()
        numbers = group.numbers
        while numbers and numbers[0][0] < horizon:
            numbers.popleft()
        if self.spec.kind == "value_count":
            values = group.values
            while values:
                if values[next(iter(values))] >= horizon and len(values) <= self.max_values:
                    break
                values.popitem(last=False)
        self._trim(group)

    def _trim(self, group: _Group) -> None:
        keep = self.max_values if self.spec.kind == "event_count" else MAX_ALERT_EVENT_IDS
        while len(group.events) > keep:
            group.events.popleft()
        while len(group.numbers) > self.max_values:
            group.numbers.popleft()
        while len(group.values) > self.max_values:
            group.values.popitem(last=False)

    # -- windows that are decided when they close -------------------------------------------

    def advance(self, now: float) -> list[Crossing]:
        """Decide every at-close window whose end event time ``now`` has passed."""
        self.now = max(self.now, now)
        crossings: list[Crossing] = []
        closing = self._closing
        while closing and closing[0][0] < self.now:
            _, key, started = heapq.heappop(closing)
            group = self.groups.get(key)
            if group is None or group.started != started:
                continue  # evicted, or a window already decided
            value = self._measure(group, float("-inf"))
            if not (isinstance(value, float) and math.isnan(value)) and self.spec.reached(value):
                crossings.append(self._crossing(group, value))
            del self.groups[key]
        return crossings

    @property
    def needs_clock(self) -> bool:
        return not self.spec.eager

    # -- bounding ------------------------------------------------------------------------------

    def _shrink(self) -> None:
        """Drop groups whose window has passed; if still too many, the least recently seen."""
        horizon = self.now - self.spec.timespan_seconds
        if self.spec.eager:
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
