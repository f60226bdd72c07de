#!/usr/bin/env bash
# Regenerate the console's TypeScript API types from the app's OpenAPI schema (no server needed).
# Run after changing a route or a schema; tests/test_console_build.py fails until the two agree.
set -euo pipefail
cd "$(dirname "$0")/.."
schema="$(mktemp --suffix=.json)"
trap 'rm -f "$schema"' EXIT
.venv/bin/python -m edusoc.openapi_schema "$schema"
cd soc_api/console
node_modules/.bin/openapi-typescript "$schema" -o src/api/schema.d.ts
