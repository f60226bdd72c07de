"""docker-compose.yml describes the production layout and is valid Compose (no engine runs here)."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from tests.conftest import REPO


def test_the_layout_has_three_es_nodes_postgres_api_collector_and_scheduler():
    spec = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    services = spec["services"]
    assert {"es01", "es02", "es03", "postgres", "api", "collector", "scheduler"} <= set(services)
    for node in ("es01", "es02", "es03"):
        assert services[node]["environment"]["discovery.seed_hosts"] == "es01,es02,es03"
    assert services["collector"]["environment"]["EDUSOC_EVENT_STORE__BACKEND"] == "elasticsearch"
    # scheduled jobs run once, in the scheduler
    assert services["api"]["environment"]["EDUSOC_EVENT_STORE__RETENTION_CHECK_HOURS"] == "0"
    assert services["scheduler"]["environment"]["EDUSOC_EVENT_STORE__RETENTION_CHECK_HOURS"] != "0"


def test_compose_config_validates():
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        command = ["docker", "compose", "config", "--quiet"]
    elif shutil.which("docker-compose"):
        command = ["docker-compose", "config", "--quiet"]
    else:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed (apt-get install docker-compose)")
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, "POSTGRES_PASSWORD": "validate-only"})
    assert result.returncode == 0, result.stderr
