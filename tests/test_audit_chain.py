"""The tamper-evident audit log: a hash chain that names the entry edited or removed, kept at least 184 days."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from edusoc.cli import app
from soc_core.audit import prune_audit, record_audit, verify_chain
from soc_core.config import AuditSettings, ConfigError, load_settings
from soc_core.models import AuditEntry
from tests.api_helpers import DemoProcess, start_demo_process


@pytest.fixture
def demo(tmp_path, clock) -> Iterator[DemoProcess]:
    process = start_demo_process(tmp_path, clock)
    yield process
    process.runtime.close()


def test_every_entry_is_chained_to_the_one_before(session, clock):
    first = record_audit(session, clock, "duty", "incident.ack", "incident", 1)
    second = record_audit(session, clock, "duty", "incident.close", "incident", 1, note="已处置")
    session.commit()
    assert second.prev_hash == first.hash and first.hash != second.hash
    assert verify_chain(session).ok and verify_chain(session).checked == 2


def test_an_edited_row_is_named_by_verify_through_the_api(demo):
    admin = demo.login("admin")
    assert demo.client.get("/api/v1/audit/verify", headers=admin).json()["ok"] is True
    with demo.runtime.sessions() as session:
        victim = session.query(AuditEntry).filter_by(action="user.create").order_by(AuditEntry.id).offset(2).first()
        session.execute(text("UPDATE audit_log SET actor = 'nobody' WHERE id = :id"), {"id": victim.id})
        session.commit()
    report = demo.client.get("/api/v1/audit/verify", headers=admin).json()
    assert report["ok"] is False
    assert [b["entry_id"] for b in report["breaks"]] == [victim.id]
    assert demo.client.get("/api/v1/audit/verify", headers=demo.login("duty")).status_code == 403


def test_a_deleted_row_breaks_the_link_of_the_next_one(session, clock):
    entries = [record_audit(session, clock, "duty", "incident.comment", "incident", n) for n in range(4)]
    session.commit()
    session.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": entries[1].id})
    session.commit()
    assert [b.entry_id for b in verify_chain(session).breaks] == [entries[2].id]


def test_verify_on_the_command_line_exits_1_naming_the_entry(tmp_path, monkeypatch, clock):
    monkeypatch.setenv("EDUSOC_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 0
    from soc_core.config import Settings
    from soc_core.db import make_engine, session_factory

    engine = make_engine(Settings().case_store_url)
    with session_factory(engine)() as session:
        entry = record_audit(session, clock, "admin", "user.disable", "user", 7)
        record_audit(session, clock, "admin", "user.enable", "user", 7)
        session.commit()
        session.execute(text("UPDATE audit_log SET detail = '{\"forged\": true}' WHERE id = :id"), {"id": entry.id})
        session.commit()
    engine.dispose()
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 1 and f"entry {entry.id}" in result.output


def test_pruning_keeps_every_entry_younger_than_184_days(session, clock):
    old = record_audit(session, clock, "duty", "incident.ack", "incident", 1)
    clock.advance(timedelta(days=100))
    kept = record_audit(session, clock, "duty", "incident.ack", "incident", 2)
    session.commit()
    clock.advance(timedelta(days=90))  # old is 190 days old, kept 90
    assert prune_audit(session, clock, retention_days=30) == 1  # 30 is raised to the 184-day minimum
    session.commit()
    ids = [e.id for e in session.query(AuditEntry).order_by(AuditEntry.id)]
    assert old.id not in ids and kept.id in ids
    assert verify_chain(session).ok  # what is kept still verifies, the pruning itself included


def test_retention_below_six_months_is_refused_in_the_settings(tmp_path):
    assert AuditSettings().retention_days == 184
    path = tmp_path / "edusoc.yaml"
    path.write_text("audit:\n  retention_days: 90\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="retention_days"):
        load_settings(path)


def test_the_audit_viewer_filters_by_who_what_and_when(demo, clock):
    demo.login("duty")
    admin = demo.login("admin")
    page = demo.client.get("/api/v1/audit", params={"action": "auth.", "actor": "duty"}, headers=admin).json()
    assert page["total"] == 1 and page["entries"][0]["action"] == "auth.login"
    later = (clock.now() + timedelta(seconds=1)).isoformat()
    assert demo.client.get("/api/v1/audit", params={"start": later}, headers=admin).json()["total"] == 0
    # a school admin sees only their own school's entries
    school = demo.client.get("/api/v1/audit", headers=demo.login("school1")).json()
    school1 = demo.unit("DEMO-SCHOOL-1").id
    assert school["total"] > 0 and {e["unit_id"] for e in school["entries"]} == {school1}
