"""The built console as the API serves it: history fallback, cached assets, the generated API types, offline /docs."""
from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from edusoc.openapi_schema import schema_text
from soc_api.routers.console import CONSOLE_DIST
from soc_core.clock import ManualClock
from tests.api_helpers import start_demo_process

CONSOLE = Path(__file__).resolve().parent.parent / "soc_api" / "console"
GENERATOR = CONSOLE / "node_modules" / ".bin" / "openapi-typescript"


@pytest.fixture(scope="module")
def built() -> Path:
    if not (CONSOLE_DIST / "index.html").is_file():
        pytest.fail("the console is not built: run `make console` (make test does)")
    return CONSOLE_DIST


@pytest.fixture(scope="module")
def api_client(tmp_path_factory) -> Iterator[TestClient]:
    demo = start_demo_process(tmp_path_factory.mktemp("console"), ManualClock(datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)))
    yield demo.client
    demo.runtime.close()


def test_committed_api_types_match_the_current_schema(tmp_path):
    """Console and API cannot drift: regenerate with `make console-api` when this fails."""
    if not GENERATOR.exists():
        pytest.fail("the console's npm packages are missing: run `make console` (make test does)")
    schema = tmp_path / "openapi.json"
    schema.write_text(schema_text(), encoding="utf-8")
    generated = tmp_path / "schema.d.ts"
    subprocess.run([str(GENERATOR), str(schema), "-o", str(generated)], cwd=CONSOLE, check=True, capture_output=True)
    committed = (CONSOLE / "src" / "api" / "schema.d.ts").read_text(encoding="utf-8")
    assert generated.read_text(encoding="utf-8") == committed, "src/api/schema.d.ts is stale: run `make console-api`"


def test_every_console_route_gets_the_app_and_assets_are_cached_for_good(built, api_client):
    index = api_client.get("/console/")
    assert index.status_code == 200 and '<div id="app">' in index.text
    assert index.headers["cache-control"] == "no-cache"
    for route in ("/console/login", "/console/incidents/17"):  # a reload or bookmark of a page inside the app
        assert api_client.get(route).text == index.text
    asset = next((built / "assets").glob("*.js")).name
    served = api_client.get(f"/console/assets/{asset}")
    assert served.status_code == 200 and "immutable" in served.headers["cache-control"]
    assert api_client.get("/console/assets/missing-0000.js").status_code == 404
    assert api_client.get("/console/favicon.ico").status_code == 404
    assert api_client.get("/console/..%2f..%2fapp.py").status_code == 404
    assert api_client.get("/console", follow_redirects=False).headers["location"] == "/console/"


def test_docs_page_uses_local_swagger_assets_and_no_inline_script(built, api_client):
    page = api_client.get("/docs").text
    assert "/console/swagger/swagger-ui-bundle.js" in page and "cdn" not in page.lower()
    assert "<script>" not in page  # every script is a file: a CSP without 'unsafe-inline' allows the page
    assert api_client.get("/console/swagger/swagger-ui-bundle.js").status_code == 200
    assert api_client.get("/console/swagger/docs-init.js").status_code == 200
