"""The built console (a Vue single-page app) at /console/, and the API's own docs page served offline.

Vite writes the build to ``soc_api/console/dist`` (``make console``). Hashed files under ``assets/`` are
cached for good; every other path that is not a file is one of the app's routes and gets ``index.html``
(the history fallback), so a reload or a bookmark of /console/incidents/7 works.
"""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from soc_api.auth import require
from soc_core.permissions import Action

CONSOLE_DIST = Path(__file__).resolve().parent.parent / "console" / "dist"
router = APIRouter(include_in_schema=False)
# The app's files and the docs page are public like the login page: the data behind them needs a login.
PUBLIC = require(Action.SIGN_IN)

NOT_BUILT = "控制台尚未构建：请运行 make console / The console is not built: run `make console`."


def _built_file(relative: str) -> Path | None:
    """The file under the build for ``relative``, or None; never a path outside the build."""
    root = CONSOLE_DIST.resolve()
    candidate = (root / relative).resolve()
    if candidate.is_file() and candidate.is_relative_to(root):
        return candidate
    return None


def _index() -> Response:
    index = _built_file("index.html")
    if index is None:
        return HTMLResponse(NOT_BUILT, status_code=503)
    return FileResponse(index, headers={"Cache-Control": "no-cache"})


@router.get("/console", **PUBLIC)
def console_root() -> Response:
    return RedirectResponse("/console/", status_code=308)


@router.get("/console/{path:path}", **PUBLIC)
def console_page(path: str) -> Response:
    found = _built_file(path) if path else None
    if found is not None:
        immutable = path.startswith("assets/")
        return FileResponse(found, headers={"Cache-Control": "public, max-age=31536000, immutable" if immutable else "no-cache"})
    if path.startswith(("assets/", "swagger/")) or "." in path.rsplit("/", 1)[-1]:
        raise HTTPException(404, "no such file in the console build")
    return _index()


# Swagger UI from the build (copied from the npm package swagger-ui-dist), started by a script file, not
# an inline one, so the page works without internet and under a CSP that forbids inline scripts.
DOCS_PAGE = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>edusoc API 文档 / API docs</title>
<link rel="stylesheet" href="/console/swagger/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/console/swagger/swagger-ui-bundle.js"></script>
<script src="/console/swagger/docs-init.js"></script>
</body>
</html>
"""


@router.get("/docs", **PUBLIC)
def api_docs() -> Response:
    if _built_file("swagger/swagger-ui-bundle.js") is None:
        return HTMLResponse(NOT_BUILT, status_code=503)
    return HTMLResponse(DOCS_PAGE)
