"""Conformance of the engine on SigmaHQ's own material.

* ``corpus_statuses``: every rule file of a directory is compiled or rejected with a reason;
* ``regression_cases`` / ``run_regression_case``: SigmaHQ's ``regression_data/`` — for each
  ``info.yml``, the rule (``rule.yml`` beside it) run over the test's events must give the
  ``match_count`` the file states, or at least one match where it states none (SigmaHQ's own
  runner only checks that the rule fires). The events are Windows event-log records in
  Sigma's field names, so they run under the ``none`` pipeline;
* ``reference_match_count``: the same rule converted by pySigma's SQLite backend (an
  implementation of Sigma's semantics independent of this engine) and run over the same
  events in an in-memory SQLite table — the count a second implementation gives.
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
    stated: bool = True  # False: info.yml gives no match_count, the test asks for ≥ 1 match


@dataclass(frozen=True)
class RegressionResult:
    case: RegressionCase
    matched: int
    error: str | None = None

    @property
    def agrees(self) -> bool:
        if self.error is not None:
            return False
        return self.matched == self.case.expected if self.case.stated else self.matched >= 1


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
                stated="match_count" in test,
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


def reference_match_count(case: RegressionCase) -> int:
    """Matches pySigma's SQLite backend finds for the case's rule over the case's events."""
    import re
    import sqlite3

    from sigma.backends.sqlite import sqliteBackend
    from sigma.collection import SigmaCollection

    queries = sqliteBackend().convert(SigmaCollection.from_yaml(case.rule_path.read_text(encoding="utf-8")))
    # SQLite's column names are case-insensitive: one column per name, whatever its case
    rows = [{name.lower(): value for name, value in event.items()} for event in load_events(case.events_path)]
    columns = sorted({name for row in rows for name in row})
    with sqlite3.connect(":memory:") as db:
        db.create_function("REGEXP", 2, lambda pattern, value: value is not None and re.search(pattern, str(value)) is not None)
        db.execute(f"CREATE TABLE logs ({', '.join(_quoted(name) for name in columns)})")
        for row in rows:
            db.execute(
                f"INSERT INTO logs ({', '.join(_quoted(name) for name in row)}) VALUES ({', '.join('?' * len(row))})",
                [value if isinstance(value, (str, int, float)) or value is None else str(value) for value in row.values()],
            )
        return sum(len(db.execute(query).fetchall()) for query in queries)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# -- YARA ------------------------------------------------------------------------------------

SIGNATURE_BASE_WEBSHELL_FILES = (
    "gen_webshells.yar", "thor-webshells.yar", "gen_cn_webshells.yar", "cn_pentestset_webshells.yar",
    "apt_laudanum_webshells.yar", "apt_webshell_chinachopper.yar", "gen_webshell_csharp.yar",
    "webshell_regeorg.yar", "webshell_xsl_transform.yar", "gen_b374k_extra.yar",
)
# files that need external variables set by the caller are not part of the expected runs
EXTERNAL_VARIABLE_FILES = ("gen_webshells_ext_vars.yar", "gen_susp_obfuscation.yar")


@dataclass(frozen=True)
class YaraAgreement:
    name: str
    expected: frozenset[tuple[str, str]]  # (rule, file relative to the corpora folder)
    found: frozenset[tuple[str, str]]
    files_scanned: int
    compile_errors: int

    @property
    def agreement(self) -> float:
        union = self.expected | self.found
        return len(self.expected & self.found) / len(union) if union else 1.0


def yara_rule_sets(corpora: Path) -> dict[str, list[Path]]:
    """The three rule sets ``yara/expected_matches`` was produced with."""
    base = corpora / "yara" / "signature-base"
    misc = sorted(
        path for path in base.glob("*.yar")
        if path.name not in SIGNATURE_BASE_WEBSHELL_FILES and path.name not in EXTERNAL_VARIABLE_FILES
    )
    return {
        "signature-base_webshell-rules": [base / name for name in SIGNATURE_BASE_WEBSHELL_FILES],
        "yara-rules_webshells_index": [corpora / "yara" / "yara-rules" / "webshells_index.yar"],
        "signature-base_misc-rules": misc,
    }


def yara_agreement(corpora: Path, name: str, rule_paths: list[Path], samples: Path) -> YaraAgreement:
    """Scan every file under ``samples`` and compare with ``expected_matches/<name>_on_tennc.tsv``."""
    from detection_rules.yara_scan import YaraScanner

    scanner = YaraScanner(rule_paths, max_bytes=64 * 1024 * 1024, timeout_seconds=60)
    expected_path = corpora / "yara" / "expected_matches" / f"{name}_on_tennc.tsv"
    expected = frozenset(
        (rule, sample) for rule, sample in (
            line.split("\t", 1) for line in expected_path.read_text(encoding="utf-8").splitlines()[1:] if "\t" in line
        )
    )
    found: set[tuple[str, str]] = set()
    files = sorted(path for path in samples.rglob("*") if path.is_file())
    for path in files:
        relative = path.relative_to(corpora).as_posix()
        found.update((hit.rule, relative) for hit in scanner.scan_file(path))
    return YaraAgreement(name, expected, frozenset(found), len(files), len(scanner.errors))


def yara_false_positives(rule_paths: list[Path], benign: Path) -> tuple[int, int]:
    """(files scanned, files with a hit) over ``benign``."""
    from detection_rules.yara_scan import YaraScanner

    scanner = YaraScanner(rule_paths, max_bytes=64 * 1024 * 1024, timeout_seconds=60)
    files = [path for path in benign.rglob("*") if path.is_file()]
    return len(files), sum(1 for path in files if scanner.scan_file(path))
