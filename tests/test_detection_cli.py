"""`detect` and `rules check`, through typer's CliRunner."""
from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from detection_rules import BUNDLED_RULES
from detection_rules.cli import detect, rules_app
from soc_core.events import stable_event_id

app = typer.Typer()
app.command("detect")(detect)
app.add_typer(rules_app, name="rules")
runner = CliRunner()

BAD_RULE = """\
title: Uses Cidr
id: 5a7e0f3c-1d2b-4c5d-8e9f-0a1b2c3d4e5f
logsource:
    category: firewall
detection:
    selection:
        dst_ip|expand: '%internal_nets%'
    condition: selection
level: low
"""


def web_line(target: str) -> str:
    path, _, query = target.partition("?")
    return json.dumps({
        "@timestamp": "2026-11-02T01:10:03Z",
        "event.id": stable_event_id(target),
        "event.kind": "event",
        "event.dataset": "edusoc.web",
        "source.ip": "203.0.113.7",
        "url.original": target,
        "url.path": path,
        "url.query": query,
    })


def test_detect_writes_alerts_as_ndjson_and_counts_bad_lines(tmp_path: Path) -> None:
    events = tmp_path / "events.ndjson"
    events.write_text(
        "\n".join([
            web_line("/news.php?id=1%27%20union%20select%201,2--"),
            "{not json",
            json.dumps({"event.id": "x"}),
            web_line("/index.html?x=1"),
            web_line("/uploads/shell.php?cmd=whoami"),
        ])
        + "\n"
    )
    bad_rules = tmp_path / "bad"
    bad_rules.mkdir()
    (bad_rules / "placeholder.yml").write_text(BAD_RULE)
    result = runner.invoke(app, ["detect", "--rules", str(BUNDLED_RULES), "--rules", str(bad_rules), "--events", str(events)])
    assert result.exit_code == 0, result.output
    alerts = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["rule_title"] for a in alerts] == [
        "SQL Injection Attempt In URL Query String",
        "Webshell Access In An Upload Or Image Directory",
    ]
    assert "line 2: invalid JSON" in result.stderr
    assert "line 3: @timestamp: required field is missing" in result.stderr
    assert "placeholder.yml" in result.stderr and "placeholder '%internal_nets%'" in result.stderr
    assert "3 events, 2 alerts, 2 bad lines skipped, 14 rules compiled, 1 rule errors" in result.stderr


def test_detect_rejects_an_unknown_pipeline(tmp_path: Path) -> None:
    events = tmp_path / "e.ndjson"
    events.write_text("")
    result = runner.invoke(app, ["detect", "--rules", str(BUNDLED_RULES), "--events", str(events), "--pipeline", "splunk"])
    assert result.exit_code != 0


def test_rules_check_reports_each_file_and_fails_on_rejection(tmp_path: Path) -> None:
    (tmp_path / "placeholder.yml").write_text(BAD_RULE)
    (tmp_path / "broken.yaml").write_text("title: [unclosed\n")
    result = runner.invoke(app, ["rules", "check", str(BUNDLED_RULES), str(tmp_path), "--json"])
    assert result.exit_code == 1
    records = {Path(r["path"]).name: r for r in map(json.loads, result.stdout.splitlines())}
    assert records["net_tcp_port_scan.yml"] == {
        "path": str(BUNDLED_RULES / "network" / "net_tcp_port_scan.yml"), "status": "compiled", "reason": None
    }
    assert records["placeholder.yml"]["status"] == "rejected"
    assert "placeholder '%internal_nets%'" in records["placeholder.yml"]["reason"]
    assert records["placeholder.yml"]["line"] == 7
    assert records["broken.yaml"]["reason"].startswith("malformed YAML")
    assert len(records) == 13


def test_rules_check_passes_on_the_bundled_pack() -> None:
    result = runner.invoke(app, ["rules", "check", str(BUNDLED_RULES)])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("compiled  ") == 11
    assert "11 compiled, 0 rejected" in result.stderr
