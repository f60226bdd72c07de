"""The one place refusals become HTTP answers: ``Refusal`` → 422 and ``PermissionDenied`` → 403, both
``{"detail": {"message_zh", "message_en", "location"?}}`` (Chinese first)."""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from soc_core.errors import Refusal


def refusal_response(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Refusal)
    return JSONResponse({"detail": exc.body()}, status_code=exc.status_code)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Refusal, refusal_response)
