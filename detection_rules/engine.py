"""Load Sigma rule files into a RuleSet, and run a RuleSet over events.

Loading parses with pySigma, applies the field-mapping pipeline, and compiles each rule once
(see ``matching`` and ``correlation``). A file that cannot be used becomes a ``RuleError``
with the reason and, when known, the line; the other files still load.
"""
from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationCondition, SigmaCorrelationRule, SigmaCorrelationType
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.filters import SigmaFilter
from sigma.rule import SigmaDetection, SigmaRule, SigmaRuleBase

from detection_rules.alerts import LEVELS, Alert, alert_id, summarize
from detection_rules.correlation import KINDS, CorrelationSpec, CorrelationWindow, Crossing
from detection_rules.field_mapping import (
    MAPPED_DATASETS, PIPELINE_NAMES, dataset_for, mapped_logsources, processing_pipeline,
)
from detection_rules.crs import CrsEngine
from detection_rules.indicators import IndicatorSet
from detection_rules.yara_scan import YaraScanner
from detection_rules.prefilter import PrefilterIndex, Requirement, requirement
from detection_rules.matching import CompiledDetection, UnsupportedFeature, check_modifiers, compile_detection
from soc_core.errors import Location
from soc_core.events import FIELDS, EventError, format_timestamp, parse_timestamp, stable_event_id

RULE_SUFFIXES = (".yml", ".yaml")
BUNDLED_RULES = Path(__file__).resolve().parent / "sigma"  # the rule pack shipped with edusoc
DEFAULT_LEVEL = "medium"  # a rule without a level is unknown, not unimportant
DEFAULT_MAX_VALUES = 10_000
ECS_FIELDS = frozenset(FIELDS)
UNIT_FIELD = "organization.id"


@dataclass(frozen=True)
class RuleError:
    """One rule file (or one rule in it) that could not be used."""

    path: Path
    reason: str
    line: int | None = None

    @property
    def location(self) -> Location:
        """Where the rule is, as every edusoc error says it (``soc_core.errors.Location``)."""
        return Location(file=str(self.path), line=self.line)

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        return f"{where}: {self.reason}"


@dataclass(frozen=True)
class RuleFileStatus:
    path: Path
    status: str  # "compiled" | "rejected"
    reason: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class RuleMeta:
    """What an alert needs to know about the rule that raised it."""

    rule_id: str
    title: str
    level: str
    tags: tuple[str, ...]
    path: Path
    title_zh: str | None = None  # Chinese display name (custom attribute title_zh), the UI shows it first


@dataclass(frozen=True)
class CompiledRule:
    """A single-event Sigma rule, compiled."""

    meta: RuleMeta
    detection: CompiledDetection
    datasets: tuple[str, ...] | None  # only events of these event.dataset values are looked at; None: see below
    emits_alerts: bool  # False for a rule that only feeds correlations (Sigma ``generate: false``)
    requirement: Requirement | None = None  # a necessary condition, for the engine's prefilter
    # Which events a rule in Sigma's own field names (pipeline none) looks at, so that a Linux or
    # Zeek rule's negations and keywords never fire on a flow: an edusoc dataset the ecs mapping
    # knows (edusoc.web is webserver/proxy/zeek http, ...) only for rules of those log sources;
    # another dataset written "<product>.<category or service>" (linux.process_creation) only for
    # rules whose product and category or service it names; an event saying neither, every rule.
    sigma_named: bool = False
    mapped_datasets: tuple[str, ...] = ()  # the edusoc datasets of this rule's log source
    logsource: tuple[str | None, str | None, str | None] = (None, None, None)  # category, product, service

    @property
    def rule_id(self) -> str:
        return self.meta.rule_id

    def applies_to(self, dataset: object) -> bool:
        """Whether events of this ``event.dataset`` value are in this rule's log source."""
        if self.datasets is not None:
            return dataset in self.datasets
        if not self.sigma_named or not isinstance(dataset, str):
            return True
        if dataset in MAPPED_DATASETS:
            return dataset in self.mapped_datasets
        event_product, dot, kind = dataset.partition(".")
        if not dot:
            return True
        category, product, service = self.logsource
        return (product is None or product == event_product) and (
            (category is None and service is None) or kind == category or kind == service
        )

    def matches(self, event: dict[str, Any]) -> bool:
        return self.applies_to(event.get("event.dataset")) and self.detection.matches(event)


@dataclass(frozen=True)
class CompiledCorrelation:
    """A Sigma correlation rule over compiled single-event rules (by rule id)."""

    meta: RuleMeta
    spec: CorrelationSpec
    rule_ids: tuple[str, ...]

    @property
    def rule_id(self) -> str:
        return self.meta.rule_id


@dataclass
class RuleSet:
    """Compiled rules and the files or rules that were rejected."""

    rules: list[CompiledRule | CompiledCorrelation] = field(default_factory=list)
    errors: list[RuleError] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    pipeline: str = "ecs"

    def file_statuses(self) -> list[RuleFileStatus]:
        """Per loaded file: compiled, or rejected with its first error."""
        first_error: dict[Path, RuleError] = {}
        for error in self.errors:
            first_error.setdefault(error.path, error)
        statuses = []
        for path in self.files:
            first = first_error.get(path)
            if first is None:
                statuses.append(RuleFileStatus(path, "compiled"))
            else:
                statuses.append(RuleFileStatus(path, "rejected", first.reason, first.line))
        return statuses


def rule_files(paths: Sequence[Path]) -> tuple[list[Path], list[RuleError]]:
    """Rule files under ``paths`` (recursively), sorted; missing paths are errors."""
    found: list[Path] = []
    errors: list[RuleError] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix in RULE_SUFFIXES and p.is_file()))
        elif path.is_file():
            found.append(path)
        else:
            errors.append(RuleError(path, "no such file or directory"))
    return list(dict.fromkeys(found)), errors


@dataclass
class _Parsed:
    path: Path
    text: str
    rule: SigmaRule | SigmaCorrelationRule


def load_ruleset(
    paths: Sequence[Path],
    pipeline: str = "ecs",
    placeholders: Mapping[str, Sequence[str]] | None = None,
) -> RuleSet:
    """Parse, map and compile every Sigma rule under ``paths``; unusable rules become errors.

    Sigma filters (``filter:`` documents) found under ``paths`` are applied to the rules they
    name; a filter with the edusoc attribute ``units: [...]`` is an exception for events of
    those units (``organization.id``) only. ``placeholders`` gives values to ``%name%``
    placeholders (modifier ``expand``).
    """
    if pipeline not in PIPELINE_NAMES:
        raise ValueError(f"unknown pipeline {pipeline!r}; expected one of {', '.join(PIPELINE_NAMES)}")
    files, errors = rule_files(paths)
    ruleset = RuleSet(files=files, errors=errors, pipeline=pipeline)
    parsed: list[_Parsed] = []
    filters: list[SigmaFilter] = []
    for path in files:
        parsed.extend(_parse_file(path, ruleset.errors, filters))
    for sigma_filter in filters:
        for item in parsed:
            if isinstance(item.rule, SigmaRule):
                _apply_filter(sigma_filter, item.rule)

    # Correlations may refer to rules in other files: resolve against everything parsed.
    lookup = SigmaCollection([item.rule for item in parsed], resolve_references=False)
    usable: list[_Parsed] = []
    for item in parsed:
        if isinstance(item.rule, SigmaCorrelationRule):
            try:
                item.rule.resolve_rule_references(lookup)
            except SigmaError as error:
                ruleset.errors.append(_error(item, _sigma_reason(error)))
                continue
        usable.append(item)

    mapping = processing_pipeline(pipeline, placeholders)
    compiled_ids: dict[str, Path] = {}
    compiled_by_object: dict[int, CompiledRule] = {}
    # single-event rules first: correlations need to know which of their rules compiled
    for item in sorted(usable, key=lambda p: isinstance(p.rule, SigmaCorrelationRule)):
        try:
            compiled: CompiledRule | CompiledCorrelation
            if isinstance(item.rule, SigmaRule):
                single = _compile_rule(item, mapping, pipeline)
                compiled_by_object[id(item.rule)] = single
                compiled = single
            else:
                compiled = _compile_correlation(item, mapping, compiled_by_object)
        except UnsupportedFeature as error:
            ruleset.errors.append(_error(item, error.reason, _find_line(item.text, error.needle)))
            continue
        except SigmaError as error:
            ruleset.errors.append(_error(item, _sigma_reason(error), _sigma_line(error)))
            continue
        previous = compiled_ids.get(compiled.rule_id)
        if previous is not None:
            ruleset.errors.append(_error(item, f"duplicate rule id {compiled.rule_id} (already loaded from {previous})"))
            continue
        compiled_ids[compiled.rule_id] = item.path
        ruleset.rules.append(compiled)
    return ruleset


def _apply_filter(sigma_filter: SigmaFilter, rule: SigmaRule) -> None:
    units = sigma_filter.custom_attributes.get("units")
    if not units:
        sigma_filter.apply_on_rule(rule)
        return
    # an exception for some units: the rule holds where the unit is not one of them, or the filter holds
    scoped = copy.deepcopy(sigma_filter)
    scoped.filter.detections["edusoc_units"] = SigmaDetection.from_definition({UNIT_FIELD: [str(unit) for unit in units]})
    scoped.filter.condition = [f"not edusoc_units or ({condition})" for condition in scoped.filter.condition]
    scoped.apply_on_rule(rule)


def _parse_file(path: Path, errors: list[RuleError], filters: list[SigmaFilter]) -> list[_Parsed]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        errors.append(RuleError(path, f"cannot read file: {error}"))
        return []
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error)
        return _fail(errors, path, f"malformed YAML: {problem}", mark.line + 1 if mark else None)
    if not documents:
        return _fail(errors, path, "no YAML document in file")
    if not all(isinstance(doc, dict) for doc in documents):
        return _fail(errors, path, "a Sigma rule must be a YAML mapping")
    try:
        collection = SigmaCollection.from_dicts(
            documents, collect_errors=True, source=SigmaRuleLocation(path), collect_filters=True, resolve_references=False
        )
    except SigmaError as error:
        return _fail(errors, path, _sigma_reason(error), _sigma_line(error))
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        # pySigma raises plain Python errors on some shapes it does not expect
        return _fail(errors, path, f"not a valid Sigma rule: {type(error).__name__}: {error}")
    parsed = []
    for sigma_filter in collection.filters:
        if sigma_filter.errors:
            errors.extend(RuleError(path, _sigma_reason(error), _sigma_line(error)) for error in sigma_filter.errors)
        else:
            filters.append(sigma_filter)
    reported: set[int] = set()
    for rule in collection.rules:
        if rule.errors:
            for rule_error in rule.errors:
                errors.append(RuleError(path, _sigma_reason(rule_error), _sigma_line(rule_error) or _find_line(text, _needle(rule_error))))
                reported.add(id(rule_error))
            continue
        parsed.append(_Parsed(path, text, rule))
    for collection_error in collection.errors:
        if id(collection_error) not in reported:
            errors.append(RuleError(path, _sigma_reason(collection_error), _sigma_line(collection_error)))
    return parsed


def _fail(errors: list[RuleError], path: Path, reason: str, line: int | None = None) -> list[_Parsed]:
    errors.append(RuleError(path, reason, line))
    return []


def _error(item: _Parsed, reason: str, line: int | None = None) -> RuleError:
    title = getattr(item.rule, "title", None)
    prefix = f"rule '{title}': " if title and _documents_in(item.text) > 1 else ""
    return RuleError(item.path, prefix + reason, line)


def _documents_in(text: str) -> int:
    return 1 + sum(1 for line in text.splitlines() if line.strip() == "---" and line.startswith("---"))


def _sigma_reason(error: SigmaError) -> str:
    # SigmaError.__str__ appends the absolute path; the path is reported separately
    reason = error.args[0] if error.args else type(error).__name__
    return f"{type(error).__name__}: {reason}"


def _sigma_line(error: Exception) -> int | None:
    source = getattr(error, "source", None)
    return getattr(source, "line", None)


def _needle(error: Exception) -> str | None:
    message = str(error.args[0]) if error.args else ""
    if "Unknown modifier" in message:
        name = message.split("Unknown modifier", 1)[1].strip(" '\"")
        return f"|{name}"
    return None


def _find_line(text: str, needle: str | None) -> int | None:
    """First line of ``text`` containing ``needle`` (how a compile-time problem is located)."""
    if not needle:
        return None
    lines = text.splitlines()
    if needle[0].isalnum():  # a field name: prefer the line where it is a key
        for number, line in enumerate(lines, start=1):
            if line.lstrip(" -").startswith((needle + ":", needle + "|")):
                return number
    for number, line in enumerate(lines, start=1):
        if needle in line:
            return number
    return None


def _meta(item: _Parsed) -> RuleMeta:
    rule: SigmaRuleBase = item.rule
    rule_id = str(rule.id) if rule.id else (rule.name or stable_event_id("rule", item.path.name, rule.title))
    level = rule.level.name.lower() if rule.level else DEFAULT_LEVEL
    if level not in LEVELS:
        level = DEFAULT_LEVEL
    title_zh = rule.custom_attributes.get("title_zh")
    return RuleMeta(rule_id, rule.title, level, tuple(str(tag) for tag in rule.tags), item.path, str(title_zh) if title_zh else None)


def _compile_rule(item: _Parsed, mapping: Any, pipeline: str) -> CompiledRule:
    rule = item.rule
    assert isinstance(rule, SigmaRule)
    check_modifiers(rule)  # before mapping, so the message shows the field as written
    datasets = dataset_for(pipeline, rule.logsource)
    if pipeline == "ecs" and datasets is None:
        # Running it anyway would let its keyword and negated tests fire on unrelated events.
        raise UnsupportedFeature(
            f"logsource {_logsource_text(rule)} is not an edusoc event source under the ecs pipeline "
            f"(mapped: {', '.join(mapped_logsources())}); use pipeline 'none' for events in that source's own fields",
            needle="logsource:",
        )
    mapping.apply(rule)
    detection = compile_detection(rule, ECS_FIELDS if pipeline == "ecs" else None)
    conditions = [condition.parsed for condition in rule.detection.parsed_condition]
    return CompiledRule(_meta(item), detection, datasets, rule._output, requirement(conditions),
                        sigma_named=pipeline == "none", mapped_datasets=dataset_for("ecs", rule.logsource) or (),
                        logsource=(rule.logsource.category, rule.logsource.product, rule.logsource.service))


def _logsource_text(rule: SigmaRule) -> str:
    source = rule.logsource
    parts = [f"{name}={value}" for name, value in (("category", source.category), ("product", source.product), ("service", source.service)) if value]
    return "/".join(parts) or "(empty)"


def _compile_correlation(item: _Parsed, mapping: Any, compiled: dict[int, CompiledRule]) -> CompiledCorrelation:
    rule = item.rule
    assert isinstance(rule, SigmaCorrelationRule)
    kind = rule.type.name.lower()
    if kind not in KINDS:
        raise UnsupportedFeature(f"correlation type '{kind}' is not supported ({', '.join(KINDS)} are)", "type:")
    rule_ids = []
    references = rule.referenced_rules or []
    for reference in references:
        target = reference.rule
        if isinstance(target, SigmaCorrelationRule):
            raise UnsupportedFeature(f"correlation over another correlation ('{reference.reference}') is not supported", reference.reference)
        if id(target) not in compiled:
            raise UnsupportedFeature(f"referenced rule '{reference.reference}' was rejected", reference.reference)
        rule_ids.append(compiled[id(target)].rule_id)
    mapping.apply(rule)
    condition = rule.condition
    if not isinstance(condition, SigmaCorrelationCondition):
        raise UnsupportedFeature("an extended (boolean) temporal correlation condition is not supported", "condition:")
    operator = condition.op.name.lower()
    if isinstance(condition.fieldref, list):
        raise UnsupportedFeature("a correlation condition over several fields is not supported", "field:")
    aliases: dict[str, tuple[str, ...]] = {}
    for alias in rule.aliases:
        by_reference = {reference.reference: name for reference, name in alias.mapping.items()}
        missing = [reference.reference for reference in references if reference.reference not in by_reference]
        if missing:
            raise UnsupportedFeature(f"alias '{alias.alias}' names no field for rule(s) {', '.join(missing)}", alias.alias)
        aliases[alias.alias] = tuple(by_reference[reference.reference] for reference in references)
    spec = CorrelationSpec(
        kind=kind,  # type: ignore[arg-type]
        group_by=tuple(rule.group_by or ()),
        timespan_seconds=rule.timespan.seconds,
        operator=operator,
        threshold=condition.count,
        field=condition.fieldref,
        rule_count=len(rule_ids),
        aliases=aliases,
        percentile=condition.percentile if condition.percentile is not None else 50,
    )
    if spec.entries_needed > DEFAULT_MAX_VALUES:
        raise UnsupportedFeature(f"threshold {spec.threshold:g} exceeds the bounded state of {DEFAULT_MAX_VALUES} entries per group", f"{operator}:")
    return CompiledCorrelation(_meta(item), spec, tuple(rule_ids))


class RuleSwitchesLike(Protocol):
    def enabled(self, rule_id: str, unit: str | None) -> bool: ...

    def __len__(self) -> int: ...


class DetectionEngine:
    """Runs a RuleSet over events; keeps correlation state across ``process`` calls.

    Events are expected to have passed ``soc_core.events.validate_event`` (at least a valid
    ``@timestamp``); correlation windows run on event time, not on the wall clock.
    """

    SWEEP_EVERY = 4096

    def __init__(
        self,
        ruleset: RuleSet,
        *,
        max_groups: int = 10_000,
        max_values: int = DEFAULT_MAX_VALUES,
        prefilter: bool = True,
        yara: YaraScanner | None = None,
        indicators: IndicatorSet | None = None,
        switches: RuleSwitchesLike | None = None,
        crs: CrsEngine | None = None,
    ) -> None:
        """``prefilter=False`` tries every rule on every event (the reference the bench compares with);
        ``yara`` scans the HTTP bodies sensors carve into events; ``indicators`` are matched on
        every event's addresses, names and URL; ``crs`` runs the OWASP CRS on every HTTP request."""
        self.yara = yara
        self.crs = crs
        self.indicators = indicators
        self.switches = switches  # rules switched off per unit (detection_rules.tuning.RuleSwitches)
        self.ruleset = ruleset
        self._single = [rule for rule in ruleset.rules if isinstance(rule, CompiledRule)]
        self.prefilter = prefilter
        # per event.dataset value: the rules that apply to it, in load order, and their prefilter index
        self._plans: dict[object, tuple[list[CompiledRule], PrefilterIndex]] = {}
        self._correlations = [
            (rule, CorrelationWindow(rule.spec, max_groups=max_groups, max_values=max_values))
            for rule in ruleset.rules
            if isinstance(rule, CompiledCorrelation)
        ]
        self._feeding = {rule_id for rule, _ in self._correlations for rule_id in rule.rule_ids}
        self._clocked = [(rule, window) for rule, window in self._correlations if window.needs_clock]
        self._processed = 0

    def process(self, event: dict[str, Any]) -> list[Alert]:
        """Alerts raised by this event (single-event rules, then correlations crossing their threshold)."""
        raw_time = event.get("@timestamp")
        if not isinstance(raw_time, str) or not raw_time:
            raise EventError("@timestamp: required field is missing", "@timestamp")
        if self.prefilter:
            hits = [rule for rule in self._candidates(event) if rule.detection.matches(event)]
        else:  # the reference: every compiled rule's whole predicate (log source and detection) on every event
            hits = [rule for rule in self._single if rule.matches(event)]
        if hits and self.switches is not None and len(self.switches):
            unit = _unit(event)
            hits = [rule for rule in hits if self.switches.enabled(rule.rule_id, unit)]
        content_alerts = self.yara.scan_event(event) if self.yara is not None else []
        if self.crs is not None:
            crs_alerts = self.crs.scan_event(event)
            if crs_alerts and self.switches is not None and len(self.switches):
                crs_alerts = [alert for alert in crs_alerts if self.switches.enabled(alert.rule_id, _unit(event))]
            content_alerts += crs_alerts
        if self.indicators is not None:
            indicator_hits = self.indicators.match_event(event)
            if indicator_hits:
                content_alerts += self.indicators.alerts_for(indicator_hits, event, _event_time(event), _event_id(event))
        if not hits and not self._clocked:
            return content_alerts  # correlation state only grows below, so sweeping can wait
        timestamp, seconds = _event_instant(event)  # parsed only when needed: most events raise nothing
        event_id = _event_id(event)
        alerts: list[Alert] = content_alerts
        matched: set[str] = set()
        for rule in hits:
            if rule.emits_alerts:
                alerts.append(_single_alert(rule, event, event_id, timestamp))
            if rule.rule_id in self._feeding:
                matched.add(rule.rule_id)
        if self._clocked or matched:
            for correlation, window in self._clocked:
                for crossing in window.advance(seconds):
                    alerts.append(_correlation_alert(correlation, crossing, None, timestamp))
            if matched:
                for correlation, window in self._correlations:
                    indexes = tuple(i for i, rule_id in enumerate(correlation.rule_ids) if rule_id in matched)
                    if not indexes:
                        continue
                    crossed = window.observe(seconds, event_id, event, indexes)
                    if crossed is not None:
                        alerts.append(_correlation_alert(correlation, crossed, event, timestamp))
        self._processed += 1
        if self._correlations and self._processed % self.SWEEP_EVERY == 0:
            for _, window in self._correlations:
                window.sweep()
        return alerts

    def _candidates(self, event: dict[str, Any]) -> Iterable[CompiledRule]:
        dataset = event.get("event.dataset")
        plan = self._plans.get(dataset) if isinstance(dataset, (str, type(None))) else None
        if plan is None:
            plan = self._plan(dataset)
        rules, index = plan
        positions = index.candidates(event)
        return [rules[position] for position in sorted(positions)] if len(positions) > 1 else [rules[p] for p in positions]

    def _plan(self, dataset: object) -> tuple[list[CompiledRule], PrefilterIndex]:
        rules = [rule for rule in self._single if rule.applies_to(dataset)]
        plan = (rules, PrefilterIndex([rule.requirement for rule in rules]))
        if isinstance(dataset, (str, type(None))) and len(self._plans) < 1024:
            self._plans[dataset] = plan
        return plan

    def process_many(self, events: Iterable[dict[str, Any]]) -> list[Alert]:
        """All alerts of ``events``, in order."""
        alerts: list[Alert] = []
        for event in events:
            alerts.extend(self.process(event))
        return alerts


def _event_time(event: dict[str, Any]) -> str:
    return _event_instant(event)[0]


def _event_instant(event: dict[str, Any]) -> tuple[str, float]:
    """The event's time in the form every event carries, and as epoch seconds (parsed once)."""
    raw = event.get("@timestamp")
    if not isinstance(raw, str) or not raw:
        raise EventError("@timestamp: required field is missing", "@timestamp")
    try:
        instant = parse_timestamp(raw)
    except ValueError:
        raise EventError(f"@timestamp: {raw!r} is not an ISO 8601 timestamp", "@timestamp") from None
    # sensors already write the canonical form (YYYY-MM-DDTHH:MM:SS.ffffffZ): formatting it again would change nothing
    canonical = len(raw) == 27 and raw[10] == "T" and raw[19] == "." and raw[26] == "Z"
    return (raw if canonical else format_timestamp(instant)), instant.timestamp()


def _event_id(event: dict[str, Any]) -> str:
    value = event.get("event.id")
    if isinstance(value, str) and value:
        return value
    return stable_event_id("event", json.dumps(event, sort_keys=True, default=str))


def _unit(event: dict[str, Any]) -> str | None:
    value = event.get("organization.id")
    return value if isinstance(value, str) and value else None


def _single_alert(rule: CompiledRule, event: dict[str, Any], event_id: str, timestamp: str) -> Alert:
    meta = rule.meta
    event_ids = (event_id,)
    return Alert(
        id=alert_id(meta.rule_id, event_ids),
        rule_id=meta.rule_id,
        rule_title=meta.title,
        rule_title_zh=meta.title_zh,
        level=meta.level,
        tags=meta.tags,
        timestamp=timestamp,
        event_ids=event_ids,
        unit_id=_unit(event),
        matches=rule.detection.explain(event),
        summary=summarize(event),
    )


def _correlation_alert(rule: CompiledCorrelation, crossing: Crossing, event: dict[str, Any] | None, timestamp: str) -> Alert:
    """``event`` is the one that made the group cross, or None when a window was decided on closing."""
    meta, spec = rule.meta, rule.spec
    event = event if event is not None else crossing.last_event
    count = crossing.count
    matches: dict[str, object] = {
        "group_by": crossing.group,
        "count": int(count) if float(count).is_integer() else count,
        "condition": spec.describe(),
    }
    if spec.field:
        matches["field"] = spec.field
    return Alert(
        id=alert_id(meta.rule_id, crossing.event_ids),
        rule_id=meta.rule_id,
        rule_title=meta.title,
        rule_title_zh=meta.title_zh,
        level=meta.level,
        tags=meta.tags,
        timestamp=timestamp,
        event_ids=crossing.event_ids,
        unit_id=_unit(event),
        matches=matches,
        summary=summarize(event),
    )
