"""Alembic environment: runs on the connection handed over by soc_core.db.migrate,
or on ``sqlalchemy.url`` when invoked from the alembic command line."""
from alembic import context
from sqlalchemy import engine_from_config, pool

import importlib
import pkgutil

import soc_core
from soc_core.models import Base

# Tables live in soc_core/models.py and in soc_core/models_<area>.py modules; load them all
# so autogenerate sees every table.
for module in pkgutil.iter_modules(soc_core.__path__):
    if module.name.startswith("models_"):
        importlib.import_module(f"soc_core.{module.name}")

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
