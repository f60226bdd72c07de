"""HTTP face of the collector, authenticated by sensor token: POST /api/v1/ingest/events (batches)
and POST /api/v1/ingest/heartbeat (the sensor's version and counters, its sign of life)."""
from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timezone
from typing import NoReturn

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field, ValidationError
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from collectors.ingest import BatchError, BatchResult, EventOrigin, IngestService, StoreUnavailable
from soc_core.clock import as_utc, to_db
from soc_core.db import begin_writing
from soc_core.models import LoginToken, Sensor
from soc_core.permissions import ACTION_KEY, Action
from soc_core.repositories import sensor_for_token
from soc_core.security import hash_token
from soc_core.sensor_registry import record_heartbeat

INGEST = {ACTION_KEY: Action.INGEST.value}  # the one action a sensor token holds (soc_core.permissions)


class Heartbeat(BaseModel):
    """What a sensor reports about itself every minute or so."""

    sensor_time: datetime = Field(description="the sensor's clock, ISO 8601")
    version: str = Field(max_length=64)
    # packets, drops, events, spool_bytes, spool_batches, errors, ...: non-negative integers
    counters: dict[str, int] = Field(default_factory=dict, max_length=64)


def build_ingest_router(service: IngestService, sessions: sessionmaker[Session]) -> APIRouter:
    router = APIRouter(prefix="/api/v1/ingest", tags=["ingest"])

    @router.post("/events", summary="Accept a gzip NDJSON batch of events from a sensor", openapi_extra=INGEST)
    async def ingest_events(request: Request) -> dict[str, object]:
        token = _bearer(request)
        origin = await run_in_threadpool(_origin_for, sessions, token)
        if origin is None:
            await run_in_threadpool(_refuse_token, sessions, service, token)
        body = await _read_bounded(request, service.limits.max_batch_bytes)
        gzipped = request.headers.get("content-encoding", "").lower() == "gzip"
        try:
            result = await run_in_threadpool(service.ingest, origin, body, gzipped)
        except BatchError as exc:
            raise HTTPException(exc.status_code, exc.reason) from exc
        except StoreUnavailable as exc:
            # Not acknowledged: the sensor keeps the batch in its spool and resends it.
            raise HTTPException(503, exc.reason, headers={"Retry-After": str(exc.retry_after)}) from exc
        await run_in_threadpool(_record_counts, sessions, service, int(origin.sensor_id), result)
        return {
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "alerts": result.alerts,
            "queued": result.queued,
            "rejected": [asdict(r) for r in result.rejected],
        }

    @router.post("/heartbeat", summary="A sensor's heartbeat: its clock, version and counters",
                 responses={401: {"description": "unknown or revoked sensor token"}, 422: {"description": "bad body"}},
                 openapi_extra=INGEST)
    async def heartbeat(request: Request) -> dict[str, bool]:
        # The token is checked before the body is read: a stranger learns nothing about the format.
        raw = await _read_bounded(request, 64 * 1024)
        await run_in_threadpool(_record_heartbeat, sessions, service, _bearer(request), raw)
        return {"ok": True}

    return router


def _refuse_token(sessions: sessionmaker[Session], service: IngestService, token: str) -> NoReturn:
    with sessions() as session:
        _refuse_in(session, service, token)


def _refuse_in(session: Session, service: IngestService, token: str) -> NoReturn:
    """No sensor holds ``token``: 403 when it is a person's login token (the permission table gives people no
    INGEST), else 401."""
    login = session.scalar(select(LoginToken).where(LoginToken.token_hash == hash_token(token))) if token else None
    if login is not None and login.revoked_at is None and as_utc(login.expires_at) > service.clock.now():
        raise HTTPException(403, "只有探针令牌可以上送事件 / only a sensor token may send events")
    raise HTTPException(401, "unknown or revoked sensor token", headers={"WWW-Authenticate": "Bearer"})


def _bearer(request: Request) -> str:
    return request.headers.get("authorization", "").removeprefix("Bearer ").strip()


def _record_heartbeat(sessions: sessionmaker[Session], service: IngestService, token: str, raw: bytes) -> None:
    with sessions() as session:
        begin_writing(session)  # concurrent heartbeats: no lost count, no duplicate first status row
        sensor = sensor_for_token(session, token) if token else None
        if sensor is None:
            _refuse_in(session, service, token)
        try:
            body = Heartbeat.model_validate_json(raw)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:5])
            raise HTTPException(422, f"heartbeat not understood: {problems}") from None
        bad = [name for name, value in body.counters.items() if value < 0 or len(name) > 64]
        if bad:
            raise HTTPException(422, f"counters must be non-negative integers with short names: {', '.join(bad[:5])}")
        sensor_time = body.sensor_time if body.sensor_time.tzinfo else body.sensor_time.replace(tzinfo=timezone.utc)
        record_heartbeat(session, service.clock, sensor, sensor_time, body.version, body.counters)
        session.commit()


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
        return EventOrigin(str(sensor.id), sensor.name, str(sensor.unit_id), sensor.unit.name, sensor.unit.path)


def _record_counts(sessions: sessionmaker[Session], service: IngestService, sensor_id: int, result: BatchResult) -> None:
    with sessions() as session:
        # One UPDATE adding to the counters: batches of one sensor finish concurrently (a read-modify-write lost counts).
        session.execute(update(Sensor).where(Sensor.id == sensor_id).values(
            last_seen_at=to_db(service.clock.now()), events_accepted=Sensor.events_accepted + result.accepted,
            events_rejected=Sensor.events_rejected + len(result.rejected)))
        session.commit()
