"""The API's OpenAPI schema as the running process serves it, without a server: the console's TypeScript
client is generated from it (``scripts/console-api.sh``), and a test checks the committed client still matches."""
from __future__ import annotations

import json
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edusoc.runtime import build_runtime
from soc_core.clock import ManualClock
from soc_core.config import Settings


def api_schema() -> dict[str, Any]:
    """The whole app's schema (ingest route included), built in a throwaway data directory."""
    with tempfile.TemporaryDirectory(prefix="edusoc-openapi-") as data_dir:
        runtime = build_runtime(Settings(data_dir=data_dir), ManualClock(datetime(2026, 1, 1, tzinfo=timezone.utc)))
        try:
            return runtime.app.openapi()
        finally:
            runtime.close()


def schema_text() -> str:
    """The schema as the JSON text the console's types are generated from (keys sorted: a stable order)."""
    return json.dumps(api_schema(), ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def main() -> None:
    """Write the schema as JSON to the path given, or to standard output."""
    text = schema_text()
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
