"""Bounds on every date range a user gives: years 2000–2100 and, where a range makes work per day, a
longest span. A key period "from 0036 to 4338" made the next start write findings for 1.6 million
days before it listened (issue 14); a search bound before 1970 made Elasticsearch refuse the query."""
from __future__ import annotations

from datetime import date, datetime

EARLIEST_YEAR, LATEST_YEAR = 2000, 2100
KEY_PERIOD_MAX_DAYS = 366  # a key period (重要时段) is a holiday or an event: weeks, never more than a year


class DateRangeError(ValueError):
    """A date outside the years edusoc accepts, or a range too long; the message is Chinese first."""


def check_day(value: date | datetime, field: str) -> None:
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise DateRangeError(f"{field}：日期须在 {EARLIEST_YEAR} 年至 {LATEST_YEAR} 年之间，而不是 {value.isoformat()} "
                             f"({field} must lie in the years {EARLIEST_YEAR}-{LATEST_YEAR})")


def check_range(start: date | datetime | None, end: date | datetime | None, *, start_field: str = "start",
                end_field: str = "end", max_days: int | None = None) -> None:
    """Both ends within the years; ``end`` not before ``start``; at most ``max_days`` apart (when given)."""
    for value, field in ((start, start_field), (end, end_field)):
        if value is not None:
            check_day(value, field)
    if start is not None and end is not None and max_days is not None and (end - start).days + 1 > max_days:
        raise DateRangeError(f"{start_field} 至 {end_field} 最长 {max_days} 天 "
                             f"(the range may span at most {max_days} days)")
