"""Conformance on SigmaHQ's own material (../shared/corpora/sigma): compiled counts and regression data."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from detection_rules.conformance import (
    corpus_statuses, load_events, reference_match_count, regression_cases, run_regression_case,
)
from tests.conftest import corpus

ROOT = Path(__file__).resolve().parent.parent


def test_corpus_compiles_at_least_98_percent_under_the_none_pipeline() -> None:
    statuses = corpus_statuses(corpus("sigma", "rules"), "none")
    compiled = sum(status.status == "compiled" for status in statuses)
    assert all(status.reason for status in statuses if status.status == "rejected")
    assert compiled / len(statuses) >= 0.98, compiled


def test_regression_data_reaches_every_match_count() -> None:
    results = [run_regression_case(case) for case in regression_cases(corpus("sigma", "regression_data"))]
    assert len(results) >= 200
    failing = [(r.case.name, r.case.expected, r.matched, r.error) for r in results if r.error or r.matched < r.case.expected]
    assert failing == []
    exact = sum(result.agrees for result in results)
    # the other 4 state match_count: 1 over files where 2 or 3 events each match (see the next test)
    assert exact >= len(results) - 4
    print(f"regression_data: {exact}/{len(results)} agree with info.yml")


def test_regression_match_counts_equal_pysigma_sqlite_backend_on_every_case() -> None:
    """A second implementation of Sigma (pySigma's SQLite backend) counts the same matches on every file."""
    results = [run_regression_case(case) for case in regression_cases(corpus("sigma", "regression_data"))]
    different = [(r.case.name, r.matched, reference_match_count(r.case)) for r in results]
    different = [row for row in different if row[1] != row[2]]
    assert different == []
    disagreeing_with_info = {r.case.name.split(":")[0].rsplit("/", 1)[1] for r in results if not r.agrees}
    assert disagreeing_with_info <= {
        "file_event_win_anydesk_artefact", "file_event_win_cred_dump_tools_dropped_files",
        "registry_set_change_security_zones", "registry_set_disable_administrative_share",
    }


def test_detect_cli_runs_regression_events_under_the_none_pipeline(tmp_path: Path) -> None:
    case = next(c for c in regression_cases(corpus("sigma", "regression_data")) if "dtrace_kernel_dump" in c.name)
    events = tmp_path / "events.ndjson"
    # the CLI flattens EVTX JSON records itself; one record per line, as an NDJSON file holds them
    events.write_text("\n".join(json.dumps(e) for e in _raw_records(case.events_path)) + "\n")
    result = subprocess.run(
        [sys.executable, "-m", "edusoc.cli", "detect", "--rules", str(case.rule_path), "--events", str(events), "--pipeline", "none"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    alerts = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(alerts) == run_regression_case(case).matched == 2
    assert {a["rule_title"] for a in alerts} == {"Suspicious Kernel Dump Using Dtrace"}
    assert len(load_events(case.events_path)) == 2


def _raw_records(path: Path) -> list[object]:
    from detection_rules.windows_events import json_documents

    return list(json_documents(path.read_text(encoding="utf-8")))


def test_under_the_ecs_pipeline_every_rejection_names_the_log_source_or_the_missing_field() -> None:
    statuses = corpus_statuses(corpus("sigma", "rules"), "ecs")
    rejected = [status for status in statuses if status.status == "rejected"]
    assert all("is not an edusoc event source" in status.reason or "is not in the edusoc event schema" in status.reason
               for status in rejected), [status.reason for status in rejected][:5]
    produced = [s for s in statuses if not (s.reason and "is not an edusoc event source" in s.reason)]
    compiled = [s for s in produced if s.status == "compiled"]
    assert len(compiled) >= 50 and len(compiled) / len(produced) >= 0.85
    assert any(s.path.name == "zeek_http_executable_download_from_webdav.yml" for s in compiled)  # resp_mime_types mapped
