"""`edusoc`: one command line for every component (typer; `--help` works everywhere)."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.orm import Session

from detection_rules.cli import detect, rules_app
from edusoc.drill_cli import drill_app
from sensors.cli import app as sensor_app
from soc_core.clock import SystemClock
from soc_core.config import ConfigError, Settings, load_settings
from soc_core.db import make_engine, migrate, session_factory
from soc_core.models import Unit
from soc_core.org import Role
from soc_core.repositories import OrgError, create_user, register_sensor

app = typer.Typer(help="edusoc — 教育专网安全运营与态势感知平台 / security operations for an education network.",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)
user_app = typer.Typer(help="Manage user accounts.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(sensor_app, name="sensor", help="Sensors: turn pcaps and logs into events.")
app.add_typer(rules_app, name="rules", help="Detection rules: check Sigma rule files.")
events_app = typer.Typer(help="The event store: retention.", no_args_is_help=True)
app.add_typer(events_app, name="events")
compliance_app = typer.Typer(help="Inventory checks (MLPS, app filing, discovery, coverage) and the app filing list.",
                              no_args_is_help=True)
app.add_typer(compliance_app, name="compliance")
app.add_typer(drill_app, name="drill")
ingest_app = typer.Typer(help="The collector's ingest path.", no_args_is_help=True)
quarantine_app = typer.Typer(help="Events the store refused for their content (<data_dir>/ingest-quarantine).",
                             no_args_is_help=True)
ingest_app.add_typer(quarantine_app, name="quarantine")
app.add_typer(ingest_app, name="ingest")
app.command("detect", help="Run Sigma rules over NDJSON events; alerts as NDJSON on stdout.")(detect)
err = Console(stderr=True)

ConfigOption = Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML settings file (else $EDUSOC_CONFIG, else defaults).")]


def _settings(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


def _find_unit(session: Session, ref: str) -> Unit:
    unit = session.scalar(select(Unit).where(Unit.code == ref))
    if unit is None and ref.isdigit():
        unit = session.get(Unit, int(ref))
    if unit is None:
        err.print(f"[red]no unit with code or id {ref!r}[/red]")
        raise typer.Exit(2)
    return unit


@app.command()
def run(
    config: ConfigOption = None,
    demo: Annotated[bool, typer.Option("--demo/--no-demo", help="Seed the demo region and replay the bundled sample traffic.")] = False,
    host: Annotated[Optional[str], typer.Option(help="Listen address (default from settings: 127.0.0.1).")] = None,
    port: Annotated[Optional[int], typer.Option(help="Listen port (default from settings: 8000).")] = None,
) -> None:
    """Run the API, the web UI and the collector in one process."""
    from edusoc.serve import serve

    settings = _settings(config)
    if host:
        settings.api.host = host
    if port:
        settings.api.port = port
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(settings, demo=demo)


@contextmanager
def _case_store(config: Path | None) -> Iterator[Session]:
    """A migrated case-store session that commits on success and turns OrgError into exit 1."""
    settings = _settings(config)
    engine = make_engine(settings.case_store_url)
    migrate(engine)
    try:
        with session_factory(engine)() as session:
            yield session
            session.commit()
    except OrgError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()


@user_app.command("add")
def user_add(
    username: str,
    role: Annotated[Role, typer.Option(help="system_admin, duty_officer, school_admin, drill_organizer or regulator.")],
    unit: Annotated[str, typer.Option(help="Unit code or id the user belongs to.")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    display_name: Annotated[str, typer.Option(help="Name shown in the UI.")] = "",
    config: ConfigOption = None,
) -> None:
    """Create a user account (password policy applies; stored as an Argon2id hash). They enrol TOTP at first login."""
    from soc_core.accounts import policy_from

    policy = policy_from(_settings(config).auth)
    with _case_store(config) as session:
        user = create_user(session, SystemClock(), username, password, role, _find_unit(session, unit), display_name, actor="cli",
                           policy=policy)
        typer.echo(f"created user {user.username} ({role.value}) in {user.unit.name}")


@app.command("register-sensor")
def register_sensor_command(
    name: str,
    unit: Annotated[str, typer.Option(help="Unit code or id the sensor belongs to.")],
    config: ConfigOption = None,
) -> None:
    """Register a sensor and print its token once (only a hash is kept)."""
    with _case_store(config) as session:
        typer.echo(register_sensor(session, SystemClock(), name, _find_unit(session, unit), actor="cli").token)


@events_app.command("retention")
def events_retention(
    days: Annotated[Optional[int], typer.Option(min=1, help="Keep this many days before today (default: event_store.retention_days, 184).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list the days that would be deleted.")] = False,
    config: ConfigOption = None,
) -> None:
    """Delete whole days of events older than the retention period (what the scheduled job does)."""
    from collectors.retention import enforce_retention, retention_cutoff
    from edusoc.runtime import open_event_store

    settings = _settings(config)
    keep = days or settings.event_store.retention_days
    clock = SystemClock()
    store = open_event_store(settings)
    engine = make_engine(settings.case_store_url)
    try:
        cutoff = retention_cutoff(clock, keep)
        if dry_run:
            doomed = [d for d in store.days() if d < cutoff]
            typer.echo(f"would delete {len(doomed)} day(s) before {cutoff}: {', '.join(map(str, doomed)) or '-'}")
            return
        migrate(engine)
        dropped = enforce_retention(store, clock, keep, session_factory(engine), actor="cli")
        typer.echo(f"deleted {len(dropped)} day(s) before {cutoff}: {', '.join(map(str, dropped)) or '-'}")
    finally:
        store.close()
        engine.dispose()


@compliance_app.command("check")
def compliance_check(config: ConfigOption = None) -> None:
    """Run every inventory check once, update the findings and take a compliance snapshot."""
    from edusoc.runtime import open_event_store
    from compliance.figures import take_snapshots
    from compliance.check_runner import run_checks

    settings = _settings(config)
    store = open_event_store(settings)
    try:
        with _case_store(config) as session:
            clock = SystemClock()
            result = run_checks(session, clock, settings.compliance, store, actor="cli")
            snapshots = take_snapshots(session, clock, settings)
    finally:
        store.close()
    typer.echo(f"findings: {result.opened} opened, {result.still_open} still open, {result.resolved} resolved; "
               f"{snapshots} compliance snapshot(s)")


@compliance_app.command("import-apps")
def compliance_import_apps(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV export of the national education-app filing list.")],
    config: ConfigOption = None,
) -> None:
    """Import the national education-app filing list (备案号, APP名称, 提供者, 状态, 域名)."""
    from inventory.app_registry import import_registry_csv
    from inventory.asset_import import ImportFileError

    with _case_store(config) as session:
        try:
            report = import_registry_csv(session, SystemClock(), "cli", path.read_bytes())
        except ImportFileError as exc:
            err.print(f"[red]{path}: {exc}[/red]")
            raise typer.Exit(1) from exc
    for line, reason in report.rejected:
        err.print(f"{path}:{line}: {reason}")
    typer.echo(f"{report.created} created, {report.updated} updated, {len(report.rejected)} rejected")




audit_app = typer.Typer(help="The audit log: verify its hash chain, prune entries past retention.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(config: ConfigOption = None) -> None:
    """Recompute the audit log's hash chain; exit 1 naming each entry that was edited or follows a removed one."""
    from soc_core.audit import verify_chain

    with _case_store(config) as session:
        report = verify_chain(session)
    typer.echo(f"审计日志哈希链：校验 {report.checked} 条（{report.first_id or '-'} … {report.last_id or '-'}），"
               f"链前未入链 {report.unchained} 条 / checked {report.checked} entries, {report.unchained} before the chain")
    for chain_break in report.breaks:
        typer.echo(f"  条目 entry {chain_break.entry_id}: {chain_break.reason}")
    if not report.ok:
        err.print(f"[red]审计日志被改动 / the audit log was tampered with: {len(report.breaks)} entr(y/ies)[/red]")
        raise typer.Exit(1)
    typer.echo("完好 / intact")


@audit_app.command("prune")
def audit_prune(config: ConfigOption = None) -> None:
    """Delete audit entries older than audit.retention_days (at least 184); the pruning is audited."""
    from soc_core.audit import prune_audit

    settings = _settings(config)
    with _case_store(config) as session:
        deleted = prune_audit(session, SystemClock(), settings.audit.retention_days, actor="cli")
    typer.echo(f"deleted {deleted} audit entr(y/ies) older than {max(settings.audit.retention_days, 184)} days")


def _quarantine(config: Path | None):  # type: ignore[no-untyped-def]
    from collectors.quarantine import Quarantine

    settings = _settings(config)
    return settings, Quarantine(settings.data_path / "ingest-quarantine", max(settings.ingest.quarantine_max_events, 1))


@quarantine_app.command("list")
def quarantine_list(
    limit: Annotated[int, typer.Option(min=1, help="Entries to show, oldest first.")] = 50,
    config: ConfigOption = None,
) -> None:
    """List quarantined events: id, when, unit, where from, why."""
    _, quarantine = _quarantine(config)
    total, entries = quarantine.entries(0, limit)
    typer.echo(f"{total} event(s) in quarantine ({quarantine.path})")
    for e in entries:
        event_id = e.event.get("event.id") if e.event else "-"
        typer.echo(f"{e.id}  {e.quarantined_at}  unit {e.unit_id or '-'}  {e.origin}  {event_id}  "
                   f"(tries {e.attempts}): {e.reason[:200]}")


@quarantine_app.command("retry")
def quarantine_retry(
    entry_ids: Annotated[list[str], typer.Argument(help="Quarantine ids (see list), or 'all'.")],
    config: ConfigOption = None,
) -> None:
    """Validate and write quarantined events to the event store again; audited. Exit 1 if any is refused again."""
    from collectors.quarantine_actions import retry_quarantined
    from edusoc.runtime import open_event_store
    from soc_core.event_store import EventStoreError

    settings, quarantine = _quarantine(config)
    ids = [e.id for e in quarantine.entries(0, 10**9)[1]] if entry_ids == ["all"] else entry_ids
    store = open_event_store(settings)
    refused = 0
    try:
        with _case_store(config) as session:
            for entry_id in ids:
                try:
                    again = retry_quarantined(session, SystemClock(), "cli", quarantine, store, entry_id)
                except KeyError:
                    err.print(f"[red]{entry_id}: no such entry[/red]")
                    refused += 1
                    continue
                except EventStoreError as exc:
                    err.print(f"[red]the event store is down: {exc}[/red]")
                    raise typer.Exit(1) from exc
                if again is None:
                    typer.echo(f"{entry_id}: stored")
                else:
                    refused += 1
                    typer.echo(f"{entry_id}: refused again (tries {again.attempts}): {again.reason[:200]}")
    finally:
        store.close()
    if refused:
        raise typer.Exit(1)


@quarantine_app.command("drop")
def quarantine_drop(
    entry_ids: Annotated[list[str], typer.Argument(help="Quarantine ids (see list).")],
    config: ConfigOption = None,
) -> None:
    """Delete quarantined events for good; audited."""
    from collectors.quarantine_actions import drop_quarantined

    _, quarantine = _quarantine(config)
    missing = 0
    with _case_store(config) as session:
        for entry_id in entry_ids:
            if drop_quarantined(session, SystemClock(), "cli", quarantine, entry_id):
                typer.echo(f"{entry_id}: dropped")
            else:
                missing += 1
                err.print(f"[red]{entry_id}: no such entry[/red]")
    if missing:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
