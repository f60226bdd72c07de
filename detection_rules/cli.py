"""Command-line shell over the engine: ``detect`` (events → alerts) and ``rules check``.

Mounted by ``edusoc/cli.py``. Output goes to stdout (NDJSON or a table); everything that was
skipped — rejected rules, bad input lines — is counted and reported on stderr.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from detection_rules.default_set import DetectionSet, default_detection, load_crs
from detection_rules.engine import RuleSet, load_ruleset
from detection_rules.indicators import IndicatorSet
from detection_rules.yara_scan import YaraScanner
from detection_rules.field_mapping import PIPELINE_NAMES
from detection_rules.windows_events import flatten_windows_event, is_windows_event
from soc_core.config import ConfigError, DetectionSettings, load_settings
from soc_core.events import EventError, validate_event

MAX_REPORTED_LINE_ERRORS = 20

rules_app = typer.Typer(help="Inspect Sigma rule files.", no_args_is_help=True)


def _checked_pipeline(name: str) -> str:
    if name not in PIPELINE_NAMES:
        raise typer.BadParameter(f"expected one of {', '.join(PIPELINE_NAMES)}, got {name!r}")
    return name


def _report_rule_errors(ruleset: RuleSet) -> None:
    for error in ruleset.errors:
        typer.echo(f"rule rejected: {error}", err=True)


def detect(
    events: Annotated[Path, typer.Option("--events", help="NDJSON file of ECS events ('-' for stdin).")],
    rules: Annotated[Optional[list[Path]], typer.Option("--rules", help="Sigma rule file or directory (repeatable). Without --rules, --yara and --crs: exactly what `edusoc run` loads (settings).")] = None,
    pipeline: Annotated[str, typer.Option("--pipeline", help="Field mapping: ecs, or none for events in Sigma's own field names (EVTX JSON records are flattened).")] = "ecs",
    yara: Annotated[Optional[list[Path]], typer.Option("--yara", help="YARA rule file or directory (repeatable): scan carved HTTP bodies.")] = None,
    indicators: Annotated[Optional[list[Path]], typer.Option("--indicators", help="Indicator list: CSV (type,value,...) or STIX 2 bundle .json (repeatable).")] = None,
    crs: Annotated[Optional[Path], typer.Option("--crs", help="OWASP CRS rules directory: run the CRS (paranoia level and threshold from the settings) on every HTTP request.")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML settings file (else $EDUSOC_CONFIG, else defaults): the default rule set and CRS settings.")] = None,
) -> None:
    """Run detection over NDJSON events; print alerts as NDJSON on stdout.

    With no rule flags the rule set is the one `edusoc run` uses (Sigma pack, YARA pack, indicator lists, OWASP CRS).
    Exits 1 when every input line was rejected."""
    settings = _detection_settings(config)
    if rules is None and yara is None and crs is None:
        detection = default_detection(settings)
        if indicators:
            detection.indicators = _indicators(indicators, detection.indicators)
        for problem in detection.problems:
            typer.echo(problem, err=True)
        if pipeline != "ecs":
            detection.ruleset = load_ruleset([Path(p) for p in settings.sigma_paths], pipeline=_checked_pipeline(pipeline),
                                             placeholders=settings.placeholders)
    else:
        ruleset = load_ruleset(rules or [], pipeline=_checked_pipeline(pipeline))
        _report_rule_errors(ruleset)
        scanner = YaraScanner(yara) if yara else None
        for error in scanner.errors if scanner else ():
            typer.echo(f"YARA file left out: {error}", err=True)
        crs_engine = None
        if crs is not None:
            crs_engine, crs_problem = load_crs(settings.crs.model_copy(update={"rules_dir": str(crs), "enabled": True}))
            if crs_problem:
                typer.echo(crs_problem, err=True)
                raise typer.Exit(2)
        detection = DetectionSet(ruleset, scanner, _indicators(indicators, None) if indicators else None, crs_engine)
    typer.echo(f"detection: {detection.describe()}", err=True)
    engine = detection.engine()
    counts = {"events": 0, "bad_lines": 0, "alerts": 0}
    first_reason = ""
    stream = sys.stdin if str(events) == "-" else events.open(encoding="utf-8", errors="replace")
    try:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                event = _read_event(json.loads(line), pipeline)
                alerts = engine.process(event)
            except json.JSONDecodeError as error:
                first_reason = first_reason or f"line {number}: invalid JSON: {error.msg} at column {error.colno}"
                _bad_line(counts, number, f"invalid JSON: {error.msg} at column {error.colno}")
                continue
            except EventError as error:
                first_reason = first_reason or f"line {number}: {error.reason}"
                _bad_line(counts, number, error.reason)
                continue
            counts["events"] += 1
            for alert in alerts:
                counts["alerts"] += 1
                sys.stdout.write(json.dumps(alert.to_dict(), ensure_ascii=False, sort_keys=True) + "\n")
    finally:
        if stream is not sys.stdin:
            stream.close()
    sys.stdout.flush()
    ruleset = detection.ruleset
    typer.echo(
        f"{counts['events']} events, {counts['alerts']} alerts, {counts['bad_lines']} bad lines skipped, "
        f"{len(ruleset.rules)} rules compiled, {len(ruleset.errors)} rule errors",
        err=True,
    )
    if counts["bad_lines"] and not counts["events"]:
        typer.echo(f"every input line was rejected ({counts['bad_lines']} lines); first: {first_reason}", err=True)
        raise typer.Exit(1)


def _detection_settings(config: Path | None) -> DetectionSettings:
    try:
        return load_settings(config).detection
    except ConfigError as error:
        typer.echo(f"configuration error: {error}", err=True)
        raise typer.Exit(2) from error


def _indicators(paths: list[Path], into: IndicatorSet | None) -> IndicatorSet:
    indicator_set = into if into is not None else IndicatorSet()
    for path in paths:
        indicator_set.load_file(path)
    for problem in indicator_set.problems:
        typer.echo(f"indicator skipped: {problem}", err=True)
    return indicator_set


def _read_event(document: object, pipeline: str) -> dict[str, object]:
    """An input line as an event: ECS-validated, or under ``none`` as written (EVTX JSON flattened)."""
    if pipeline == "ecs":
        return validate_event(document)
    if is_windows_event(document):
        return flatten_windows_event(document)  # type: ignore[arg-type]
    if not isinstance(document, dict):
        raise EventError(f"an event must be a JSON object, got {type(document).__name__}")
    return document


def _bad_line(counts: dict[str, int], number: int, reason: str) -> None:
    counts["bad_lines"] += 1
    if counts["bad_lines"] <= MAX_REPORTED_LINE_ERRORS:
        typer.echo(f"line {number}: {reason}", err=True)
    elif counts["bad_lines"] == MAX_REPORTED_LINE_ERRORS + 1:
        typer.echo("(further bad lines are only counted)", err=True)


@rules_app.command("check")
def check(
    paths: Annotated[list[Path], typer.Argument(help="Sigma rule files or directories.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per file.")] = False,
    pipeline: Annotated[str, typer.Option("--pipeline", help="Field mapping: ecs or none.")] = "ecs",
) -> None:
    """Report, per rule file, whether it compiled or why it was rejected; exit 1 if any was rejected."""
    ruleset = load_ruleset(paths, pipeline=_checked_pipeline(pipeline))
    statuses = ruleset.file_statuses()
    # a path that does not exist has no status of its own: report it as a rejected file
    listed = {status.path for status in statuses}
    missing = [error for error in ruleset.errors if error.path not in listed]
    rejected = 0
    for status in statuses:
        rejected += status.status == "rejected"
        _print_status(str(status.path), status.status, status.reason, status.line, as_json)
    for error in missing:
        rejected += 1
        _print_status(str(error.path), "rejected", error.reason, error.line, as_json)
    if not as_json:
        typer.echo(f"{len(statuses) + len(missing) - rejected} compiled, {rejected} rejected", err=True)
    raise typer.Exit(1 if rejected else 0)


def _print_status(path: str, status: str, reason: str | None, line: int | None, as_json: bool) -> None:
    if as_json:
        record: dict[str, object] = {"path": path, "status": status, "reason": reason}
        if line is not None:
            record["line"] = line
        typer.echo(json.dumps(record, ensure_ascii=False))
    elif status == "compiled":
        typer.echo(f"compiled  {path}")
    else:
        where = f"{path}:{line}" if line else path
        typer.echo(f"rejected  {where}: {reason}")
