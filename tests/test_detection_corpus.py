"""The public SigmaHQ corpus: every rule file is either compiled or rejected with a reason."""
from __future__ import annotations

from detection_rules import load_ruleset
from tests.conftest import corpus


def test_every_corpus_rule_is_compiled_or_rejected_with_a_reason() -> None:
    rules = corpus("sigma", "rules")
    ruleset = load_ruleset([rules])
    statuses = ruleset.file_statuses()
    assert len(statuses) == len(list(rules.rglob("*.yml")))
    for status in statuses:
        assert status.status in ("compiled", "rejected")
        if status.status == "rejected":
            assert status.reason, status.path
    compiled = sum(status.status == "compiled" for status in statuses)
    assert compiled > 0
    print(f"sigma corpus: {compiled} compiled, {len(statuses) - compiled} rejected")
