"""Building a real edusoc process for API tests: runtime, demo region, logins."""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from fastapi.testclient import TestClient
from sqlalchemy import select

from edusoc.demo import DEMO_PASSWORD, DemoSensor, seed_demo_region
from edusoc.runtime import Runtime, build_runtime
from soc_core.clock import Clock
from soc_core.config import Settings
from soc_core.events import owned_event_id
from soc_core.models import Sensor, Unit


@dataclass
class DemoProcess:
    runtime: Runtime
    client: TestClient
    sensors: dict[str, DemoSensor]

    def unit(self, code: str) -> Unit:
        with self.runtime.sessions() as session:
            return session.scalars(select(Unit).where(Unit.code == code)).one()

    def stored_id(self, sensor_event_id: str, sensor: str = "sensor-school2-web") -> str:
        """The id the collector stores an event under that ``sensor`` sent with ``sensor_event_id``."""
        with self.runtime.sessions() as session:
            unit_id = session.scalars(select(Sensor.unit_id).where(Sensor.name == sensor)).one()
        return owned_event_id(str(unit_id), sensor_event_id)

    def login(self, username: str, password: str = DEMO_PASSWORD) -> dict[str, str]:
        response = self.client.post("/api/v1/auth/token", data={"username": username, "password": password})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}


def start_demo_process(data_dir: Path, clock: Clock, **settings: object) -> DemoProcess:
    """A runtime with the demo region. Tests move the clock by hours while holding a login, so sessions do not end
    when idle here unless a test sets ``auth={"session_idle_minutes": …}`` itself (tests/test_auth_login.py does)."""
    auth = {"session_idle_minutes": 0, **dict(settings.pop("auth", {}))}  # type: ignore[call-overload]
    runtime = build_runtime(Settings(data_dir=str(data_dir), auth=auth, **settings), clock)
    with runtime.sessions() as session:
        sensors = {s.name: s for s in seed_demo_region(session, clock)}
    return DemoProcess(runtime, TestClient(runtime.app), sensors)


@dataclass
class LiveServer:
    """A real uvicorn server on loopback, in a thread, serving a runtime's app."""

    base_url: str
    server: "uvicorn.Server"
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start_live_server(runtime: Runtime) -> LiveServer:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(runtime.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    return LiveServer(f"http://127.0.0.1:{port}", server, thread)


@contextmanager
def serving(demo: DemoProcess) -> Iterator[LiveServer]:
    """Serve a demo process on loopback; on exit stop the server and close the runtime."""
    live = start_live_server(demo.runtime)
    try:
        yield live
    finally:
        live.stop()
        demo.runtime.close()
