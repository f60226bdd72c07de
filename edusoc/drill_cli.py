"""`edusoc drill …`: the drill organizer's commands on the command line."""
from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from drills.coverage import OUTCOME_ZH, ScenarioCoverage, by_unit, summary
from drills.scenarios import Hosts, UnknownScenario, select_scenarios
from edusoc.demo import seed_demo_region
from edusoc.drill_replay import Target, pack_span, replay, serving_on_loopback
from edusoc.runtime import build_runtime
from soc_core.clock import SystemClock
from soc_core.config import EventStoreSettings, Settings

drill_app = typer.Typer(help="攻防演练 Red-blue drills: scenario replay and detection coverage.", no_args_is_help=True)
# A table of eight columns needs room: when piped (no terminal width), print it 200 columns wide.
out = Console(width=None if Console().is_terminal else 200)
err = Console(stderr=True)

# Where the replay lands in the demo region: 第一中学 (10.20.0.0/16) and 实验小学 (10.30.0.0/16), each through its own sensor.
REPLAY_TARGETS = (
    ("sensor-school1-edge", Hosts()),
    ("sensor-school2-web", Hosts(web="10.30.1.80", server="10.30.2.10", workstation="10.30.5.23")),
)
_STYLE = {"Alerted": "green", "Logged": "yellow", "None": "red"}


@drill_app.command("replay")
def drill_replay(
    scenarios: Annotated[str, typer.Option("--scenarios", help="all, or names separated by commas")] = "all",
    keep: Annotated[Optional[Path], typer.Option("--keep", help="keep the pcaps and the stores in this directory")] = None,
) -> None:
    """Replay the scenario packs against the demo region (a fresh SQLite store) and print the detection coverage.

    Each pack goes the real path: pcap → sensor reader → gzip NDJSON over HTTP with the sensor's token → collector →
    Sigma/YARA → EventStore. The last line is one JSON object: counts, per-unit figures, the ATT&CK heatmap, each row."""
    try:
        chosen = select_scenarios(scenarios)
    except UnknownScenario as exc:
        err.print(f"[red]--scenarios:[/red] {exc}")
        raise typer.Exit(2) from exc
    logging.getLogger("edusoc").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="edusoc-drill-replay-") as scratch:
        workdir = keep or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        clock = SystemClock()
        # SQLite whatever the environment says: the coverage is read back at once (Elasticsearch only after a refresh).
        runtime = build_runtime(Settings(data_dir=str(workdir / "var"), event_store=EventStoreSettings(backend="sqlite")), clock)
        try:
            with runtime.sessions() as session:
                tokens = {sensor.name: sensor.token for sensor in seed_demo_region(session, clock)}
            span = pack_span(chosen)
            start = float(int(clock.now().timestamp()) // 60 * 60) - span * len(REPLAY_TARGETS) - 60
            rows: list[ScenarioCoverage] = []
            with serving_on_loopback(runtime.app) as url:
                for index, (sensor, hosts) in enumerate(REPLAY_TARGETS):
                    run = replay(chosen, Target(sensor, tokens[sensor], hosts), start + index * span, url,
                                 runtime.event_store, workdir=workdir)
                    if not run.shipped.ok:
                        err.print(f"[red]{sensor}: shipping failed:[/red] {'; '.join(run.shipped.failures)}")
                        raise typer.Exit(1)
                    rows += run.coverage
        finally:
            runtime.close()
    out.print(coverage_table(rows))
    for unit in by_unit(rows):
        out.print(f"{unit.unit}: {unit.scenarios} 个场景，已告警 {unit.alerted}，仅记录 {unit.logged}，未发现 {unit.none}"
                  f"（告警覆盖率 {unit.alerted_ratio:.0%}）")
    print(json.dumps({"drill_replay": summary(rows)}, ensure_ascii=False, separators=(",", ":")))


def coverage_table(rows: list[ScenarioCoverage]) -> Table:
    table = Table(title="演练场景检测覆盖 Detection coverage (VECTR: Alerted / Logged / None)")
    for column in ("场景 Scenario", "ATT&CK", "单位 Unit", "攻击源 Attacker", "结果 Outcome", "触发规则 Rule", "检出用时 TTD",
                   "事件 Events"):
        table.add_column(column)
    for row in rows:
        style = _STYLE[row.outcome]
        table.add_row(
            f"{row.title} ({row.scenario})", ", ".join(row.techniques), row.unit or "—", row.attacker,
            f"[{style}]{OUTCOME_ZH[row.outcome]} {row.outcome}[/{style}]", "\n".join(row.rules) or "—",
            "—" if row.time_to_detect_seconds is None else f"{row.time_to_detect_seconds:.1f} s", str(row.events),
        )
    return table
