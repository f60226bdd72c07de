"""The engine's prefilter drops only rules that cannot match: same alerts as trying every rule."""
from __future__ import annotations

import sys
from pathlib import Path

from detection_rules import BUNDLED_RULES, DetectionEngine, load_ruleset
from detection_rules.conformance import load_events, regression_cases
from detection_rules.prefilter import Alternative, _regex_literals
from tests.conftest import corpus

ROOT = Path(__file__).resolve().parent.parent


def alerts_of(engine: DetectionEngine, events: list[dict[str, object]]) -> list[tuple[str, tuple[str, ...]]]:
    return [(alert.rule_id, alert.event_ids) for alert in engine.process_many(events)]


def test_prefilter_keeps_every_regression_match() -> None:
    cases = list(regression_cases(corpus("sigma", "regression_data")))
    ruleset = load_ruleset([case.rule_path for case in cases], pipeline="none")
    events = [event for case in cases if case.events_path.exists() for event in load_events(case.events_path)]
    indexed = alerts_of(DetectionEngine(ruleset), events)
    assert indexed == alerts_of(DetectionEngine(ruleset, prefilter=False), events)
    assert len(indexed) >= len(cases)


def test_prefilter_keeps_every_match_on_a_mixed_campus_stream() -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from detect_eps import make_events  # the bench's own stream, smaller

    ruleset = load_ruleset([BUNDLED_RULES, corpus("sigma", "rules")], pipeline="ecs")
    events = make_events(4000, seed=11)
    indexed = alerts_of(DetectionEngine(ruleset), events)
    assert indexed == alerts_of(DetectionEngine(ruleset, prefilter=False), events)
    assert indexed  # the stream carries attacks


def test_regex_literals_are_required_substrings() -> None:
    assert _regex_literals(r"union(\s|/\*.*?\*/)+select") == frozenset({"select"})  # both runs are required; the longer kept
    assert _regex_literals(r"(?i)(ipfs\.io/|ipfs\.io\s).+\..+@") == frozenset({"ipfs.io"})  # the branches share it
    assert _regex_literals(r"ab|cd") is None  # a branch too short to select anything
    assert _regex_literals(r"(evil)?x+") is None  # optional group: not required


def test_rules_get_literal_requirements(tmp_path: Path) -> None:
    path = tmp_path / "r.yml"
    path.write_text(
        "title: T\nid: 1b8a6e1c-2f4d-4c4b-9d55-1f0e3a1b2c3d\nlogsource:\n    category: test\n"
        "detection:\n    sel:\n        url.query|contains: ['union select', 'sleep(']\n"
        "    method:\n        http.request.method: GET\n    condition: sel and method\n"
    )
    [rule] = load_ruleset([path], pipeline="none").rules
    assert set(rule.requirement) == {
        frozenset({Alternative("url.query", "union select"), Alternative("url.query", "sleep(")}),
        frozenset({Alternative("http.request.method", "get", exact=True)}),
    }


def test_numbers_are_indexed_as_numbers(tmp_path: Path) -> None:
    path = tmp_path / "n.yml"
    path.write_text(
        "title: N\nid: 2b8a6e1c-2f4d-4c4b-9d55-1f0e3a1b2c3d\nlogsource:\n    category: test\n"
        "detection:\n    sel:\n        destination.port: [22, 3389]\n    condition: sel\n"
    )
    ruleset = load_ruleset([path], pipeline="none")
    indexed = DetectionEngine(ruleset)
    base = {"@timestamp": "2026-11-02T01:00:00Z", "event.id": "n"}
    for value, expected in ((22, True), ("22", True), (22.0, True), (" 3389 ", True), (23, False), ("22x", False), (True, False)):
        event = {**base, "destination.port": value}
        assert bool(indexed.process(event)) is expected, value
        assert bool(DetectionEngine(ruleset, prefilter=False).process(event)) is expected, value
