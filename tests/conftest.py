"""Shared fixtures: a manual clock and a migrated case store per test."""
from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from soc_core.clock import ManualClock
from tests.browser_session import CHROMIUM, CHROMIUM_FLAGS
from soc_core.db import make_engine, migrate, session_factory

REPO = Path(__file__).resolve().parent.parent
# ../shared/corpora beside the checkout; EDUSOC_CORPORA points elsewhere (a git worktree one level deeper)
CORPORA = Path(os.environ.get("EDUSOC_CORPORA") or REPO.parent / "shared" / "corpora")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc))  # 09:00 Beijing


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'case.db'}")
    migrate(engine)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    with sessions() as session:
        yield session


def corpus(*parts: str) -> Path:
    """A path inside ../shared/corpora, skipping the test when the corpora are absent."""
    path = CORPORA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"external corpus not found at {path} (../shared/corpora is absent)")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's), one per test module."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed: run `make test`, which installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()
