"""Sigma rules as scheduled queries on the Elasticsearch event indices.

Each single-event rule that compiles under the ``ecs`` pipeline is converted once by pySigma's
Elasticsearch backend (``LuceneBackend``, output ``dsl_lucene``) with the same field-mapping
pipeline the inline engine uses, and restricted to the rule's ``event.dataset`` values. A run
asks, per rule, for the events of the window ``[last_end − overlap, now)``:

* the overlap makes a late run (or a late-arriving event indexed after the previous run looked)
  still be seen; alerts are deduplicated by (rule, event id), so the overlap never alerts twice;
* ``last_end`` per rule and the (rule, event id) pairs still inside the overlap are persisted in a
  JSON state file (written atomically), so a run after a restart — or after hours of downtime —
  catches up from where the last one ended instead of silently skipping the gap;
* a rule switched off for a unit (``RuleSwitches``) raises nothing for that unit's events.

Case: pySigma's Lucene output compares ``keyword`` fields as Elasticsearch stores them, i.e.
case-sensitively, where Sigma (and the inline engine) compare case-insensitively; a value that
differs only in letter case is found inline, not by the scheduled query.

pySigma-backend-elasticsearch 2.1.1 declares ``pysigma<2``; it is installed with ``--no-deps`` next
to pySigma 2 (Makefile, Dockerfile) and tests/test_detection_scheduled.py proves the pair against
the real node.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError

from detection_rules.alerts import Alert, alert_id, summarize
from detection_rules.engine import CompiledRule, RuleError, RuleSet, RuleSwitchesLike
from detection_rules.field_mapping import processing_pipeline
from soc_core.clock import Clock
from soc_core.events import format_timestamp, parse_timestamp

DEFAULT_OVERLAP = timedelta(minutes=5)
DEFAULT_FIRST_LOOKBACK = timedelta(hours=1)  # how far the very first run of a rule looks back
PAGE_SIZE = 500


@dataclass(frozen=True)
class ScheduledQuery:
    rule: CompiledRule
    lucene: str  # the query as pySigma's backend wrote it (shown to users, logged)
    query: dict[str, Any]  # the Elasticsearch query DSL actually sent (with the dataset filter)

    @property
    def rule_id(self) -> str:
        return self.rule.rule_id


def build_queries(ruleset: RuleSet) -> tuple[list[ScheduledQuery], list[RuleError]]:
    """Queries for the single-event rules of ``ruleset`` (an ``ecs`` RuleSet); the rest as errors."""
    from sigma.backends.elasticsearch import LuceneBackend

    if ruleset.pipeline != "ecs":
        raise ValueError("scheduled queries run on edusoc's indices: load the rules with the ecs pipeline")
    queries: list[ScheduledQuery] = []
    errors: list[RuleError] = []
    by_file: dict[Path, list[CompiledRule]] = {}
    for loaded in ruleset.rules:
        if isinstance(loaded, CompiledRule) and loaded.emits_alerts:
            by_file.setdefault(loaded.meta.path, []).append(loaded)
        elif not isinstance(loaded, CompiledRule):
            errors.append(RuleError(loaded.meta.path, f"rule '{loaded.meta.title}': correlation rules run inline only"))
    for path, rules in by_file.items():
        wanted = {rule.rule_id: rule for rule in rules}
        try:
            collection = SigmaCollection.from_yaml(path.read_text(encoding="utf-8"))
        except (OSError, SigmaError) as error:
            errors.append(RuleError(path, f"cannot read for the Elasticsearch backend: {error}"))
            continue
        for sigma_rule in collection.rules:
            rule = wanted.get(str(getattr(sigma_rule, "id", None)))
            if rule is None:
                continue
            try:
                # pySigma's pipelines change a rule in place: a fresh backend and parse per output
                lucene = LuceneBackend(processing_pipeline=processing_pipeline("ecs")).convert(
                    SigmaCollection([sigma_rule]))[0]
                dsl = LuceneBackend(processing_pipeline=processing_pipeline("ecs")).convert(
                    SigmaCollection([_fresh_rule(path, rule.rule_id)]), "dsl_lucene")[0]
            except (SigmaError, NotImplementedError, IndexError) as error:
                errors.append(RuleError(path, f"rule '{rule.meta.title}': pySigma's Elasticsearch backend: {error}"))
                continue
            filters: list[dict[str, Any]] = [dsl["query"]]
            if rule.datasets is not None:
                filters.append({"terms": {"event.dataset": list(rule.datasets)}})
            queries.append(ScheduledQuery(rule, lucene, {"bool": {"filter": filters}}))
    return queries, errors


def _fresh_rule(path: Path, rule_id: str) -> Any:
    for rule in SigmaCollection.from_yaml(path.read_text(encoding="utf-8")).rules:
        if str(getattr(rule, "id", None)) == rule_id:
            return rule
    raise IndexError(rule_id)


@dataclass
class _State:
    last_end: dict[str, str]  # rule id → end of its last window (ISO 8601)
    seen: dict[str, str]  # "rule id\tevent id" → event time, while it can come back in an overlap


class ScheduledSigmaQueries:
    """Runs every query over its window on ``index`` (the event store's read alias)."""

    def __init__(
        self,
        es: Any,
        index: str,
        queries: Sequence[ScheduledQuery],
        state_path: Path,
        clock: Clock,
        *,
        overlap: timedelta = DEFAULT_OVERLAP,
        first_lookback: timedelta = DEFAULT_FIRST_LOOKBACK,
        switches: RuleSwitchesLike | None = None,
    ) -> None:
        if overlap < timedelta(0):
            raise ValueError("overlap must not be negative")
        self.es = es
        self.index = index
        self.queries = list(queries)
        self.state_path = Path(state_path)
        self.clock = clock
        self.overlap = overlap
        self.first_lookback = first_lookback
        self.switches = switches

    def run(self, sink: Callable[[list[Alert]], None] | None = None) -> list[Alert]:
        """One run: every rule over ``[last_end − overlap, now)``; new alerts only, in time order."""
        now = self.clock.now()
        state = self._load()
        alerts: list[Alert] = []
        for query in self.queries:
            last = state.last_end.get(query.rule_id)
            start = (parse_timestamp(last) if last else now - self.first_lookback) - self.overlap
            for event in self._events(query, start, now):
                event_id = str(event.get("event.id"))
                key = f"{query.rule_id}\t{event_id}"
                if key in state.seen:
                    continue
                state.seen[key] = str(event.get("@timestamp"))
                unit = event.get("organization.id")
                if self.switches is not None and not self.switches.enabled(query.rule_id, unit if isinstance(unit, str) else None):
                    continue
                alerts.append(_alert(query, event, event_id))
            state.last_end[query.rule_id] = format_timestamp(now)
        # a pair can only come back while its event is inside some rule's next overlap
        horizon = format_timestamp(min((parse_timestamp(end) for end in state.last_end.values()), default=now) - self.overlap)
        state.seen = {key: when for key, when in state.seen.items() if when >= horizon}
        alerts.sort(key=lambda alert: (alert.timestamp, alert.rule_id))
        if sink is not None and alerts:
            sink(alerts)  # before the state moves on: a failing sink makes the next run try again
        self._save(state)
        return alerts

    def _events(self, query: ScheduledQuery, start: datetime, end: datetime) -> Iterable[dict[str, Any]]:
        window = {"range": {"@timestamp": {"gte": format_timestamp(start), "lt": format_timestamp(end)}}}
        body = {"bool": {"filter": [window, query.query]}}
        after: list[Any] | None = None
        while True:
            response = self.es.search(
                index=self.index, query=body, size=PAGE_SIZE, sort=[{"@timestamp": "asc"}, {"event.id": "asc"}],
                search_after=after, ignore_unavailable=True, allow_no_indices=True,
            )
            hits = response["hits"]["hits"]
            for hit in hits:
                yield hit["_source"]
            if len(hits) < PAGE_SIZE:
                return
            after = hits[-1]["sort"]

    def _load(self) -> _State:
        try:
            document = json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return _State({}, {})
        return _State(dict(document.get("last_end") or {}), dict(document.get("seen") or {}))

    def _save(self, state: _State) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.state_path.with_name(self.state_path.name + ".tmp")
        with temporary.open("w", encoding="utf-8") as handle:
            json.dump({"last_end": state.last_end, "seen": state.seen}, handle, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.state_path)


def _alert(query: ScheduledQuery, event: dict[str, Any], event_id: str) -> Alert:
    rule, meta = query.rule, query.rule.meta
    # the explanation comes from the same compiled rule the inline engine uses
    matches: dict[str, object] = rule.detection.explain(event) if rule.detection.matches(event) else {}
    matches = {**matches, "scheduled_query": query.lucene}
    unit = event.get("organization.id")
    return Alert(
        id=alert_id(meta.rule_id, (event_id,)),
        rule_id=meta.rule_id,
        rule_title=meta.title,
        level=meta.level,
        tags=meta.tags,
        timestamp=format_timestamp(parse_timestamp(str(event["@timestamp"]))),
        event_ids=(event_id,),
        unit_id=unit if isinstance(unit, str) and unit else None,
        matches=matches,
        summary=summarize(event),
    )
