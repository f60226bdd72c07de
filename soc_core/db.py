"""Case-store engine, sessions and migrations (Alembic, run from code)."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def make_engine(url: str) -> Engine:
    """An engine for the case store; SQLite gets WAL and foreign keys."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")  # writers wait for each other up to 30 s, never fail at once
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def begin_writing(session: Session) -> None:
    """Start the session's transaction holding the write lock (SQLite ``BEGIN IMMEDIATE``), for a
    read-then-write that races others (counters, first-time inserts): the reads see the latest
    committed rows and no concurrent writer slips in between, so no update is lost and no
    "database is locked" comes from upgrading a read snapshot. Waits up to the busy timeout for the
    lock. Call it first in a fresh session; other databases keep their default begin."""
    if session.get_bind().dialect.name == "sqlite" and not session.in_transaction():
        session.execute(text("BEGIN IMMEDIATE"))


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def migrate(engine: Engine) -> None:
    """Bring the case store's schema to the newest migration."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        # "heads": packages add their tables in migrations of their own; each branch applies.
        command.upgrade(config, "heads")
