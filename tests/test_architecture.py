"""The package arrows and the case store's schema: import-linter keeps the map in pyproject.toml, and Alembic's
environment (which loads every package's models) finds nothing to migrate after ``upgrade heads`` on a fresh file."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine

from soc_core.db import MIGRATIONS, migrate
from soc_core.models import Base

ROOT = Path(__file__).resolve().parent.parent


def test_imports_follow_the_package_map() -> None:
    run = subprocess.run([str(Path(sys.executable).with_name("lint-imports")), "--config", "pyproject.toml", "--no-cache"],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


def test_fresh_upgrade_matches_every_packages_models(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    migrate(engine)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.check(config)  # autogenerate through migrations/env.py: raises when a model and the migrations differ
    tables = set(Base.metadata.tables)  # env.py loaded every package's models
    assert {"hosts", "findings", "incident_timeline", "incident_tasks",
            "incident_reports", "duty_shifts", "notices", "key_periods", "zero_reports", "compliance_snapshots"} <= tables
