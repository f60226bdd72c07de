"""Scenario replay: packs built with scapy go through sensor → collector → detection, and the coverage says what fired."""
from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from drills.coverage import heatmap, measure, summary
from drills.scenarios import BY_NAME, SCENARIOS, Hosts, build_pack, select_scenarios
from edusoc.cli import app
from edusoc.drill_replay import Target, replay
from tests.api_helpers import start_demo_process


def test_every_scenario_names_its_techniques_and_attacker() -> None:
    assert {"port_scan", "ssh_brute_force", "sql_injection", "xss", "path_traversal", "webshell_upload",
            "webshell_access", "dns_tunnel", "stratum_mining"} <= set(BY_NAME)
    for scenario in SCENARIOS:
        assert scenario.techniques and all(t.startswith("T") for t in scenario.techniques)
        assert scenario.attacker(Hosts()).startswith("198.51.100.")


def test_a_pack_is_deterministic_and_each_scenario_has_its_own_slot() -> None:
    chosen = select_scenarios("sql_injection,stratum_mining")
    first, placed = build_pack(chosen, 1_796_000_000.0)
    second, _ = build_pack(chosen, 1_796_000_000.0)
    assert [bytes(p) for p in first] == [bytes(p) for p in second]
    assert placed[0].end <= placed[1].start


def test_replay_through_the_collector_reports_alerted_logged_and_none(tmp_path: Path, clock) -> None:  # type: ignore[no-untyped-def]
    demo = start_demo_process(tmp_path, clock)
    try:
        start = clock.now().timestamp() - 3600
        chosen = select_scenarios("port_scan,stratum_mining")
        run = replay(chosen, Target("school1", demo.sensors["sensor-school1-edge"].token, Hosts()), start,
                     "http://testserver", demo.runtime.event_store, client=demo.client)
        assert run.shipped.ok and run.shipped.accepted > 0
        scan, mining = run.coverage
        assert (scan.outcome, scan.rules, scan.unit) == ("Alerted", ("TCP Port Scan",), "示范区第一中学")
        assert scan.time_to_detect_seconds == 2.45  # the 50th refused port, one every 50 ms
        assert (mining.outcome, mining.rules, mining.events) == ("Logged", (), 1)  # Stratum by IP: no rule for it yet
        # a scenario that was never replayed left nothing in the store
        _, unplayed = build_pack(select_scenarios("xss"), start + 7200)
        assert measure(demo.runtime.event_store, unplayed)[0].outcome == "None"
        assert heatmap(run.coverage) == {"T1046": {"outcome": "Alerted", "scenarios": ["port_scan:Alerted"]},
                                         "T1496": {"outcome": "Logged", "scenarios": ["stratum_mining:Logged"]}}
        assert summary(run.coverage)["units"] == [{"unit": "示范区第一中学", "scenarios": 2, "alerted": 1, "logged": 1,
                                                   "none": 0, "alerted_ratio": 0.5}]
    finally:
        demo.runtime.close()


def test_cli_prints_the_table_and_ends_with_one_json_line() -> None:
    result = CliRunner().invoke(app, ["drill", "replay", "--scenarios", "sql_injection,c2_http_beacon"])
    assert result.exit_code == 0, result.output
    assert "演练场景检测覆盖" in result.output and "SQL Injection Attempt In URL Query String" in result.output
    line = json.loads(result.output.strip().splitlines()[-1])["drill_replay"]
    assert (line["scenarios"], line["alerted"], line["logged"], line["none"]) == (4, 2, 2, 0)
    assert {u["unit"] for u in line["units"]} == {"示范区第一中学", "示范区实验小学"}


def test_cli_refuses_an_unknown_scenario() -> None:
    result = CliRunner().invoke(app, ["drill", "replay", "--scenarios", "port_scan,teleport"])
    assert result.exit_code == 2
    assert "teleport" in result.output
