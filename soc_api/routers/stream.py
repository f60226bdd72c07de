"""GET /api/v1/stream: Server-Sent Events of what changes in the caller's subtree of the org tree."""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from soc_api.auth import current_principal
from soc_api.context import ApiContext
from soc_api.live_feed import LiveFeed, Subscriber
from soc_core.permissions import ACTION_KEY, Action, authorize

router = APIRouter(prefix="/api/v1", tags=["stream"])
HEARTBEAT_SECONDS = 15.0


def live_feed(request: Request) -> LiveFeed:
    """The app's one feed, made on first use."""
    state = request.app.state
    if getattr(state, "live_feed", None) is None:
        state.live_feed = LiveFeed(state.context.sessions)
    feed: LiveFeed = state.live_feed
    return feed


def _scope_of(request: Request) -> str | None:
    """Authenticate and authorize with a session of its own, closed at once: a stream must not hold a database
    connection (so the route declares its action rather than taking ``require``'s dependency)."""
    context: ApiContext = request.app.state.context
    with context.sessions() as session:
        principal = current_principal(request, context, session)
        authorize(principal, Action.VIEW)
        return None if principal.is_global else principal.scope_path


async def _messages(request: Request, subscriber: Subscriber) -> AsyncIterator[str]:
    yield "retry: 3000\n\n"
    while True:
        try:
            event = await asyncio.wait_for(subscriber.queue.get(), HEARTBEAT_SECONDS)
        except TimeoutError:
            if await request.is_disconnected():
                return
            yield ": heartbeat\n\n"
            continue
        if event is None:  # dropped for falling behind: end the stream; the client reconnects and reloads
            yield "event: dropped\ndata: {}\n\n"
            return
        yield f"id: {event.id}\nevent: {event.type}\ndata: {json.dumps(event.data, ensure_ascii=False)}\n\n"


@router.get(
    "/stream", summary="Live events of the caller's subtree (Server-Sent Events)",
    response_class=StreamingResponse, openapi_extra={ACTION_KEY: Action.VIEW.value},
    responses={200: {"content": {"text/event-stream": {}}, "description": (
        "incident.created, incident.updated, incident.escalated, deadline.warning (percent 50/80/100), notice, "
        "sensor.health; a comment line every 15 s keeps the connection open")}},
)
async def stream(request: Request) -> StreamingResponse:
    scope = await asyncio.to_thread(_scope_of, request)
    feed = live_feed(request)

    async def body() -> AsyncIterator[str]:
        async with feed.subscribe(scope) as subscriber:
            async for message in _messages(request, subscriber):
                yield message

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
