"""A restart's catch-up work runs after the server listens (issue 14)."""
from __future__ import annotations

import socket
import threading
from datetime import timedelta

import httpx

from edusoc.runtime import build_runtime
from edusoc.serve import serve_runtime
from soc_core.config import Settings


def test_the_api_answers_while_the_catch_up_pass_is_still_running(tmp_path, clock):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings(data_dir=str(tmp_path), compliance={"check_interval_minutes": 0},
                        event_store={"retention_check_hours": 0})
    settings.api.host, settings.api.port = "127.0.0.1", port  # as `edusoc run --port` does (EDUSOC_API__PORT may be set)
    runtime = build_runtime(settings, clock)
    release, started = threading.Event(), threading.Event()

    def slow_catch_up(now, params) -> None:  # type: ignore[no-untyped-def]
        started.set()
        release.wait(60)

    runtime.scheduler.register("test.slow", slow_catch_up)
    runtime.scheduler.at("test.slow", "1", clock.now() - timedelta(hours=1))  # fell due while "down"
    server = threading.Thread(target=serve_runtime, args=(runtime, settings), daemon=True)
    server.start()
    try:
        assert started.wait(120), "the catch-up pass never ran"
        answer = httpx.get(f"http://127.0.0.1:{port}/login", timeout=10)  # while the catch-up still holds its job
        assert answer.status_code == 200
    finally:
        release.set()
        runtime.close()
