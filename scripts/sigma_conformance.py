#!/usr/bin/env python3
"""Conformance on SigmaHQ's material: corpus compiled/rejected counts and regression_data agreement.

    .venv/bin/python scripts/sigma_conformance.py [--corpus ../shared/corpora/sigma] [--verbose]

Prints per-pipeline compiled counts over ``rules/`` and, for ``regression_data/`` (run under the
``none`` pipeline, as its events use Sigma's field names), the agreement with the ``match_count``
each info.yml states (≥ 1 where it states none, as SigmaHQ's runner checks), the agreement by
SigmaHQ's own regression runner (the rule fires), and the agreement of the match counts with a
second implementation (pySigma's SQLite backend over the same events), then one JSON line.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from detection_rules.conformance import (  # noqa: E402
    corpus_statuses, reference_match_count, regression_cases, run_regression_case,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent.parent / "shared" / "corpora" / "sigma")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    corpus = args.corpus if args.corpus.exists() else ROOT.parent / "shared" / "corpora" / "sigma"
    figures: dict[str, object] = {}
    for pipeline in ("none", "ecs"):
        statuses = corpus_statuses(corpus / "rules", pipeline)
        compiled = sum(status.status == "compiled" for status in statuses)
        reasons = Counter((status.reason or "")[:100] for status in statuses if status.status == "rejected")
        print(f"rules/ under pipeline {pipeline}: {compiled}/{len(statuses)} compiled ({100 * compiled / len(statuses):.1f} %), "
              f"{len(statuses) - compiled} rejected with a reason")
        for reason, count in reasons.most_common(5 if not args.verbose else None):
            print(f"    {count:4d} × {reason}")
        figures[f"compiled_{pipeline}"] = compiled
        if pipeline == "ecs":
            # rules whose log source edusoc produces: the rest are rejected for their source, not a field
            foreign = sum(status.status == "rejected" and "is not an edusoc event source" in (status.reason or "") for status in statuses)
            produced = len(statuses) - foreign
            print(f"    of the {produced} rules whose log source edusoc produces: {compiled} compiled "
                  f"({100 * compiled / max(produced, 1):.1f} %), {produced - compiled} rejected naming a field edusoc lacks; "
                  f"{foreign} rejected because edusoc has no such log source")
            figures.update(ecs_sources_produced=produced, ecs_foreign_source=foreign)
        figures["rules"] = len(statuses)
    results = [run_regression_case(case) for case in regression_cases(corpus / "regression_data")]
    exact = sum(result.agrees for result in results)
    at_least = sum(result.error is None and result.matched >= 1 for result in results)
    references = {result.case.name: reference_match_count(result.case) for result in results}
    same_as_reference = sum(result.error is None and result.matched == references[result.case.name] for result in results)
    print(f"regression_data: {exact}/{len(results)} agree with info.yml's match_count ({100 * exact / len(results):.1f} %), "
          f"{at_least}/{len(results)} by SigmaHQ's runner (the rule fires) ({100 * at_least / len(results):.1f} %), "
          f"{same_as_reference}/{len(results)} same match count as pySigma's SQLite backend "
          f"({100 * same_as_reference / len(results):.1f} %)")
    for result in results:
        if not result.agrees or result.matched != references[result.case.name]:
            stated = result.case.expected if result.case.stated else "≥ 1 (not stated)"
            print(f"    {result.case.name}: info.yml {stated}, engine {result.matched}, "
                  f"SQLite backend {references[result.case.name]}" + (f" ({result.error})" if result.error else ""))
    figures.update(regression_cases=len(results), regression_stated=exact, regression_fires=at_least,
                   regression_same_as_reference=same_as_reference)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
