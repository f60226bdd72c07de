"""YARA through libyara: bundled pack, carved HTTP bodies, limits, reload, conformance on the corpora."""
from __future__ import annotations

import base64
import json
from pathlib import Path

from typer.testing import CliRunner

from detection_rules import BUNDLED_RULES, BUNDLED_YARA, DetectionEngine, RuleSet, YaraScanner, load_ruleset
from detection_rules.conformance import yara_agreement, yara_false_positives, yara_rule_sets
from tests.conftest import CORPORA, corpus

CHOPPER = b'<?php @eval($_POST["edusoc"]); ?>'  # the one-line shape, written here (not a corpus sample)
BENIGN = b"<?php echo htmlspecialchars($_GET['q'] ?? '', ENT_QUOTES); ?>"


def upload_event(body: bytes, **extra: object) -> dict[str, object]:
    event: dict[str, object] = {
        "@timestamp": "2026-11-02T01:10:03.000000Z",
        "event.id": "http-1",
        "event.kind": "event",
        "event.dataset": "edusoc.http",
        "organization.id": "DEMO-SCHOOL-2",
        "source.ip": "203.0.113.7",
        "http.request.method": "POST",
        "url.path": "/uploads/avatar.php",
        "url.original": "/uploads/avatar.php",
        "http.request.body.content": base64.b64encode(body).decode(),
    }
    event.update(extra)
    return event


def test_carved_upload_body_raises_an_alert_with_rule_tags_and_strings() -> None:
    engine = DetectionEngine(RuleSet(), yara=YaraScanner([BUNDLED_YARA]))
    [alert] = engine.process(upload_event(CHOPPER))
    assert alert.rule_id == "yara:campus_webshells:EDUSOC_PHP_OneLiner_Eval_Request"
    assert "yara.webshell" in alert.tags
    assert alert.unit_id == "DEMO-SCHOOL-2"
    assert alert.matches["scanned"] == "http.request.body.content"
    assert {"identifier": "$eval", "offset": 7, "data": "eval($_POST"} in alert.matches["strings"]
    assert alert.to_event()["rule.id"] == alert.rule_id
    assert engine.process(upload_event(BENIGN)) == []


def test_sigma_and_yara_alerts_come_from_one_engine() -> None:
    engine = DetectionEngine(load_ruleset([BUNDLED_RULES]), yara=YaraScanner([BUNDLED_YARA]))
    event = upload_event(CHOPPER, **{"event.dataset": "edusoc.web", "url.path": "/upload/1.php", "url.original": "/upload/1.php?cmd=id", "url.query": "cmd=id"})
    titles = {alert.rule_title for alert in engine.process(event)}
    assert "YARA EDUSOC_PHP_OneLiner_Eval_Request" in titles
    assert len(titles) >= 2


def test_bad_base64_is_counted_not_fatal() -> None:
    scanner = YaraScanner([BUNDLED_YARA])
    engine = DetectionEngine(RuleSet(), yara=scanner)
    assert engine.process({**upload_event(CHOPPER), "http.request.body.content": "%%% not base64"}) == []
    assert scanner.stats.bad_content == 1


def test_size_limit_scans_only_the_head_and_says_so() -> None:
    scanner = YaraScanner([BUNDLED_YARA], max_bytes=1024)
    [hit] = scanner.scan(CHOPPER + b" " * 4096)
    assert hit.truncated and scanner.stats.truncated == 1
    assert scanner.scan(b" " * 2048 + CHOPPER) == []  # past the limit: not seen


def test_a_slow_rule_times_out_and_is_counted(tmp_path: Path) -> None:
    (tmp_path / "slow.yar").write_text(
        "rule Slow { condition: for all i in (0..filesize) : (for all j in (0..filesize) : (uint8(i) != 0x01 or uint8(j) != 0x02)) }"
    )
    scanner = YaraScanner([tmp_path], timeout_seconds=1)
    assert scanner.scan(b"\x00" * 200_000) == []
    assert scanner.stats.timeouts == 1


def test_reload_picks_up_new_rules_and_keeps_the_set_on_a_broken_file(tmp_path: Path) -> None:
    (tmp_path / "a.yar").write_text('rule A { strings: $a = "alpha-marker" condition: $a }')
    scanner = YaraScanner([tmp_path])
    assert [hit.rule for hit in scanner.scan(b"alpha-marker beta-marker")] == ["A"]
    (tmp_path / "b.yar").write_text('rule B : t1 { strings: $b = "beta-marker" condition: $b }')
    (tmp_path / "broken.yar").write_text("rule Broken { condition: nonsense( }")
    errors = scanner.reload()
    assert [error.path.name for error in errors] == ["broken.yar"]
    assert "does not compile" in errors[0].reason
    assert sorted(hit.rule for hit in scanner.scan(b"alpha-marker beta-marker")) == ["A", "B"]
    assert scanner.namespaces == ["a", "b"]  # one namespace per source file


def test_same_rule_name_in_two_sources_is_two_namespaces(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    for name in ("one", "two"):
        (tmp_path / name / "r.yar").write_text('rule Same { strings: $a = "x-marker" condition: $a }')
    hits = YaraScanner([tmp_path]).scan(b"x-marker")
    assert sorted(hit.rule_id for hit in hits) == ["yara:one/r:Same", "yara:two/r:Same"]


def test_detect_cli_scans_bodies_with_yara(tmp_path: Path) -> None:
    from edusoc.cli import app

    events = tmp_path / "events.ndjson"
    events.write_text(json.dumps(upload_event(CHOPPER)) + "\n" + json.dumps(upload_event(BENIGN, **{"event.id": "h2"})) + "\n")
    result = CliRunner().invoke(app, ["detect", "--rules", str(BUNDLED_RULES), "--events", str(events), "--yara", str(BUNDLED_YARA)])
    assert result.exit_code == 0, result.output
    alerts = [json.loads(line) for line in result.stdout.splitlines()]
    [yara_alert] = [alert for alert in alerts if alert["rule_id"].startswith("yara:")]
    assert yara_alert["rule_id"] == "yara:campus_webshells:EDUSOC_PHP_OneLiner_Eval_Request"
    assert yara_alert["event_ids"] == ["http-1"]


def test_corpus_rule_sets_agree_with_yara_itself_on_the_webshell_samples() -> None:
    corpus("yara", "expected_matches")
    samples = corpus("webshells", "tennc_webshell")
    for name, paths in yara_rule_sets(CORPORA).items():
        result = yara_agreement(CORPORA, name, paths, samples)
        assert result.compile_errors == 0
        assert result.found == result.expected, (name, sorted(result.expected ^ result.found)[:10])


def test_no_false_positive_on_benign_web_files() -> None:
    benign = corpus("benign_web")
    for paths in [*yara_rule_sets(CORPORA).values(), [BUNDLED_YARA]]:
        scanned, matched = yara_false_positives(paths, benign)
        assert scanned > 3000 and matched == 0
