"""`edusoc compliance import-apps` and `edusoc compliance check` against a real case store."""
from __future__ import annotations

from datetime import datetime, timezone

from typer.testing import CliRunner

from compliance.models import ComplianceSnapshot
from edusoc.cli import app
from edusoc.demo import seed_demo_region
from inventory.models import FiledApp, Finding
from soc_core.clock import ManualClock
from soc_core.config import Settings
from soc_core.db import make_engine, migrate, session_factory

runner = CliRunner()


def test_import_apps_then_check_writes_findings_and_snapshots(tmp_path, monkeypatch):
    monkeypatch.setenv("EDUSOC_DATA_DIR", str(tmp_path))
    engine = make_engine(Settings().case_store_url)
    migrate(engine)
    sessions = session_factory(engine)
    with sessions() as session:
        seed_demo_region(session, ManualClock(datetime.now(timezone.utc)))
    listing = tmp_path / "apps.csv"
    listing.write_bytes("备案编号,应用名称,主办单位,备案状态,域名\n示教APP备2026002号,快乐口算,口算公司,已撤销,kousuan.example.net\n"
                        "示教APP备2026009号,新应用,某公司,待定,\n".encode("gb18030"))
    result = runner.invoke(app, ["compliance", "import-apps", str(listing)])
    assert result.exit_code == 0, result.output
    assert "0 created, 1 updated, 1 rejected" in result.output  # the provider's name changed
    assert "apps.csv:3:" in result.output and "而不是“待定”" in result.output
    result = runner.invoke(app, ["compliance", "check"])
    assert result.exit_code == 0, result.output
    assert "2 compliance snapshot(s)" in result.output  # the city and the county
    with sessions() as session:
        assert session.query(FiledApp).filter_by(status="revoked").count() == 1
        assert session.query(Finding).filter_by(check_id="app.revoked_in_use").count() == 1
        assert session.query(ComplianceSnapshot).count() == 2
    engine.dispose()
