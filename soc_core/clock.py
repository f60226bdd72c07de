"""The injected clock: every time-dependent rule asks a Clock, never datetime.now()."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Protocol
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware in UTC."""
        ...


class SystemClock:
    """Wall-clock time in UTC."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class ManualClock:
    """A clock that only moves when a test (or a replay) moves it."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._now = start.astimezone(timezone.utc)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now

    def set(self, instant: datetime) -> None:
        self._now = instant.astimezone(timezone.utc)


def as_utc(instant: datetime) -> datetime:
    """Treat naive datetimes (as SQLite returns them) as UTC; convert aware ones to UTC."""
    if instant.tzinfo is None:
        return instant.replace(tzinfo=timezone.utc)
    return instant.astimezone(timezone.utc)


def as_utc_or_none(instant: datetime | None) -> datetime | None:
    """``as_utc`` for a column that may be empty."""
    return as_utc(instant) if instant is not None else None


def to_shanghai(instant: datetime) -> datetime:
    """Display time: stored UTC shown in Asia/Shanghai."""
    return as_utc(instant).astimezone(SHANGHAI)


def to_db(instant: datetime) -> datetime:
    """The naive-UTC form the case store keeps (SQLite has no time zones)."""
    return as_utc(instant).replace(tzinfo=None)
