"""Schemas of /api/v1/events: pages, terms and histograms."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class EventPageOut(BaseModel):
    total: int
    offset: int
    limit: int
    items: list[dict[str, Any]] = Field(description="events as flat ECS dicts, e.g. {'source.ip': ...}")


class TermBucketOut(BaseModel):
    value: str | int
    count: int


class TermsOut(BaseModel):
    field: str
    buckets: list[TermBucketOut]


class TimeBucketOut(BaseModel):
    start: datetime
    count: int


class HistogramOut(BaseModel):
    interval: int = Field(description="bucket width in seconds; buckets are aligned to the Unix epoch, UTC")
    buckets: list[TimeBucketOut]
