#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it: system packages the tests drive for real
# (Chromium for the UI, tshark for sensor comparisons), a real Elasticsearch node started for the
# run and stopped after it, then mypy and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v chromium >/dev/null || need+=(chromium)
command -v tshark >/dev/null || need+=(tshark)
dpkg -s fonts-noto-cjk >/dev/null 2>&1 || need+=(fonts-noto-cjk)
# PDF reports: a TrueType CJK font reportlab can embed, and poppler to check the rendered pages
dpkg -s fonts-wqy-microhei >/dev/null 2>&1 || need+=(fonts-wqy-microhei)
command -v pdftoppm >/dev/null || need+=(poppler-utils)
# OWASP CRS rules run through ModSecurity v3 (the Python wheel brings the engine itself)
[ -d /usr/share/modsecurity-crs/rules ] || need+=(modsecurity-crs)
# docker-compose.yml is validated with Compose (the client only: no engine runs here).
{ docker compose version || command -v docker-compose; } >/dev/null 2>&1 || need+=(docker-compose)
if ((${#need[@]})); then
  if [ "$(id -u)" = 0 ]; then
    echo "installing system packages: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "missing system packages (run as root or install them): ${need[*]}" >&2
    exit 1
  fi
fi

# Type check first ([tool.mypy] in pyproject.toml): any error fails the suite before the slower tests run.
.venv/bin/mypy

export EDUSOC_ES_PORT="${EDUSOC_ES_PORT:-9200}"
scripts/es.sh start
trap 'scripts/es.sh stop' EXIT
export EDUSOC_TEST_ES_URL="http://127.0.0.1:${EDUSOC_ES_PORT}"

.venv/bin/python -m pytest "$@"
