"""HTTP face of the collector: POST /api/v1/ingest/events, authenticated by sensor token."""
from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session, sessionmaker

from collectors.ingest import BatchError, BatchResult, EventOrigin, IngestService
from soc_core.clock import to_db
from soc_core.models import Sensor
from soc_core.repositories import sensor_for_token


def build_ingest_router(service: IngestService, sessions: sessionmaker[Session]) -> APIRouter:
    router = APIRouter(prefix="/api/v1/ingest", tags=["ingest"])

    @router.post("/events", summary="Accept a gzip NDJSON batch of events from a sensor")
    async def ingest_events(request: Request) -> dict[str, object]:
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        origin = await run_in_threadpool(_origin_for, sessions, token)
        if origin is None:
            raise HTTPException(401, "unknown or revoked sensor token", headers={"WWW-Authenticate": "Bearer"})
        body = await _read_bounded(request, service.limits.max_batch_bytes)
        gzipped = request.headers.get("content-encoding", "").lower() == "gzip"
        try:
            result = await run_in_threadpool(service.ingest, origin, body, gzipped)
        except BatchError as exc:
            raise HTTPException(exc.status_code, exc.reason) from exc
        await run_in_threadpool(_record_counts, sessions, service, int(origin.sensor_id), result)
        return {
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "alerts": result.alerts,
            "rejected": [asdict(r) for r in result.rejected],
        }

    return router


async def _read_bounded(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"batch exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _origin_for(sessions: sessionmaker[Session], token: str) -> EventOrigin | None:
    if not token:
        return None
    with sessions() as session:
        sensor = sensor_for_token(session, token)
        if sensor is None:
            return None
        return EventOrigin(str(sensor.id), sensor.name, str(sensor.unit_id), sensor.unit.name)


def _record_counts(sessions: sessionmaker[Session], service: IngestService, sensor_id: int, result: BatchResult) -> None:
    with sessions() as session:
        sensor = session.get(Sensor, sensor_id)
        if sensor is None:
            return
        sensor.last_seen_at = to_db(service.clock.now())
        sensor.events_accepted += result.accepted
        sensor.events_rejected += len(result.rejected)
        session.commit()
