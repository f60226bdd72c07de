"""Alembic environment: runs on the connection handed over by soc_core.db.migrate,
or on ``sqlalchemy.url`` when invoked from the alembic command line."""
from alembic import context
from sqlalchemy import engine_from_config, pool

import importlib
import importlib.util
import pkgutil

import soc_core
from soc_core.models import Base

# Core tables live in soc_core/models.py and soc_core/models_<area>.py; every casework package keeps its own tables
# in <package>/models.py. Load them all so ``upgrade heads`` and autogenerate see every table.
CASEWORK = ("inventory", "incidents", "playbooks", "reports", "duty", "notices", "zero_reports", "compliance", "drills")
for module in pkgutil.iter_modules(soc_core.__path__):
    if module.name.startswith("models_"):
        importlib.import_module(f"soc_core.{module.name}")
for package in CASEWORK:
    if importlib.util.find_spec(f"{package}.models") is not None:
        importlib.import_module(f"{package}.models")

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = engine_from_config(config.get_section(config.config_ini_section) or {}, prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run()
