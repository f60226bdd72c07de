"""The FastAPI application: REST API under /api/v1, the web UI, OpenAPI at /docs."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from soc_api.context import ApiContext
from soc_api.errors import install_error_handlers
from soc_api.input_guard import InputGuard
from soc_api.routers import (
    asset_files, assets, audit, auth, auth_session, compliance, console, drills, duty, events, health, incidents, jobs,
    notices, rules, sensors, stream, users, zero_reports,
)
from soc_api.security_headers import SecurityHeaders
from soc_api.ui import pages, suppressions
from soc_api.ui import assets as ui_assets, duty as duty_ui, rules as rules_ui, sensors as sensors_ui


def create_app(context: ApiContext, extra_routers: Sequence[APIRouter] = ()) -> FastAPI:
    """Build the app; ``extra_routers`` lets the host mount e.g. the collector's ingest route."""
    app = FastAPI(
        title="edusoc — 教育专网安全运营平台",
        version="0.1.0",
        description="Security operations for a regional education private network. "
        "Every /api/v1 route needs a bearer token from POST /api/v1/auth/token (or the console's session cookie "
        "from POST /api/v1/auth/session) and is scoped by the org tree.",
        # /docs is served by the console router from local files (no CDN); ReDoc has no local copy.
        docs_url=None, redoc_url=None,
    )
    app.state.context = context
    install_error_handlers(app)
    for router in (auth.router, auth_session.router, users.router, audit.router, stream.router, incidents.router,
                   incidents.suppressions, events.router, sensors.router, asset_files.router, assets.router, compliance.router,
                   rules.router, health.router, jobs.router, duty.router, notices.router, zero_reports.router, drills.router,
                   *extra_routers, ui_assets.router, pages.router, duty_ui.router, rules_ui.router, sensors_ui.router,
                   suppressions.router, console.router):
        app.include_router(router)
    # The last added runs first: SecurityHeaders wraps InputGuard, so the guard's 422s carry the headers too.
    app.add_middleware(InputGuard)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=str(Path(__file__).resolve().parent / "static")), name="static")
    return app
