"""The edusoc command line: accounts and sensors created from the shell work in the running system."""
from __future__ import annotations

from datetime import datetime, timezone

from typer.testing import CliRunner

from edusoc.cli import app
from edusoc.demo import seed_demo_region
from soc_core.clock import ManualClock
from soc_core.config import Settings
from soc_core.db import make_engine, migrate, session_factory
from soc_core.models import AuditEntry, User
from soc_core.repositories import sensor_for_token
from soc_core.security import verify_password

runner = CliRunner()


def _seeded(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("EDUSOC_DATA_DIR", str(tmp_path))
    engine = make_engine(Settings().case_store_url)
    migrate(engine)
    sessions = session_factory(engine)
    with sessions() as session:
        seed_demo_region(session, ManualClock(datetime(2026, 11, 2, tzinfo=timezone.utc)))
    return engine, sessions


def test_user_add_creates_a_login(tmp_path, monkeypatch):
    engine, sessions = _seeded(tmp_path, monkeypatch)
    result = runner.invoke(app, ["user", "add", "alice", "--role", "duty_officer", "--unit", "DEMO-COUNTY",
                                 "--password", "s3cret-pass-1", "--display-name", "张值班"])
    assert result.exit_code == 0, result.output
    assert "示范区教育局" in result.output
    with sessions() as session:
        alice = session.query(User).filter_by(username="alice").one()
        assert verify_password(alice.password_hash, "s3cret-pass-1")
        assert session.query(AuditEntry).filter_by(action="user.create", actor="cli").count() == 1
    engine.dispose()


def test_user_add_refuses_a_school_admin_outside_a_school(tmp_path, monkeypatch):
    engine, _ = _seeded(tmp_path, monkeypatch)
    result = runner.invoke(app, ["user", "add", "bob", "--role", "school_admin", "--unit", "DEMO-CITY", "--password", "s3cret-pass-1"])
    assert result.exit_code == 1 and "must belong to a school" in result.output
    engine.dispose()


def test_unknown_unit_is_a_clear_error(tmp_path, monkeypatch):
    engine, _ = _seeded(tmp_path, monkeypatch)
    result = runner.invoke(app, ["register-sensor", "gate-9", "--unit", "NO-SUCH-UNIT"])
    assert result.exit_code == 2 and "NO-SUCH-UNIT" in result.output
    engine.dispose()


def test_register_sensor_prints_a_token_that_authenticates(tmp_path, monkeypatch):
    engine, sessions = _seeded(tmp_path, monkeypatch)
    result = runner.invoke(app, ["register-sensor", "gate-1", "--unit", "DEMO-SCHOOL-3"])
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    with sessions() as session:
        sensor = sensor_for_token(session, token)
        assert sensor is not None and sensor.unit.code == "DEMO-SCHOOL-3"
        assert token not in sensor.token_hash
    engine.dispose()


def test_help_works_everywhere():
    for args in (["--help"], ["run", "--help"], ["user", "add", "--help"], ["sensor", "--help"],
                 ["sensor", "pcap", "--help"], ["detect", "--help"], ["rules", "check", "--help"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args, result.output)


def test_events_retention_deletes_days_older_than_the_period(tmp_path, monkeypatch):
    from collectors.sqlite_store import SqliteEventStore
    from soc_core.events import format_timestamp

    engine, sessions = _seeded(tmp_path, monkeypatch)
    store = SqliteEventStore(Settings().sqlite_events_path)
    old = datetime(2020, 1, 1, tzinfo=timezone.utc)
    store.write([{"@timestamp": format_timestamp(old), "event.id": "old-1", "event.kind": "event",
                  "event.dataset": "edusoc.flow"},
                 {"@timestamp": format_timestamp(datetime.now(timezone.utc)), "event.id": "new-1",
                  "event.kind": "event", "event.dataset": "edusoc.flow"}])
    store.close()
    dry = runner.invoke(app, ["events", "retention", "--dry-run"])
    assert dry.exit_code == 0 and "would delete 1 day(s)" in dry.output and "2020-01-01" in dry.output, dry.output
    result = runner.invoke(app, ["events", "retention", "--days", "184"])
    assert result.exit_code == 0 and "deleted 1 day(s)" in result.output, result.output
    store = SqliteEventStore(Settings().sqlite_events_path)
    assert store.get("old-1") is None and store.get("new-1") is not None
    store.close()
    with sessions() as session:
        entry = session.query(AuditEntry).filter_by(action="events.retention").one()
        assert entry.detail["days_deleted"] == ["2020-01-01"]
    engine.dispose()
