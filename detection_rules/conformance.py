"""Conformance of the engine on SigmaHQ's own material.

* ``corpus_statuses``: every rule file of a directory is compiled or rejected with a reason;
* ``regression_cases`` / ``run_regression_case``: SigmaHQ's ``regression_data/`` — for each
  ``info.yml``, the rule (``rule.yml`` beside it) run over the test's events must give
  ``match_count`` matches (1 when the file does not say). The events are Windows event-log
  records in Sigma's field names, so they run under the ``none`` pipeline.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from detection_rules.engine import DetectionEngine, RuleFileStatus, load_ruleset
from detection_rules.windows_events import flatten_windows_event, is_windows_event, json_documents


@dataclass(frozen=True)
class RegressionCase:
    name: str
    rule_path: Path
    events_path: Path
    expected: int


@dataclass(frozen=True)
class RegressionResult:
    case: RegressionCase
    matched: int
    error: str | None = None

    @property
    def agrees(self) -> bool:
        return self.error is None and self.matched == self.case.expected


def corpus_statuses(rules: Path, pipeline: str = "none") -> list[RuleFileStatus]:
    return load_ruleset([rules], pipeline=pipeline).file_statuses()


def regression_cases(root: Path) -> Iterator[RegressionCase]:
    """Every active test of ``root`` (a ``regression_data`` folder), sorted by path."""
    for info in sorted(root.rglob("info.yml")):
        document = yaml.safe_load(info.read_text(encoding="utf-8")) or {}
        for test in document.get("regression_tests_info") or ():
            events = info.parent / (Path(test["path"]).stem + ".json")
            yield RegressionCase(
                name=f"{info.parent.relative_to(root)}:{test.get('name', 'test')}",
                rule_path=info.parent / "rule.yml",
                events_path=events,
                expected=int(test.get("match_count", 1)),
            )


def load_events(path: Path) -> list[dict[str, object]]:
    """Events of a regression file (EVTX JSON records flattened; other objects as they are)."""
    events = []
    for document in json_documents(path.read_text(encoding="utf-8")):
        if is_windows_event(document):
            events.append(flatten_windows_event(document))  # type: ignore[arg-type]
        elif isinstance(document, dict):
            events.append(document)
    return events


def run_regression_case(case: RegressionCase) -> RegressionResult:
    ruleset = load_ruleset([case.rule_path], pipeline="none")
    if ruleset.errors or not ruleset.rules:
        reason = "; ".join(error.reason for error in ruleset.errors) or "no rule"
        return RegressionResult(case, 0, f"rule rejected: {reason}")
    if not case.events_path.exists():
        return RegressionResult(case, 0, f"events file missing: {case.events_path.name}")
    engine = DetectionEngine(ruleset)
    matched = sum(len(engine.process(event)) for event in load_events(case.events_path))
    return RegressionResult(case, matched)
